package org.offload4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;

/**
 * Files written by the reference implementations (NumPy; safetensors per its spec, see
 * src/test/python/make_io_fixtures.py): read with the values the script put in, and written back
 * byte for byte where this library's writer follows the same conventions.
 */
class ReferenceFixturesTest {
    @TempDir
    Path dir;

    private static float[] f32Values() {
        float[] v = new float[12];
        for (int i = 0; i < 12; i++) {
            v[i] = IoTestFiles.f32Value(i);
        }
        return v;
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32.npy", "f32_v2.npy", "f32_v3.npy"})
    void numpyFloat32InEveryFormatVersion(String name) throws IOException {
        try (NpyFile f = NpyFile.open(IoTestFiles.fixture(name))) {
            assertEquals(name.contains("v") ? name.charAt(name.indexOf('v') + 1) - '0' : 1, f.majorVersion());
            assertArrayEquals(new long[] {3, 4}, f.data().shape());
            assertArrayEquals(f32Values(), f.data().view().toFloatArray());
        }
    }

    @Test
    void numpyHalfAndBf16AsUint16() throws IOException {
        try (NpyFile f16 = NpyFile.open(IoTestFiles.fixture("f16.npy"));
             NpyFile bf16 = NpyFile.open(IoTestFiles.fixture("bf16.npy"))) {
            Tensor h = f16.data().view();
            Tensor b = bf16.data().view();
            assertEquals(DType.FP16, h.dtype());
            assertEquals(DType.BF16, b.dtype(), "<u2 reads as bf16 by convention");
            float[] want = f32Values();
            for (int i = 0; i < 12; i++) {
                assertEquals(Fp16.toFloat(Fp16.fromFloat(want[i])), h.getFloat(i / 4, i % 4));
                assertEquals(Bf16.toFloat(Bf16.fromFloat(want[i])), b.getFloat(i / 4, i % 4));
            }
        }
    }

    @Test
    void numpyIntegerTypes() throws IOException {
        try (NpyFile i32 = NpyFile.open(IoTestFiles.fixture("i32.npy"));
             NpyFile i64 = NpyFile.open(IoTestFiles.fixture("i64.npy"));
             NpyFile i8 = NpyFile.open(IoTestFiles.fixture("i8.npy"));
             NpyFile u8 = NpyFile.open(IoTestFiles.fixture("u8.npy"))) {
            assertArrayEquals(new long[] {2, 3, 2}, i32.data().shape());
            for (int i = 0; i < 12; i++) {
                assertEquals((i - 6) * 1000003, i32.data().bytes().getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i));
            }
            for (int i = 0; i < 5; i++) {
                assertEquals(i * (1L << 40) - 3, i64.data().bytes().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i));
            }
            assertEquals(ElementType.I8, i8.data().type());
            for (int i = 0; i < 16; i++) {
                assertEquals((byte) (-128 + 17 * i), i8.data().bytes().get(ValueLayout.JAVA_BYTE, i));
            }
            assertEquals(ElementType.U8, u8.data().type());
            assertArrayEquals(new long[] {2, 9}, u8.data().shape());
            assertEquals(255, u8.data().bytes().get(ValueLayout.JAVA_BYTE, 17) & 0xFF);
        }
    }

    @Test
    void numpyFloat64AsRawBytes() throws IOException {
        try (NpyFile f = NpyFile.open(IoTestFiles.fixture("f64.npy"))) {
            assertEquals(ElementType.F64, f.data().type());
            assertArrayEquals(new long[] {3, 4}, f.data().shape());
            float[] want = f32Values();
            for (int i = 0; i < 12; i++) {
                assertEquals(want[i], f.data().bytes().getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i));
            }
            String noDtype = assertThrows(IllegalArgumentException.class, () -> f.data().view()).getMessage();
            assertTrue(noDtype.contains("element type F64 has no tensor dtype"), noDtype);
        }
    }

    @Test
    void numpyScalarAndEmptyArrays() throws IOException {
        try (NpyFile s = NpyFile.open(IoTestFiles.fixture("scalar.npy"));
             NpyFile e = NpyFile.open(IoTestFiles.fixture("empty.npy"))) {
            assertArrayEquals(new long[] {}, s.data().shape());
            assertEquals(2.5f, s.data().view().getFloat(0, 0));
            assertArrayEquals(new long[] {0, 3}, e.data().shape());
            assertEquals(0, e.data().bytes().byteSize());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32.npy", "f16.npy", "bf16.npy", "i32.npy", "i64.npy", "i8.npy", "u8.npy", "scalar.npy", "empty.npy",
            "f32_v2.npy", "f32_v3.npy", "f64.npy", "long_shape.npy"})
    void ourWriterReproducesNumpysFilesExactly(String name) throws IOException {
        Path original = IoTestFiles.fixture(name);
        Path copy = dir.resolve(name);
        try (NpyFile f = NpyFile.open(original)) {
            Npy.write(copy, f.data(), f.majorVersion());
        }
        assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy), "same header text, padding and data as np.save");
    }

    @Test
    void numpyFilesOutsideTheAcceptedSetAreRejectedWithTheReason() {
        rejects("reject_fortran.npy", "Fortran order");
        rejects("reject_big_endian.npy", "big-endian");
        rejects("reject_c64.npy", "unknown descr '<c8'");
    }

    private static void rejects(String name, String reason) {
        var e = assertThrows(TensorFileException.class, () -> NpyFile.open(IoTestFiles.fixture(name)));
        assertTrue(e.getMessage().contains(name) && e.getMessage().contains(reason), e.getMessage());
    }

    @Test
    void safetensorsWrittenToTheSpecReadWithEveryDtype() throws IOException {
        try (SafeTensorsFile st = SafeTensorsFile.open(IoTestFiles.fixture("all_dtypes.safetensors"))) {
            assertEquals(Map.of("format", "pt", "source", "make_io_fixtures.py"), st.metadata());
            assertEquals(List.of("i64", "empty", "f32", "scalar", "i32", "bf16", "f16", "f8_e4m3", "f8_e5m2", "i8", "u8"), st.names(),
                    "the reference writer's order: its Dtype enum, highest first, then names");
            assertArrayEquals(f32Values(), st.tensor("f32").toFloatArray());
            assertEquals(DType.BF16, st.tensor("bf16").dtype());
            assertEquals(Bf16.toFloat(Bf16.fromFloat(f32Values()[3])), st.tensor("bf16").getFloat(0, 3));
            assertEquals(Fp16.toFloat(Fp16.fromFloat(f32Values()[7])), st.tensor("f16").getFloat(1, 3));
            for (int i = 0; i < 12; i++) {
                assertEquals((byte) (i * 7 + 1), st.data("f8_e4m3").bytes().get(ValueLayout.JAVA_BYTE, i));
                assertEquals((byte) (((i / 4 == 0 ? 8 : i / 4 == 2 ? 0 : 4) + i % 4) * 7 + 1),
                        st.data("f8_e5m2").bytes().get(ValueLayout.JAVA_BYTE, i), "rows reversed");
            }
            assertEquals(DType.FP8_E4M3FN, st.tensor("f8_e4m3").dtype());
            assertEquals(DType.FP8_E5M2, st.tensor("f8_e5m2").dtype());
            assertEquals(-6 * 1000003, st.tensor("i32").getInt(0, 0));
            assertEquals(4 * (1L << 40) - 3, st.data("i64").bytes().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, 4));
            assertArrayEquals(new long[] {}, st.data("scalar").shape());
            assertEquals(2.5f, st.tensor("scalar").getFloat(0, 0));
            try (NpyFile i8 = NpyFile.open(IoTestFiles.fixture("i8.npy")); NpyFile u8 = NpyFile.open(IoTestFiles.fixture("u8.npy"))) {
                assertEquals(i8.data(), st.data("i8"));
                assertEquals(u8.data(), st.data("u8"));
            }
        }
    }

    @Test
    void ourWriterReproducesTheSpecWritersFile() throws IOException {
        Path original = IoTestFiles.fixture("all_dtypes.safetensors");
        Path copy = dir.resolve("copy.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(original)) {
            var in = new java.util.LinkedHashMap<String, TensorData>();
            st.names().forEach(n -> in.put(n, st.data(n)));
            SafeTensors.write(copy, in, st.metadata());
        }
        assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy));
    }
}
