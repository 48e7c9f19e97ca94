package org.offload4j.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of bad input is rejected with a message naming the file, the tensor and the problem. */
class MalformedFilesTest {
    @TempDir
    Path dir;

    private static final String F = "bad.safetensors";

    private static TensorFileException rejectsImage(MemorySegment image, String tensor, String... problem) {
        var e = assertThrows(TensorFileException.class, () -> SafeTensorsFile.of(F, image));
        assertEquals(F, e.file());
        assertEquals(tensor, e.tensor().orElse(null), e.getMessage());
        for (String p : problem) {
            assertTrue(e.getMessage().contains(p), "expected '" + p + "' in: " + e.getMessage());
        }
        assertTrue(e.getMessage().startsWith(F + ": " + (tensor == null ? "" : "tensor '" + tensor + "': ")), e.getMessage());
        return e;
    }

    private static MemorySegment one(String entry, int dataBytes) {
        return IoTestFiles.image("{\"w\":" + entry + "}", new byte[dataBytes]);
    }

    @Test
    void truncatedFiles() throws IOException {
        rejectsImage(MemorySegment.ofArray(new byte[5]), null, "truncated: 5 bytes");
        Path empty = Files.write(dir.resolve("empty.safetensors"), new byte[0]);
        var e = assertThrows(TensorFileException.class, () -> SafeTensorsFile.open(empty));
        assertTrue(e.getMessage().startsWith(empty + ": truncated"), e.getMessage());
        rejectsImage(one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", 12), "w", "outside the data section (12 bytes)");
    }

    @Test
    void headerLengthPastTheEndOrOverTheLimit() {
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 13);
        rejectsImage(MemorySegment.ofArray(b.array()), null, "header length 13 runs past the end", "20 bytes");
        b.putLong(0, 100_000_001L);
        rejectsImage(MemorySegment.ofArray(b.array()), null, "header length 100000001 exceeds", "100 MB");
        b.putLong(0, -1L);
        rejectsImage(MemorySegment.ofArray(b.array()), null, "header length 18446744073709551615 exceeds");
    }

