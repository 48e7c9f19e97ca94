package org.offload4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void tensorsAreLaidOutLargestElementFirstSoEachIsAligned() throws IOException {
        Map<String, TensorData> in = new LinkedHashMap<>();
        in.put("h", IoTestFiles.random(ElementType.F16, new long[] {3}, 1));
        in.put("b", IoTestFiles.random(ElementType.U8, new long[] {5}, 2));
        in.put("w", IoTestFiles.random(ElementType.F32, new long[] {3}, 3));
        in.put("ids", IoTestFiles.random(ElementType.I64, new long[] {1}, 4));
        in.put("a", IoTestFiles.random(ElementType.F32, new long[] {1}, 5));
        in.put("a.qweight", IoTestFiles.random(ElementType.I32, new long[] {1}, 6));
        in.put("g", IoTestFiles.random(ElementType.BF16, new long[] {1}, 7));
        Path f = dir.resolve("mixed.safetensors");
        SafeTensors.write(f, in);
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            // The reference's Dtype order: I64, F32 before I32, BF16 before F16, then U8.
            assertEquals(List.of("ids", "a", "w", "a.qweight", "g", "h", "b"), st.names());
            for (String name : st.names()) {
                TensorData d = st.data(name);
                assertEquals(0, d.bytes().address() % d.type().byteSize(), name + " aligned to its element size");
                assertEquals(in.get(name), d, name);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ElementType.class)
    void everyDtypeRoundTripsByteForByte(ElementType type) throws IOException {
        Map<String, TensorData> in = new LinkedHashMap<>();
        in.put("matrix", IoTestFiles.random(type, new long[] {3, 5}, type.ordinal()));
        in.put("vector", IoTestFiles.random(type, new long[] {7}, 100 + type.ordinal()));
        in.put("scalar", IoTestFiles.random(type, new long[] {}, 200 + type.ordinal()));
        in.put("empty", IoTestFiles.random(type, new long[] {0, 4}, 0));
        Path f = dir.resolve(type + ".safetensors");
        SafeTensors.write(f, in, Map.of("format", "pt", "note", "round trip"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(List.of("empty", "matrix", "scalar", "vector"), st.names(), "one element size: by name, as the reference writes");
            for (var e : in.entrySet()) {
                assertEquals(e.getValue(), st.data(e.getKey()), e.getKey());
            }
            assertEquals(Map.of("format", "pt", "note", "round trip"), st.metadata());
        }
        long headerLen = java.nio.ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8, "header padded so the data is 8-byte aligned");
    }

    @Test
    void tensorViewsReadTheValuesAndAreReadOnlyViewsOfTheMapping() throws IOException {
        Path f = dir.resolve("t.safetensors");
        try (Tensor t = Tensor.of(DType.BF16, new float[] {1, -2, 3.5f, 0.25f, 8, 9}, 2, 3)) {
            SafeTensors.write(f, Map.of("w", TensorData.of(t)));
        }
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            Tensor w = st.tensor("w");
            assertEquals(DType.BF16, w.dtype());
            assertArrayEquals(new long[] {2, 3}, w.shape());
            assertArrayEquals(new float[] {1, -2, 3.5f, 0.25f, 8, 9}, w.toFloatArray());
            assertTrue(w.segment().isReadOnly(), "views of a read-only mapping");
            assertTrue(w.segment().isMapped(), "no copy: the data is the mapped file");
            try (Tensor c = st.data("w").copy()) {
                c.setFloat(0, 0, 5);
                assertEquals(5, c.getFloat(0, 0), "a copy is writable");
            }
        }
    }

    @Test
    void closeUnmapsAndViewsThenThrowInsteadOfReadingFreedMemory() throws IOException {
        Path f = dir.resolve("c.safetensors");
        SafeTensors.write(f, Map.of("x", IoTestFiles.random(ElementType.F32, new long[] {4}, 1)));
        SafeTensorsFile st = SafeTensorsFile.open(f);
        Tensor x = st.tensor("x");
        TensorData d = st.data("x");
        st.close();
        st.close();
        assertFalse(x.isAlive());
        assertThrows(IllegalStateException.class, () -> x.getFloat(0, 0));
        assertThrows(IllegalStateException.class, () -> d.bytes().get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void stridedTensorsAreWrittenContiguously() throws IOException {
        try (Tensor base = Tensor.of(DType.FP32, new float[] {1, 2, 99, 3, 4, 99}, 2, 3)) {
            Tensor strided = Tensor.wrapStrided(base.segment(), DType.FP32, 3, 2, 2);
            Path f = dir.resolve("s.safetensors");
            SafeTensors.write(f, Map.of("s", TensorData.of(strided)));
            try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
                assertArrayEquals(new float[] {1, 2, 3, 4}, st.tensor("s").toFloatArray());
            }
        }
    }

    @Test
    void typesWithoutATensorDtypeAreBytesOnly() throws IOException {
        Path f = dir.resolve("i64.safetensors");
        SafeTensors.write(f, Map.of("ids", IoTestFiles.random(ElementType.I64, new long[] {3}, 4)));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            var e = assertThrows(IllegalArgumentException.class, () -> st.tensor("ids"));
            assertTrue(e.getMessage().contains("I64"), e.getMessage());
            assertEquals(24, st.data("ids").bytes().byteSize());
        }
    }

    @Test
    void writerAndLookupRejectBadNames() throws IOException {
        Path f = dir.resolve("n.safetensors");
        TensorData d = IoTestFiles.random(ElementType.U8, new long[] {2}, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(f, Map.of("__metadata__", d)));
        assertTrue(e.getMessage().contains("reserved"), e.getMessage());
        SafeTensors.write(f, Map.of("a", d));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            var missing = assertThrows(IllegalArgumentException.class, () -> st.data("b"));
            assertTrue(missing.getMessage().contains("no tensor 'b'") && missing.getMessage().contains("[a]"), missing.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new TensorData(ElementType.F32, new long[] {3}, d.bytes()));
    }

    @Test
    void shardedCheckpointsReadThroughTheIndex() throws IOException {
        try (ShardedSafeTensors s = ShardedSafeTensors.open(IoTestFiles.fixture("sharded/model.safetensors.index.json"))) {
            assertEquals(List.of("a.bias", "a.weight", "b.weight"), s.names());
            assertEquals(2, s.shards().size());
            assertEquals("88", s.metadata().get("total_size"));
            assertEquals(IoTestFiles.f32Value(5), s.tensor("a.weight").getFloat(1, 1));
            assertEquals(IoTestFiles.f32Value(2), s.tensor("a.bias").getFloat(0, 2));
            assertEquals(DType.BF16, s.tensor("b.weight").dtype());
        }
        try (TensorSource viaDir = SafeTensors.open(IoTestFiles.fixture("sharded/model.safetensors.index.json").getParent())) {
            assertTrue(viaDir instanceof ShardedSafeTensors, "a directory with an index opens the index");
        }
    }

    /** Paths with '.' or '..' elements reach the same checkpoint (the shard check compares normalized paths). */
    @Test
    void shardedCheckpointsOpenThroughDotPaths() throws IOException {
        Path ckpt = Files.createDirectory(dir.resolve("ckpt"));
        TensorData a = new TensorData(ElementType.F32, new long[] {2}, java.lang.foreign.MemorySegment.ofArray(new float[] {1, 2}));
        SafeTensors.write(ckpt.resolve("s1.safetensors"), Map.of("a", a));
        Files.writeString(ckpt.resolve(SafeTensors.INDEX_FILE), "{\"weight_map\": {\"a\": \"s1.safetensors\"}}");
        for (Path index : List.of(dir.resolve(".").resolve("ckpt").resolve(SafeTensors.INDEX_FILE),
                dir.resolve("ckpt").resolve("..").resolve("ckpt").resolve(SafeTensors.INDEX_FILE))) {
            try (ShardedSafeTensors s = ShardedSafeTensors.open(index)) {
                assertEquals(2f, s.tensor("a").getFloat(0, 1), index.toString());
            }
        }
        try (TensorSource viaDir = SafeTensors.open(dir.resolve("ckpt").resolve("..").resolve("ckpt"))) {
            assertEquals(List.of("a"), viaDir.names());
        }
        // Through a symlink and '..': the OS reads ckpt/sub/.. = ckpt; shards must resolve there too, not
        // against the text "link/.." (= dir).
        Files.createDirectory(ckpt.resolve("sub"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), ckpt.resolve("sub"));
        try (ShardedSafeTensors s = ShardedSafeTensors.open(link.resolve("..").resolve(SafeTensors.INDEX_FILE))) {
            assertEquals(1f, s.tensor("a").getFloat(0, 0));
        }
    }

    @Test
    void shardedIndexProblemsNameTheIndexAndTensor() throws IOException {
        Path shard = dir.resolve("s1.safetensors");
        SafeTensors.write(shard, Map.of("a", IoTestFiles.random(ElementType.F32, new long[] {2}, 1)));
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\"}}");
        var e = assertThrows(TensorFileException.class, () -> ShardedSafeTensors.open(index));
        assertEquals("b", e.tensor().orElseThrow());
        assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains("does not hold it"), e.getMessage());
        Files.writeString(index, "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
        var outside = assertThrows(TensorFileException.class, () -> ShardedSafeTensors.open(index));
        assertTrue(outside.getMessage().contains("outside"), outside.getMessage());
        Files.writeString(index, "{\"metadata\": {}}");
        var noMap = assertThrows(TensorFileException.class, () -> ShardedSafeTensors.open(index));
        assertTrue(noMap.getMessage().contains("weight_map"), noMap.getMessage());
        for (String bad : new String[] {".", "model.safetensors.index.json/..", "missing.safetensors"}) {
            Files.writeString(index, "{\"weight_map\": {\"a\": \"" + bad + "\"}}");
            var notFile = assertThrows(TensorFileException.class, () -> ShardedSafeTensors.open(index), bad);
            assertEquals("a", notFile.tensor().orElseThrow());
            assertTrue(notFile.getMessage().contains("is not a file in the index's directory"), notFile.getMessage());
        }
        Files.writeString(index, "{\"weight_map\": {\"a\": \"s1\\u0000.safetensors\"}}");
        var nul = assertThrows(TensorFileException.class, () -> ShardedSafeTensors.open(index));
        assertTrue(nul.getMessage().contains(index.toString()) && nul.getMessage().contains("is not a file name"), nul.getMessage());
    }

    @Test
    void shapesTooLargeAreRejectedAsArguments() {
        var elements = assertThrows(IllegalArgumentException.class,
                () -> new TensorData(ElementType.F32, new long[] {1L << 62, 4}, MemorySegment.NULL));
        assertTrue(elements.getMessage().contains("more than 2^63 elements"), elements.getMessage());
        var bytes = assertThrows(IllegalArgumentException.class,
                () -> new TensorData(ElementType.F32, new long[] {1L << 61, 2}, MemorySegment.NULL));
        assertTrue(bytes.getMessage().contains("more than 2^63 bytes"), bytes.getMessage());
        assertEquals(0, TensorData.elementCount(new long[] {1L << 62, 4, 0}), "a zero dimension, whatever the others");
        assertEquals(0, new TensorData(ElementType.F32, new long[] {1L << 62, 4, 0}, MemorySegment.NULL).elementCount());
    }

    /** Rewriting a file while it is open (edit the metadata, save) keeps the open file readable and writes the new one whole. */
    @Test
    void rewritingAnOpenFileReplacesItWhole() throws IOException {
        Path file = dir.resolve("w.safetensors");
        TensorData w = IoTestFiles.random(ElementType.F32, new long[] {256, 1024}, 3);
        SafeTensors.write(file, Map.of("w", w));
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            SafeTensors.write(file, Map.of("w", f.data("w")), Map.of("note", "edited"));
            assertEquals(w, f.data("w"), "the open file still reads its data");
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertEquals(w, f.data("w"));
            assertEquals(Map.of("note", "edited"), f.metadata());
        }
        Path npy = dir.resolve("w.npy");
        Npy.write(npy, w);
        try (NpyFile f = NpyFile.open(npy)) {
            Npy.write(npy, f.data());
        }
        try (NpyFile f = NpyFile.open(npy)) {
            assertEquals(w, f.data());
        }
        try (var left = Files.list(dir)) {
            assertEquals(List.of("w.npy", "w.safetensors"), left.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary file left behind");
        }
    }

    /** Replacing keeps what a plain write kept: the permissions, and a symbolic link (its target is what changes). */
    @Test
    void replacingKeepsPermissionsAndWritesThroughLinks() throws IOException {
        Path file = dir.resolve("w.npy");
        TensorData a = IoTestFiles.random(ElementType.F32, new long[] {3, 5}, 1);
        TensorData b = IoTestFiles.random(ElementType.F32, new long[] {2, 2}, 2);
        Npy.write(file, a);
        var perms = java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----");
        Files.setPosixFilePermissions(file, perms);
        Npy.write(file, b);
        assertEquals(perms, Files.getPosixFilePermissions(file));
        Path link = dir.resolve("link.npy");
        Files.createSymbolicLink(link, Path.of("w.npy"));
        Npy.write(link, a);
        assertTrue(Files.isSymbolicLink(link), "still a link");
        try (NpyFile f = NpyFile.open(file)) {
            assertEquals(a, f.data(), "the link's target was written");
        }
        Path dangling = dir.resolve("dangling.npy");
        Files.createSymbolicLink(dangling, Path.of("made.npy"));
        Npy.write(dangling, b);
        try (NpyFile f = NpyFile.open(dir.resolve("made.npy"))) {
            assertEquals(b, f.data(), "a dangling link's target is created, as a plain write does");
        }
    }

    /** A write that fails leaves the old file as it was, and no temporary file. */
    @Test
    void aFailedWriteLeavesTheOldFile() throws IOException {
        Path file = dir.resolve("w.safetensors");
        TensorData w = IoTestFiles.random(ElementType.F32, new long[] {4, 4}, 3);
        SafeTensors.write(file, Map.of("w", w));
        byte[] before = Files.readAllBytes(file);
        TensorData closed;
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            closed = f.data("w");
        }
        assertThrows(IllegalStateException.class, () -> SafeTensors.write(file, Map.of("w", closed)));
        assertArrayEquals(before, Files.readAllBytes(file));
        try (var left = Files.list(dir)) {
            assertEquals(1, left.count(), "no temporary file left behind");
        }
    }

    @Test
    void openDispatchesOnTheKindOfPath() throws IOException {
        try (TensorSource npy = SafeTensors.open(IoTestFiles.fixture("f32.npy"))) {
            assertEquals(List.of("f32"), npy.names());
        }
        try (TensorSource st = SafeTensors.open(IoTestFiles.fixture("all_dtypes.safetensors"))) {
            assertTrue(st instanceof SafeTensorsFile);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.open(dir));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }
}
