package org.offload4j.core.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.offload4j.core.Args;

/**
 * Entry points for tensor files: {@link #open} reads any of the supported layouts,
 * {@link #write} writes a safetensors file.
 */
public final class SafeTensors {
    /** The index file name Hugging Face uses for sharded checkpoints. */
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** The single-file checkpoint name Hugging Face uses. */
    public static final String SINGLE_FILE = "model.safetensors";

    /** Bytes copied per write call, so a mapped tensor of any size is written in bounded pieces. */
    private static final int CHUNK = 1 << 20;

    private SafeTensors() {}

    /**
     * Opens tensors from {@code path}: a directory (its {@value #INDEX_FILE}, else its
     * {@value #SINGLE_FILE}, else its only {@code .safetensors} file), an index {@code .json}
     * (sharded), a {@code .npy} file (one tensor, named after the file without {@code .npy}), or a
     * safetensors file.
     *
     * @throws TensorFileException when a file breaks its format
     * @throws IOException         when a file cannot be read
     */
    public static TensorSource open(Path path) throws IOException {
        Args.notNull(path, "path");
        if (Files.isDirectory(path)) {
            return open(checkpointFile(path));
        }
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (name.endsWith(".json")) {
            return ShardedSafeTensors.open(path);
        }
        if (name.endsWith(".npy")) {
            return NpyFile.open(path);
        }
        return SafeTensorsFile.open(path);
    }

    /** The file a checkpoint directory's tensors start from. */
    static Path checkpointFile(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(INDEX_FILE))) {
            return dir.resolve(INDEX_FILE);
        }
        if (Files.isRegularFile(dir.resolve(SINGLE_FILE))) {
            return dir.resolve(SINGLE_FILE);
        }
        List<Path> candidates;
        try (Stream<Path> s = Files.list(dir)) {
            candidates = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        Args.require(candidates.size() == 1, dir + " has neither " + INDEX_FILE + " nor " + SINGLE_FILE + " and "
                + candidates.size() + " other .safetensors files; name the file to open");
        return candidates.getFirst();
    }

    /**
     * Writes a safetensors file: the tensors laid out one after another in the reference writer's
     * order (by dtype as its {@code Dtype} enum orders them, highest first, which puts larger
     * elements first; then by name, as UTF-8 bytes), and {@code metadata} as
     * {@code __metadata__} (omitted when empty). The header is padded with spaces to a multiple of
     * 8 bytes so that the data starts 8-byte aligned, as the reference writer does; with that order
     * every tensor starts aligned to its element size, which readers that map the file rely on.
     *
     * @throws IllegalArgumentException for a null or reserved ({@code __metadata__}) tensor name
     */
    public static void write(Path file, Map<String, TensorData> tensors, Map<String, String> metadata) throws IOException {
        Args.notNull(file, "file");
        Args.notNull(tensors, "tensors");
        Map<String, TensorData> ordered = inWriterOrder(tensors);
        byte[] header = header(ordered, metadata == null ? Map.of() : metadata);
        FileReplace.write(file, ch -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(ch, len);
            writeFully(ch, ByteBuffer.wrap(header));
            for (TensorData d : ordered.values()) {
                writeSegment(ch, d.bytes());
            }
        });
    }

    /** The tensors in the reference writer's order ({@link ElementType#writerRank}, then the names' UTF-8 bytes). */
    private static Map<String, TensorData> inWriterOrder(Map<String, TensorData> tensors) {
        java.util.List<Map.Entry<String, TensorData>> entries = new java.util.ArrayList<>();
        for (Map.Entry<String, TensorData> e : tensors.entrySet()) {
            String name = Args.notNull(e.getKey(), "tensor name");
            entries.add(Map.entry(name, Args.notNull(e.getValue(), "tensor '" + name + "'")));
        }
        entries.sort(java.util.Comparator.<Map.Entry<String, TensorData>>comparingInt(e -> -e.getValue().type().writerRank())
                .thenComparing((x, y) -> java.util.Arrays.compareUnsigned(x.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        y.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8))));
        Map<String, TensorData> ordered = new java.util.LinkedHashMap<>();
        entries.forEach(e -> ordered.put(e.getKey(), e.getValue()));
        return ordered;
    }

    /** As {@link #write(Path, Map, Map)} without metadata. */
    public static void write(Path file, Map<String, TensorData> tensors) throws IOException {
        write(file, tensors, Map.of());
    }

    private static byte[] header(Map<String, TensorData> tensors, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject(SafeTensorsFile.METADATA_KEY);
            metadata.forEach((k, v) -> m.put(Args.notNull(k, "metadata key"), Args.notNull(v, "metadata value of " + k)));
        }
        long offset = 0;
        for (Map.Entry<String, TensorData> e : tensors.entrySet()) {
            String name = Args.notNull(e.getKey(), "tensor name");
            Args.require(!name.equals(SafeTensorsFile.METADATA_KEY), "tensor name '" + name + "' is reserved for metadata");
            TensorData d = Args.notNull(e.getValue(), "tensor '" + name + "'");
            ObjectNode t = root.putObject(name);
            t.put("dtype", d.type().name());
            long[] shape = d.shape();
            var s = t.putArray("shape");
            for (long dim : shape) {
                s.add(dim);
            }
            long end = offset + d.bytes().byteSize();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = Json.MAPPER.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("could not serialize a header of plain strings and numbers", e);
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = java.util.Arrays.copyOf(json, padded);
        java.util.Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    static void writeSegment(FileChannel ch, MemorySegment seg) throws IOException {
        byte[] chunk = new byte[(int) Math.min(CHUNK, Math.max(1, seg.byteSize()))];
        for (long off = 0; off < seg.byteSize(); off += chunk.length) {
            int len = (int) Math.min(chunk.length, seg.byteSize() - off);
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, off, chunk, 0, len);
            writeFully(ch, ByteBuffer.wrap(chunk, 0, len));
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
