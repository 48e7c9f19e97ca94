package org.offload4j.core;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;

/** Test-input helpers: seeded random fills and poisoning of outputs before a run. */
public final class TensorFill {
    private TensorFill() {}

    /**
     * Fills with seeded N(0, std²) samples rounded to the tensor's dtype (int types: uniform over
     * their range). Row-major order, so the same seed gives the same tensor whatever its stride.
     */
    public static Tensor gaussian(Tensor t, long seed, double std) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment s = t.segment();
        if (t.elementCount() == 0) {
            return t; // rows may still be huge ([2^40, 0]): no loop over them
        }
        for (long r = 0; r < t.rows(); r++) {
            long base = r * t.rowStride();
            for (long c = 0; c < t.cols(); c++) {
                long i = base + c;
                switch (t.dtype()) {
                    case FP32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (rnd.nextGaussian() * std));
                    case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Bf16.fromFloat((float) (rnd.nextGaussian() * std)));
                    case FP16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Fp16.fromFloat((float) (rnd.nextGaussian() * std)));
                    case INT4 -> t.setInt(r, c, rnd.nextInt(16));
                    case INT32 -> t.setInt(r, c, rnd.nextInt());
                    default -> t.setFloat(r, c, (float) (rnd.nextGaussian() * std));
                }
            }
        }
        return t;
    }

    /** One N(0,1) sample from the generator (deterministic for a given generator state). */
    public static double gaussian(SplittableRandom rnd) {
        return rnd.nextGaussian();
    }

    /**
     * Overwrites every byte of the tensor's rows with a pattern that decodes to NaN in every
     * floating-point dtype (0xFF…: NaN in fp32, bf16, fp16, E4M3 and E5M2), so that an element a
     * kernel forgot to write shows up as non-finite.
     */
    public static Tensor poison(Tensor t) {
        MemorySegment s = t.segment();
        if (t.elementCount() == 0) {
            return t;
        }
        for (long r = 0; r < t.rows(); r++) {
            long off = t.rowByteOffset(r);
            s.asSlice(off, t.dtype().byteSize(t.cols())).fill((byte) 0xFF);
        }
        return t;
    }

    /**
     * True if any element of the rows is not finite: the poison (NaN) left where nothing was
     * written, or a NaN or infinity the op produced. A check on inputs whose correct outputs are
     * finite, as the benchmarks' Gaussian inputs are, reads it as "an element was not written".
     */
    public static boolean hasPoison(Tensor t) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("poison check needs a floating-point tensor, got " + t.dtype());
        }
        return Accuracy.firstNonFinite(t) >= 0;
    }
}
