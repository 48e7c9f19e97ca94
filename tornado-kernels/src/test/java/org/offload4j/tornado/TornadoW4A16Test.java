package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Reference;

/**
 * The TornadoVM W4A16 kernels against the float64 product: m = 1 (most splits) to odd m, every
 * group size (32, 64, 128, k), symmetric and not, every scale and activation dtype, bias of
 * each kind, strided X and Y (the gaps must stay untouched). Tolerance 5e-3.
 */
@Tag("tornado")
class TornadoW4A16Test {
    private static final double TOLERANCE = 5e-3;
    private static final byte GAP = 0x5A;

    record Case(int m, int k, int n, int groupSize, boolean symmetric, DType scaleType, DType xType, DType biasType, int pad) {
        @Override
        public String toString() {
            return "m=" + m + " k=" + k + " n=" + n + " g=" + (groupSize == -1 ? "k" : groupSize) + (symmetric ? " sym" : " asym")
                    + " s=" + scaleType + " x=" + xType + " bias=" + biasType + (pad > 0 ? " pad=" + pad : "");
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(1, 4096, 8, 128, false, DType.FP16, DType.BF16, null, 0),
                new Case(1, 256, 136, 32, true, DType.BF16, DType.FP16, DType.FP32, 0),
                new Case(2, 256, 72, 32, false, DType.BF16, DType.BF16, DType.FP32, 0),   // one row block, 2 rows aliased
                new Case(3, 384, 24, 128, false, DType.FP32, DType.BF16, DType.BF16, 8),
                new Case(4, 256, 56, 64, true, DType.FP16, DType.FP16, null, 0),         // one full row block
                new Case(5, 128, 40, 128, false, DType.BF16, DType.BF16, null, 4),        // a full block and a 1-row one
                new Case(7, 192, 40, 64, false, DType.FP16, DType.FP16, DType.FP16, 0),
                new Case(17, 104, 136, -1, true, DType.BF16, DType.BF16, null, 16),
                new Case(64, 512, 264, 64, false, DType.FP16, DType.BF16, DType.FP32, 0),
                // SplitK edges (2^17 work-items targeted, ⌈m/4⌉·n per split for m > 1): ⌈m/4⌉·n = 2^17
                // gives one split; k/8 = 45 words in 23 splits of 2 leaves a last split of 1 word.
                new Case(64, 64, 8192, 32, false, DType.FP16, DType.BF16, null, 0),
                new Case(64, 64, 2048, 32, false, DType.FP16, DType.BF16, null, 0),      // 4 splits
                new Case(1, 360, 8, -1, false, DType.BF16, DType.FP16, DType.FP32, 0),
                new Case(6, 360, 8, -1, false, DType.BF16, DType.BF16, null, 0));        // the same at m > 1
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesReference(Case c) {
        W4A16 op = W4A16.create(TornadoTests.backend());
        long seed = TornadoTests.seed(c);
        try (Arena arena = Arena.ofShared();
             Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, c.k, c.n), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, c.groupSize, c.symmetric, c.scaleType);
             W4A16.Prepared prepared = op.prepare(w)) {
            Tensor x = strided(arena, c.xType, c.m, c.k, c.pad);
            TensorFill.gaussian(x, seed + 1, 1.0);
            Tensor y = TensorFill.poison(strided(arena, c.xType, c.m, c.n, c.pad));
            Tensor bias = c.biasType == null ? null : TensorFill.gaussian(Tensor.allocate(arena, c.biasType, c.n), seed + 2, 0.5);
            double[] want = W4A16Reference.product(x, w, bias);
            for (int rep = 0; rep < 2; rep++) { // the second call reuses the compiled plan and the weight on the device
                TensorFill.poison(y);
                op.matmul(x, prepared, bias, y);
                assertFalse(TensorFill.hasPoison(y), TornadoTests.why(seed, c + ": an element of y was not written"));
                double err = Accuracy.relativeL2(want, y);
                assertTrue(err <= TOLERANCE, TornadoTests.why(seed, c + " call " + rep + ": relative L2 " + err + " > " + TOLERANCE));
            }
            MemorySegment ySeg = y.segment();
            for (long r = 0; r + 1 < c.m && c.pad > 0; r++) {
                for (long b = y.rowByteOffset(r) + 2L * c.n; b < y.rowByteOffset(r + 1); b++) {
                    assertEquals(GAP, ySeg.get(ValueLayout.JAVA_BYTE, b), c + ": gap byte after row " + r + " written");
                }
            }
        }
    }

    private static Tensor strided(Arena arena, DType type, int rows, int cols, int pad) {
        if (pad == 0) {
            return Tensor.allocate(arena, type, rows, cols);
        }
        long stride = cols + pad;
        MemorySegment seg = arena.allocate(type.byteSize((rows - 1) * stride + cols), 64);
        seg.fill(GAP);
        return Tensor.wrapStrided(seg, type, stride, new long[] {rows, cols});
    }
}
