package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.offload4j.attention.Fp8QuantizeKernel;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** The vector quantizer against the scalar one, bit for bit, on every bf16 value and on awkward shapes. */
class VectorFp8QuantizeTest {
    private final Fp8QuantizeKernel vector = new VectorFp8Quantize();
    private final Fp8QuantizeKernel scalar = Fp8Quantizer.SCALAR;

    private static byte[] bytes(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    /** All 65536 bf16 bit patterns (NaN, ±∞, subnormals, ±0 among them) under scales that move them across every E4M3 range. */
    @Test
    void everyBf16ValueEncodesAsTheScalarCodeDoes() {
        try (Tensor x = Tensor.allocate(DType.BF16, 512, 128); Tensor want = Tensor.allocate(DType.FP8_E4M3FN, 512, 128);
             Tensor got = Tensor.allocate(DType.FP8_E4M3FN, 512, 128)) {
            for (int i = 0; i < 65536; i++) {
                x.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) i);
            }
            float[] scales = {1f, 0.5f, 1f / 448, 3.7f, 1e-3f, 1e30f, Float.MIN_NORMAL, 6.1e-5f, 2.1e-4f, 1.75f};
            for (float s : scales) {
                TensorFill.poison(want);
                TensorFill.poison(got);
                scalar.encode(x, 0, 512, s, want);
                vector.encode(x, 0, 512, s, got);
                assertArrayEquals(bytes(want), bytes(got), "scale " + s);
            }
        }
    }

    /** Odd widths (the scalar tail), widths below one vector, strided rows, and a row range inside the tensor. */
    @Test
    void awkwardShapesAndRowRanges() {
        for (int cols : new int[] {1, 2, 3, 7, 17, 31, 32, 33, 64, 129, 130}) {
            try (Arena arena = Arena.ofShared()) {
                long stride = cols + 5;
                int rows = 9;
                MemorySegment in = arena.allocate(2 * stride * rows);
                Tensor x = TensorFill.gaussian(Tensor.wrapStrided(in, DType.BF16, stride, rows, cols), cols, 40.0);
                Tensor want = TensorFill.poison(Tensor.wrapStrided(arena.allocate(stride * rows), DType.FP8_E4M3FN, stride, rows, cols));
                Tensor got = TensorFill.poison(Tensor.wrapStrided(arena.allocate(stride * rows), DType.FP8_E4M3FN, stride, rows, cols));
                scalar.encode(x, 2, 7, 0.37f, want);
                vector.encode(x, 2, 7, 0.37f, got);
                assertArrayEquals(bytes(want), bytes(got), "cols " + cols + ": rows 2..6 written, the others untouched");
                assertEquals(scalar.amax(x, 2, 7), vector.amax(x, 2, 7), "cols " + cols);
                assertEquals(scalar.amax(x, 0, rows), vector.amax(x, 0, rows), "cols " + cols);
                assertEquals(0f, vector.amax(x, 3, 3), "no rows");
            }
        }
    }

    /** Many rows: the encode runs in parallel chunks. */
    @Test
    void manyRowsInParallel() {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 3001, 128), 5, 2.0);
             Tensor want = TensorFill.poison(Tensor.allocate(DType.FP8_E4M3FN, 3001, 128));
             Tensor got = TensorFill.poison(Tensor.allocate(DType.FP8_E4M3FN, 3001, 128))) {
            float s = scalar.amax(x, 0, 3001) / 448f;
            scalar.encode(x, 0, 3001, s, want);
            vector.encode(x, 0, 3001, s, got);
            assertArrayEquals(bytes(want), bytes(got));
            assertEquals(scalar.amax(x, 0, 3001), vector.amax(x, 0, 3001));
        }
    }

    /** A NaN or infinity anywhere makes the amax non-finite, in the vector body and in the tail. */
    @Test
    void nonFiniteValuesShowInTheAmax() {
        for (int cols : new int[] {64, 65}) {
            for (int col : new int[] {0, 31, cols - 1}) {
                for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                    try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 4, cols), 1, 1.0)) {
                        assertTrue(vector.amax(x, 0, 4) <= Float.MAX_VALUE);
                        x.setFloat(2, col, bad);
                        assertFalse(vector.amax(x, 0, 4) <= Float.MAX_VALUE, cols + " cols, " + bad + " at column " + col);
                        assertTrue(vector.amax(x, 0, 2) <= Float.MAX_VALUE, "rows without it");
                    }
                }
            }
        }
    }

    /** Through the facade: Attention.quantize on the CPU backend equals the static scalar quantizer, with and without rotation. */
    @Test
    void attentionQuantizeMatchesTheStaticQuantizer() {
        org.offload4j.attention.Attention att = org.offload4j.attention.Attention.create(CpuBackend.create());
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 3, 37, 64), 9, 3.0)) {
            for (var g : org.offload4j.attention.ScaleGranularity.values()) {
                for (var r : new org.offload4j.attention.QkRotation[] {null, org.offload4j.attention.QkRotations.hadamard()}) {
                    try (var want = Fp8Quantizer.quantize(x, g, r); var got = att.quantize(x, g, r)) {
                        assertArrayEquals(bytes(want.data()), bytes(got.data()), g + ", rotation " + r);
                        assertArrayEquals(bytes(want.scales()), bytes(got.scales()), g + ", rotation " + r);
                    }
                }
            }
            x.setFloat(40, 5, Float.NaN);
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> att.quantize(x, org.offload4j.attention.ScaleGranularity.PER_HEAD, null));
            assertTrue(e.getMessage().contains("x holds a non-finite value, NaN, at [0, 1, 3, 5]"), e.getMessage());
        }
    }

    /** A backend without the loops (a GPU backend, say) quantizes its bf16 inputs with the first available backend's. */
    @Test
    void backendsWithoutTheLoopsBorrowAnAvailableBackends() {
        org.offload4j.core.Backend cpu = CpuBackend.create();
        org.offload4j.core.Backend bare = new org.offload4j.core.Backend() {
            @Override
            public String name() {
                return "bare";
            }

            @Override
            public String description() {
                return "the CPU backend without its FP8 quantization loops";
            }

            @Override
            public java.util.List<org.offload4j.core.Device> devices() {
                return cpu.devices();
            }

            @Override
            public <K> java.util.Optional<K> kernels(Class<K> kernelType) {
                return kernelType == Fp8QuantizeKernel.class ? java.util.Optional.empty() : cpu.kernels(kernelType);
            }
        };
        assertTrue(Fp8Quantizer.hostKernel(cpu) instanceof VectorFp8Quantize);
        assertTrue(Fp8Quantizer.hostKernel(bare) instanceof VectorFp8Quantize, "the CPU backend's, found through Backends");
        org.offload4j.attention.Attention att = org.offload4j.attention.Attention.create(bare);
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 9, 64), 3, 1.0);
             var want = Fp8Quantizer.quantize(x, org.offload4j.attention.ScaleGranularity.PER_TENSOR);
             var got = att.quantize(x, org.offload4j.attention.ScaleGranularity.PER_TENSOR, null)) {
            assertArrayEquals(bytes(want.data()), bytes(got.data()));
        }
    }
}
