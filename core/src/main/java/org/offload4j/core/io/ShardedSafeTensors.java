package org.offload4j.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.offload4j.core.Args;

/**
 * A checkpoint split over several safetensors files, as Hugging Face writes it: an index
 * ({@value SafeTensors#INDEX_FILE}) whose {@code "weight_map"} names, for each tensor, the shard
 * file (beside the index) that holds it, and an optional {@code "metadata"} object.
 *
 * <p>{@link #open} maps every shard and checks each of them (as {@link SafeTensorsFile} does)
 * and that every tensor the index names is in its shard. A shard name must stay inside the
 * index's directory (no absolute paths, no {@code ..}). {@link #close()} unmaps all shards.
 */
public final class ShardedSafeTensors implements TensorSource {
    private final String sourceName;
    private final Map<String, SafeTensorsFile> byTensor;
    private final List<SafeTensorsFile> shards;
    private final Map<String, String> metadata;

    private ShardedSafeTensors(String sourceName, Map<String, SafeTensorsFile> byTensor, List<SafeTensorsFile> shards,
            Map<String, String> metadata) {
        this.sourceName = sourceName;
        this.byTensor = byTensor;
        this.shards = shards;
        this.metadata = metadata;
    }

    /**
     * Reads the index and maps its shards.
     *
     * @throws TensorFileException naming the index or a shard when either breaks its format
     */
    public static ShardedSafeTensors open(Path index) throws IOException {
        Args.notNull(index, "index");
        String name = index.toString();
        long size = Files.size(index);
        if (size > SafeTensorsFile.MAX_HEADER_BYTES) {
            throw new TensorFileException(name, null, "index of " + size + " bytes exceeds the limit of "
                    + SafeTensorsFile.MAX_HEADER_BYTES + " bytes");
        }
        JsonNode root = Json.parseObject(name, "index", Files.readAllBytes(index));
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new TensorFileException(name, null, "\"weight_map\" is missing or not an object");
        }
        // The real directory (symlinks and . or .. resolved, as the OS did to read the index); shard paths are normalized in it.
        Path dir = index.toRealPath().getParent();
        Map<String, Path> shardOf = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            shardOf.put(e.getKey(), shardPath(name, dir, e.getKey(), e.getValue()));
        }
        Map<Path, SafeTensorsFile> opened = new TreeMap<>();
        try {
            Map<String, SafeTensorsFile> byTensor = new LinkedHashMap<>();
            for (Map.Entry<String, Path> e : shardOf.entrySet()) {
                SafeTensorsFile shard = opened.get(e.getValue());
                if (shard == null) {
                    shard = SafeTensorsFile.open(e.getValue());
                    opened.put(e.getValue(), shard);
                }
                if (!shard.contains(e.getKey())) {
                    throw new TensorFileException(name, e.getKey(), "is mapped to shard " + e.getValue().getFileName()
                            + ", which does not hold it");
                }
                byTensor.put(e.getKey(), shard);
            }
            return new ShardedSafeTensors(name, Collections.unmodifiableMap(byTensor), List.copyOf(opened.values()),
                    metadata(root.get("metadata")));
        } catch (IOException | RuntimeException | Error e) {
            opened.values().forEach(SafeTensorsFile::close);
            throw e;
        }
    }

    private static Path shardPath(String index, Path dir, String tensor, JsonNode v) {
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new TensorFileException(index, tensor, "shard name is not a non-empty string");
        }
        Path p;
        try {
            if (Path.of(v.asText()).isAbsolute()) {
                throw new TensorFileException(index, tensor, "shard \"" + v.asText() + "\" lies outside the index's directory");
            }
            p = dir.resolve(v.asText()).normalize();
        } catch (InvalidPathException e) {
            throw new TensorFileException(index, tensor, "shard name \"" + v.asText() + "\" is not a file name: " + e.getReason());
        }
        if (!p.startsWith(dir)) {
            throw new TensorFileException(index, tensor, "shard \"" + v.asText() + "\" lies outside the index's directory");
        }
        if (!Files.isRegularFile(p)) {
            throw new TensorFileException(index, tensor, "shard \"" + v.asText() + "\" is not a file in the index's directory ("
                    + (Files.exists(p) ? "a directory or other non-file" : "missing") + ")");
        }
        return p;
    }

    /** The index's "metadata" values as text (numbers such as total_size included). */
    private static Map<String, String> metadata(JsonNode m) {
        if (m == null || !m.isObject()) {
            return Map.of();
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : m.properties()) {
            out.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
        }
        return Collections.unmodifiableMap(out);
    }

    @Override
    public List<String> names() {
        return List.copyOf(byTensor.keySet());
    }

    @Override
    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    @Override
    public TensorData data(String name) {
        SafeTensorsFile shard = byTensor.get(name);
        if (shard == null) {
            throw new IllegalArgumentException(sourceName + " has no tensor '" + name + "'; it has "
                    + SafeTensorsFile.abbreviated(names()));
        }
        return shard.data(name);
    }

    /** The shard files, in path order. */
    public List<SafeTensorsFile> shards() {
        return shards;
    }

    /** The index's {@code "metadata"} (values as text), empty when absent. */
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public String sourceName() {
        return sourceName;
    }

    /** Unmaps every shard. Idempotent. */
    @Override
    public void close() {
        List<SafeTensorsFile> all = new ArrayList<>(shards);
        all.forEach(SafeTensorsFile::close);
    }

    @Override
    public String toString() {
        return "ShardedSafeTensors " + sourceName + " (" + byTensor.size() + " tensors in " + shards.size() + " shards)";
    }
}