    @Test
    void overlappingGappedAndOutOfRangeOffsets() {
        String a = "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}";
        rejectsImage(IoTestFiles.image("{" + a + ",\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", new byte[6]),
                "b", "overlap tensor 'a'");
        rejectsImage(IoTestFiles.image("{" + a + ",\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}", new byte[8]),
                "b", "leave bytes [4, 6)");
        rejectsImage(IoTestFiles.image("{" + a + "}", new byte[9]), null, "5 bytes of trailing data");
        rejectsImage(one("{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,2]}", 3), "w", "end before they begin");
        rejectsImage(one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}", 3), "w", "not a non-negative 64-bit integer");
        rejectsImage(one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}", 1), "w",
                "not a non-negative 64-bit integer");
        rejectsImage(one("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}", 1), "w", "\"data_offsets\"", "of 2 integers");
    }

    @Test
    void unknownDtypesAndBadShapes() {
        rejectsImage(one("{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}", 8), "w", "unknown dtype \"C64\"", "accepted: F32");
        rejectsImage(one("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,8]}", 8), "w", "\"dtype\" is missing or not a string");
        rejectsImage(one("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}", 20), "w",
                "shape [2, 3] of F32 needs 24 bytes", "hold 20");
        rejectsImage(one("{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}", 8), "w", "\"shape\" element 0");
        rejectsImage(one("{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}", 8), "w", "\"shape\" is missing or not an array");
        rejectsImage(one("{\"dtype\":\"I64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}", 8), "w",
                "more elements than a file can hold");
        rejectsImage(one("[1,2]", 0), "w", "entry is not a JSON object");
    }

    @Test
    void nonUtf8AndMalformedJson() {
        rejectsImage(IoTestFiles.image(new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'}, new byte[0]), null,
                "header is not valid UTF-8");
        rejectsImage(IoTestFiles.image("{\"w\":{\"dtype\":\"F32\"", new byte[0]), null, "header is not valid JSON");
        rejectsImage(IoTestFiles.image("[]", new byte[0]), null, "header is not a JSON object (found array)");
        rejectsImage(IoTestFiles.image("", new byte[0]), null, "header is not a JSON object (found nothing)");
        rejectsImage(IoTestFiles.image("{} {}", new byte[0]), null, "header is not valid JSON");
        String w = "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
        rejectsImage(IoTestFiles.image("{" + w + "," + w + "}", new byte[1]), null, "not valid JSON", "Duplicate field 'w'");
        rejectsImage(IoTestFiles.image("[".repeat(100_000), new byte[0]), null, "not valid JSON");
        rejectsImage(IoTestFiles.image("{\"__metadata__\":{\"a\":1}}", new byte[0]), "__metadata__", "value of \"a\" is not a string");
    }

    @Test
    void validEdgeCasesAreAccepted() {
        try (SafeTensorsFile st = SafeTensorsFile.of(F, IoTestFiles.image("{}   ", new byte[0]))) {
            assertTrue(st.names().isEmpty(), "no tensors, space padding");
        }
        String z = "{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
        try (SafeTensorsFile st = SafeTensorsFile.of(F, IoTestFiles.image(z, new byte[2]))) {
            assertEquals(0, st.data("z").bytes().byteSize());
            assertEquals(2, st.data("u").bytes().byteSize());
        }
        try (SafeTensorsFile st = SafeTensorsFile.of(F, IoTestFiles.image("{\"__metadata__\":null}", new byte[0]))) {
            assertTrue(st.metadata().isEmpty(), "null metadata is none, as the reference reads it");
        }
    }

    @Test
    void npyProblemsNameTheFile() {
        byte[] good;
        try (NpyFile f = NpyFile.open(IoTestFiles.fixture("f32.npy"))) {
            good = Files.readAllBytes(IoTestFiles.fixture("f32.npy"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        rejectsNpy(java.util.Arrays.copyOf(good, good.length - 1), "needs 48 bytes of data; the file has 47 (truncated)");
        rejectsNpy(java.util.Arrays.copyOf(good, good.length + 4), "(trailing bytes)");
        rejectsNpy(java.util.Arrays.copyOf(good, 9), "truncated: 9 bytes");
        byte[] badMagic = good.clone();
        badMagic[1] = 'X';
        rejectsNpy(badMagic, "does not start with");
        byte[] badVersion = good.clone();
        badVersion[6] = 4;
        rejectsNpy(badVersion, "format version 4.0");
        byte[] longHeader = good.clone();
        longHeader[8] = (byte) 0xFF;
        longHeader[9] = (byte) 0xFF;
        rejectsNpy(longHeader, "header length 65535 runs past the end");
        rejectsNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': True}"), "header has keys");
        rejectsNpy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "malformed header");
        rejectsNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }"), "malformed header");
        rejectsNpy(npy("{'descr': '|O', 'fortran_order': False, 'shape': (), }"), "unknown descr '|O'");
    }

    @Test
    void npyDescrsInNativeOrderReadAsLittleEndian() {
        // NumPy's own writer says '<f4'; np.load also takes '=f4' and 'f4' (native order, little-endian here).
        for (String descr : new String[] {"<f4", "=f4", "f4"}) {
            byte[] head = npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }");
            byte[] file = java.util.Arrays.copyOf(head, head.length + 8);
            ByteBuffer.wrap(file, head.length, 8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f);
            try (NpyFile f = NpyFile.of("ok.npy", "ok", MemorySegment.ofArray(file))) {
                assertEquals(ElementType.F32, f.data().type(), descr);
                assertEquals(-2f, f.data().view().getFloat(0, 1), descr);
            }
        }
        for (String descr : new String[] {"i1", "=u1", "<i1", ">u1"}) {
            byte[] head = npy("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }");
            byte[] file = java.util.Arrays.copyOf(head, head.length + 1);
            try (NpyFile f = NpyFile.of("ok.npy", "ok", MemorySegment.ofArray(file))) {
                assertEquals(descr.contains("i") ? ElementType.I8 : ElementType.U8, f.data().type(), descr);
            }
        }
        rejectsNpy(npy("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }"), "unknown descr '|f4'");
        rejectsNpy(npy("{'descr': 'f', 'fortran_order': False, 'shape': (1,), }"), "unknown descr 'f'");
        rejectsNpy(npy("{'descr': '', 'fortran_order': False, 'shape': (1,), }"), "unknown descr ''");
    }

    private static byte[] npy(String dict) {
        byte[] h = dict.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(10 + h.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(NpyFile.MAGIC).put((byte) 1).put((byte) 0).putShort((short) h.length).put(h);
        return b.array();
    }

    private static void rejectsNpy(byte[] bytes, String problem) {
        var e = assertThrows(TensorFileException.class, () -> NpyFile.of("bad.npy", "bad", MemorySegment.ofArray(bytes)));
        assertTrue(e.getMessage().startsWith("bad.npy: ") && e.getMessage().contains(problem), e.getMessage());
    }
}
