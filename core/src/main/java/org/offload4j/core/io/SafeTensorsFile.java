package org.offload4j.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.offload4j.core.Args;

/**
 * A safetensors file, memory-mapped and validated once at {@link #open}; tensors are read-only
 * views of the mapping (no copy).
 *
 * <p><b>Format</b> (<a href="https://github.com/huggingface/safetensors">huggingface/safetensors</a>):
 * <pre>
 *  8 bytes   N, unsigned little-endian: the header length
 *  N bytes   UTF-8 JSON object: "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …
 *            plus an optional "__metadata__": {string: string} (or null); may end in spaces (padding)
 *  rest      the data; offsets are relative to its start
 * </pre>
 *
 * <p><b>Validation</b>, all before any tensor is handed out, each failure a
 * {@link TensorFileException} naming the file, the tensor and the problem: the header length
 * within the file and at most {@value #MAX_HEADER_BYTES} bytes; strict UTF-8; one JSON object
 * without duplicate keys; every dtype known ({@link ElementType}); shapes of non-negative
 * integers whose element count times the element size equals {@code end − begin}; and, as the
 * reference implementation demands, the byte ranges cover the data exactly: no range outside
 * it, no overlap, no gap (so no bytes hide between tensors), nothing after the last.
 *
 * <p>The mapping belongs to a shared {@link Arena} owned by this object: {@link #close()}
 * unmaps the file, after which every view taken from it throws {@link IllegalStateException} on
 * use instead of reading freed memory. A file truncated by another process while mapped is
 * outside this contract (the OS may then signal a fault on access).
 */
