package org.offload4j.core.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The one JSON mapper of the io package: strict about duplicate keys and trailing content. */
final class Json {
    /**
     * Duplicate keys are rejected (a second "weight" entry would otherwise silently win), and so
     * is anything after the top-level value but whitespace. Jackson's default stream limits
     * (nesting depth, name and number lengths) stay on: they turn pathological headers into
     * parse errors instead of deep recursion.
     */
    static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Json() {}

    /**
     * Decodes {@code utf8} strictly and parses it as one JSON object.
     *
     * @param what names the text in messages, e.g. "header"
     * @throws TensorFileException naming {@code file} when the bytes are not UTF-8, not JSON or not an object
     */
    static JsonNode parseObject(String file, String what, byte[] utf8) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new TensorFileException(file, null, what + " is not valid UTF-8 (" + e.getMessage() + ")", e);
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw new TensorFileException(file, null, what + " is not valid JSON: " + oneLine(e.getOriginalMessage()), e);
        }
        if (root == null || !root.isObject()) {
            throw new TensorFileException(file, null, what + " is not a JSON object (found "
                    + (root == null || root.isMissingNode() ? "nothing" : root.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)) + ")");
        }
        return root;
    }

    /** A non-negative integer that fits a long, or -1. */
    static long nonNegativeLong(JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) {
            return -1;
        }
        return Math.max(-1, n.asLong());
    }

    private static String oneLine(String s) {
        String t = s == null ? "" : s.replaceAll("\\s+", " ").strip();
        return t.length() > 200 ? t.substring(0, 200) + "…" : t;
    }
}
