package org.offload4j.w4a16;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.offload4j.core.Args;

/**
 * The quantization settings of a GPTQ checkpoint, as AutoGPTQ, GPTQModel and Hugging Face
 * Transformers write them: {@code quantize_config.json}, or the {@code "quantization_config"}
 * object of {@code config.json}.
 *
 * @param bits         bits per weight; only 4 is accepted
 * @param groupSize    rows per group; {@code -1} means one group per column ({@code k})
 * @param descAct      act-order: rows are assigned to groups by {@code g_idx}
 * @param sym          symmetric quantization (zeros are 8); checkpoints still store qzeros
 * @param v1Zeros      qzeros store {@code z − 1} (AutoGPTQ's format, {@code checkpoint_format}
 *                     absent or {@code "gptq"}) rather than {@code z} ({@code "gptq_v2"})
 */
public record GptqConfig(int bits, int groupSize, boolean descAct, boolean sym, boolean v1Zeros) {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    public GptqConfig {
        Args.require(bits == 4, "bits = " + bits + " is not supported: W4A16 loads 4-bit GPTQ checkpoints only");
        Args.require(groupSize == -1 || groupSize > 0, "group_size = " + groupSize + "; expected -1 or a positive size");
    }

    /**
     * Reads {@code quantize_config.json} in {@code dir}, else the {@code "quantization_config"}
     * of {@code config.json}.
     *
     * @throws IllegalArgumentException when neither exists or the settings are not a 4-bit GPTQ config
     */
    public static GptqConfig read(Path dir) throws IOException {
        Args.notNull(dir, "dir");
        Path quantize = dir.resolve("quantize_config.json");
        if (Files.isRegularFile(quantize)) {
            return parse(quantize.toString(), readJson(quantize));
        }
        Path config = dir.resolve("config.json");
        if (Files.isRegularFile(config)) {
            JsonNode q = readJson(config).get("quantization_config");
            Args.require(q != null && q.isObject(), config + " has no \"quantization_config\" object: not a quantized checkpoint");
            return parse(config + " (quantization_config)", q);
        }
        throw new IllegalArgumentException(dir + " has neither quantize_config.json nor config.json: the GPTQ settings "
                + "(bits, group_size, desc_act, sym) are unknown");
    }

    private static JsonNode readJson(Path file) throws IOException {
        try {
            JsonNode n = MAPPER.readTree(file.toFile());
            Args.require(n != null && n.isObject(), file + " is not a JSON object");
            return n;
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Settings from one JSON object; {@code source} names it in messages. */
    static GptqConfig parse(String source, JsonNode q) {
        String method = q.hasNonNull("quant_method") ? q.get("quant_method").asText() : "gptq";
        Args.require("gptq".equalsIgnoreCase(method), source + ": quant_method \"" + method + "\" is not GPTQ");
        int bits = integer(source, q, "bits");
        Args.require(bits == 4, source + ": bits = " + bits + " is not supported: W4A16 loads 4-bit GPTQ checkpoints only");
        JsonNode format = q.has("checkpoint_format") ? q.get("checkpoint_format") : q.get("format");
        String f = format == null || format.isNull() ? "gptq" : format.asText();
        Args.require(f.equals("gptq") || f.equals("gptq_v2"), source + ": checkpoint_format \"" + f
                + "\" is not accepted; accepted: gptq (v1 zeros), gptq_v2");
        return new GptqConfig(bits, integer(source, q, "group_size"), bool(source, q, "desc_act", false),
                bool(source, q, "sym", true), f.equals("gptq"));
    }

    private static int integer(String source, JsonNode q, String key) {
        JsonNode v = q.get(key);
        Args.require(v != null && v.isInt(), source + ": \"" + key + "\" is missing or not an integer");
        return v.asInt();
    }

    private static boolean bool(String source, JsonNode q, String key, boolean absent) {
        JsonNode v = q.get(key);
        if (v == null || v.isNull()) {
            return absent;
        }
        Args.require(v.isBoolean(), source + ": \"" + key + "\" is not true or false");
        return v.asBoolean();
    }
}
