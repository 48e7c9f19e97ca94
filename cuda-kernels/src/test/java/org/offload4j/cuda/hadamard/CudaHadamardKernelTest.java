package org.offload4j.cuda.hadamard;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;

/**
 * The CUDA Hadamard kernel against the float64 reference: every accepted d, every dtype, rows
 * 1, 7 and 129 (129 only up to d = 4096, to bound the reference's time), both directions, in
 * place, strided rows and sign vectors. Outputs are poisoned first; every element must be written.
 * Skipped, with the reason, where no CUDA backend comes up.
 */
class CudaHadamardKernelTest {
    private static final DType[] DTYPES = {DType.FP32, DType.BF16, DType.FP16};

    static double tolerance(DType t) {
        return switch (t) {
            case FP32 -> 1e-6;
            case BF16 -> 4e-3;
            default -> 1e-3;
        };
    }

    static List<Integer> sizes() {
        List<Integer> out = new ArrayList<>();
        for (int d = 2; d <= HadamardSize.MAX_D; d++) {
            if (HadamardSize.isSupported(d)) {
                out.add(d);
            }
        }
        return out;
    }

    private static boolean fits(HadamardSize size) {
        return HadamardLaunch.smemBytes(size) <= GpuAvailable.backend().device().maxSharedPerBlockOptin();
    }

    @GpuTest
    void everySizeDtypeAndRowCountThroughTheFacade() {
        Hadamard op = Hadamard.create(GpuAvailable.backend());
        long seed = 20261204L;
        for (int d : sizes()) {
            HadamardSize size = HadamardSize.of(d);
            if (!fits(size)) {
                continue; // documented limit of this version (sm_86/sm_89, d ≥ 28672)
            }
            for (DType dtype : DTYPES) {
                for (int rows : d <= 4096 ? new int[] {1, 7, 129} : new int[] {1, 7}) {
                    boolean inverse = ((d + rows) & 1) == 1;
                    try (Tensor in = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), ++seed, 1.0);
                         Tensor out = TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                        float scale = Hadamard.defaultScale(d);
                        if (inverse) {
                            op.inverse(in, out);
                        } else {
                            op.transform(in, out);
                        }
                        double[] ref = HadamardReference.compute(in, size, scale, inverse, null, null);
                        String ctx = size + " " + dtype + " rows=" + rows + (inverse ? " inverse" : "") + " seed=" + seed;
                        assertFalse(TensorFill.hasPoison(out), "unwritten or non-finite output: " + ctx);
                        double err = Accuracy.relativeL2(ref, out);
                        assertTrue(err <= tolerance(dtype), "rel L2 " + err + " > " + tolerance(dtype) + ": " + ctx);
                    }
                }
            }
        }
    }

    @GpuTest
    void inPlaceStridedAndSigns() {
        HadamardKernel kernel = GpuAvailable.backend().kernels(HadamardKernel.class).orElseThrow();
        SplittableRandom rnd = new SplittableRandom(7);
        for (int d : new int[] {2, 12, 20, 28, 40, 96, 1024, 5120, 7168, 16384}) {
            HadamardSize size = HadamardSize.of(d);
            for (DType dtype : DTYPES) {
                float[] pre = new float[d];
                float[] post = new float[d];
                for (int i = 0; i < d; i++) {
                    pre[i] = rnd.nextBoolean() ? 1f : -1f;
                    post[i] = rnd.nextBoolean() ? 1f : -1f;
                }
                int rows = 7;
                float scale = 0.5f / (float) Math.sqrt(d);
                // d + 3: no tensor-core kernel takes it (4-element vector rows), the CUDA-core one runs;
                // d + 4: the tensor-core kernels (register, shared-memory, m·2^k) run with both signs.
                for (long stride : new long[] {d + 3, d + 4}) {
                    try (Arena arena = Arena.ofConfined()) {
                        Tensor in = TensorFill.gaussian(Tensor.wrapStrided(arena.allocate(dtype.byteSize((rows - 1) * stride + d), 16),
                                dtype, stride, rows, d), d * 31L + stride + dtype.ordinal(), 1.0);
                        double[] ref = HadamardReference.compute(in, size, scale, true, pre, post);
                        kernel.transform(in, in, size, scale, true, pre, post); // in place, strided, both sign vectors
                        String ctx = size + " " + dtype + " in place, stride " + stride;
                        assertFalse(TensorFill.hasPoison(in), ctx);
                        double err = Accuracy.relativeL2(ref, in);
                        assertTrue(err <= tolerance(dtype), "rel L2 " + err + ": " + ctx);
                    }
                }
            }
        }
    }
}