public final class SafeTensorsFile implements TensorSource {
    /** The largest header accepted: 100 MB (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";
    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String sourceName;
    private final Arena arena;
    private final Map<String, TensorData> tensors;
    private final Map<String, String> metadata;

    private SafeTensorsFile(String sourceName, Arena arena, Map<String, TensorData> tensors, Map<String, String> metadata) {
        this.sourceName = sourceName;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Maps and validates {@code file}.
     *
     * @throws TensorFileException when the file breaks the format (see the class documentation)
     * @throws IOException         when it cannot be read
     */
    public static SafeTensorsFile open(Path file) throws IOException {
        Args.notNull(file, "file");
        String name = file.toString();
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new TensorFileException(name, null, "truncated: " + size + " bytes, too short for the 8-byte header length");
            }
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(name, all, arena);
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Validates a safetensors image already in memory; tensors are views of {@code bytes}, which
     * the caller keeps alive ({@link #close()} then does nothing to them).
     *
     * @param sourceName names the image in messages
     */
    public static SafeTensorsFile of(String sourceName, MemorySegment bytes) {
        Args.notNull(sourceName, "sourceName");
        Args.notNull(bytes, "bytes");
        return parse(sourceName, bytes.asReadOnly(), null);
    }

    private static SafeTensorsFile parse(String file, MemorySegment all, Arena arena) {
        long size = all.byteSize();
        if (size < 8) {
            throw new TensorFileException(file, null, "truncated: " + size + " bytes, too short for the 8-byte header length");
        }
        long n = all.get(U64_LE, 0);
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new TensorFileException(file, null, "header length " + Long.toUnsignedString(n) + " exceeds the limit of "
                    + MAX_HEADER_BYTES + " bytes (100 MB)");
        }
        if (n > size - 8) {
            throw new TensorFileException(file, null, "header length " + n + " runs past the end of the file ("
                    + size + " bytes: at most " + (size - 8) + " after the length)");
        }
        JsonNode root = Json.parseObject(file, "header", all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE));
        MemorySegment data = all.asSlice(8 + n);
        Map<String, String> metadata = Map.of();
        Map<String, long[]> ranges = new LinkedHashMap<>();
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals(METADATA_KEY)) {
                metadata = metadata(file, e.getValue());
                continue;
            }
            long[] range = new long[2];
            ElementTypeAndShape ts = entry(file, e.getKey(), e.getValue(), data.byteSize(), range);
            ranges.put(e.getKey(), range);
            tensors.put(e.getKey(), new TensorData(ts.type, ts.shape, data.asSlice(range[0], range[1] - range[0])));
        }
        checkCoverage(file, ranges, data.byteSize());
        return new SafeTensorsFile(file, arena, Collections.unmodifiableMap(tensors), metadata);
    }

    private record ElementTypeAndShape(ElementType type, long[] shape) {}

    /** Checks one tensor's entry; writes its [begin, end) into {@code range}. */
    private static ElementTypeAndShape entry(String file, String name, JsonNode v, long dataSize, long[] range) {
        if (!v.isObject()) {
            throw new TensorFileException(file, name, "entry is not a JSON object");
        }
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw new TensorFileException(file, name, "\"dtype\" is missing or not a string");
        }
        ElementType type = ElementType.fromSafetensorsName(dt.asText()).orElseThrow(() -> new TensorFileException(file, name,
                "unknown dtype \"" + dt.asText() + "\"; accepted: " + ElementType.acceptedSafetensorsNames()));
        long[] shape = longs(file, name, v.get("shape"), "shape", -1);
        long[] offsets = longs(file, name, v.get("data_offsets"), "data_offsets", 2);
        if (offsets[0] > offsets[1]) {
            throw new TensorFileException(file, name, "data_offsets " + Arrays.toString(offsets) + " end before they begin");
        }
        if (offsets[1] > dataSize) {
            throw new TensorFileException(file, name, "data_offsets " + Arrays.toString(offsets)
                    + " lie outside the data section (" + dataSize + " bytes)");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(TensorData.elementCount(shape), type.byteSize());
        } catch (ArithmeticException | IllegalArgumentException ex) { // overflow (dimensions are ≥ 0 here)
            throw new TensorFileException(file, name, "shape " + Arrays.toString(shape) + " has more elements than a file can hold");
        }
        if (bytes != offsets[1] - offsets[0]) {
            throw new TensorFileException(file, name, "shape " + Arrays.toString(shape) + " of " + type + " needs " + bytes
                    + " bytes; data_offsets " + Arrays.toString(offsets) + " hold " + (offsets[1] - offsets[0]));
        }
        range[0] = offsets[0];
        range[1] = offsets[1];
        return new ElementTypeAndShape(type, shape);
    }

    /** An array of non-negative integers ({@code length} of them, or any number when −1). */
    private static long[] longs(String file, String tensor, JsonNode a, String key, int length) {
        if (a == null || !a.isArray() || (length >= 0 && a.size() != length)) {
            throw new TensorFileException(file, tensor, "\"" + key + "\" is missing or not an array"
                    + (length >= 0 ? " of " + length + " integers" : " of integers"));
        }
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = Json.nonNegativeLong(a.get(i));
            if (out[i] < 0) {
                throw new TensorFileException(file, tensor, "\"" + key + "\" element " + i + " = " + a.get(i)
                        + " is not a non-negative 64-bit integer");
            }
        }
        return out;
    }

    private static Map<String, String> metadata(String file, JsonNode m) {
        if (m.isNull()) {
            return Map.of(); // the reference reads it as Option<HashMap>: null is "none"
        }
        if (!m.isObject()) {
            throw new TensorFileException(file, METADATA_KEY, "is not a JSON object of strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : m.properties()) {
            if (!e.getValue().isTextual()) {
                throw new TensorFileException(file, METADATA_KEY, "value of \"" + e.getKey() + "\" is not a string");
            }
            out.put(e.getKey(), e.getValue().asText());
        }
        return Collections.unmodifiableMap(out);
    }

    /** The ranges, sorted, must tile [0, dataSize) exactly. */
    private static void checkCoverage(String file, Map<String, long[]> ranges, long dataSize) {
        List<Map.Entry<String, long[]>> sorted = new ArrayList<>(ranges.entrySet());
        sorted.sort(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[0])
                .thenComparingLong(e -> e.getValue()[1]));
        long cursor = 0;
        String previous = null;
        for (Map.Entry<String, long[]> e : sorted) {
            long begin = e.getValue()[0];
            if (begin < cursor) {
                throw new TensorFileException(file, e.getKey(), "data_offsets " + Arrays.toString(e.getValue())
                        + " overlap tensor '" + previous + "' (which ends at " + cursor + ")");
            }
            if (begin > cursor) {
                throw new TensorFileException(file, e.getKey(), "data_offsets " + Arrays.toString(e.getValue())
                        + " leave bytes [" + cursor + ", " + begin + ") of the data section unused");
            }
            cursor = e.getValue()[1];
            previous = e.getKey();
        }
        if (cursor != dataSize) {
            throw new TensorFileException(file, null, "the data section has " + dataSize + " bytes but the tensors cover "
                    + cursor + " (truncated, or " + (dataSize - cursor) + " bytes of trailing data)");
        }
    }

    @Override
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public TensorData data(String name) {
        TensorData d = tensors.get(name);
        if (d == null) {
            throw new IllegalArgumentException(sourceName + " has no tensor '" + name + "'; it has " + abbreviated(names()));
        }
        return d;
    }

    /** The {@code __metadata__} strings (empty when the file has none), in file order. */
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public String sourceName() {
        return sourceName;
    }

    /** Unmaps the file (if this object mapped it). Idempotent. */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    static String abbreviated(List<String> names) {
        if (names.isEmpty()) {
            return "no tensors";
        }
        List<String> shown = names.size() <= 10 ? names : names.subList(0, 10);
        return "[" + String.join(", ", shown) + (names.size() > 10 ? ", … " + (names.size() - 10) + " more" : "") + "]";
    }

    @Override
    public String toString() {
        return "SafeTensorsFile " + sourceName + " (" + tensors.size() + " tensors)";
    }
}
