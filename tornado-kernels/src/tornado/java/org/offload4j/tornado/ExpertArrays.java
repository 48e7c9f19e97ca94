package org.offload4j.tornado;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import org.offload4j.core.Tensor;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * One matrix's {@code [E, rows, cols]} expert weights in host arrays, as {@link MoeKernels#gemm}
 * reads them, in the form {@code fmt} ({@link MoeKernels#W_FP32}, {@code W_BF16} or
 * {@code W_INT4}); the arrays of the other forms are one-element placeholders. {@code group} and
 * {@code symmetric} describe int4 weights (1 and 0 otherwise). A plan sends them to its device on
 * its first run ({@link #sendOnce}).
 */
record ExpertArrays(int fmt, int rows, int cols, FloatArray f, ShortArray bf16, IntArray q, IntArray qz, FloatArray qs, int group,
                    int symmetric) {

    /**
     * {@code matrix} of {@code w} in its own format where the kernel reads it (bf16 as raw bits,
     * W4A16 as GPTQ words, zero points and fp32 scales; another kernel's prepared copy shares
     * its arrays), any other format decoded to fp32.
     */
    static ExpertArrays copyOf(ExpertWeights w, ExpertWeights.Matrix matrix) {
        return switch (w) {
            case TornadoExpertWeights prepared -> prepared.arrays(matrix); // read-only: shared
            case Bf16ExpertWeights bf -> bf16(bf16Bits(bf.tensor(matrix), matrix), matrix.rows(w), matrix.cols(w));
            case W4A16ExpertWeights q -> int4(q, matrix);
            default -> new ExpertArrays(MoeKernels.W_FP32, matrix.rows(w), matrix.cols(w), decodeToFp32(w, matrix), new ShortArray(1),
                    new IntArray(1), new IntArray(1), new FloatArray(1), 1, 0);
        };
    }

    private static ExpertArrays bf16(ShortArray bits, int rows, int cols) {
        return new ExpertArrays(MoeKernels.W_BF16, rows, cols, new FloatArray(1), bits, new IntArray(1), new IntArray(1), new FloatArray(1),
                1, 0);
    }

    /** The experts' GPTQ words and zero points side by side, [E·rows/8, cols] and [E·rows/g, cols/8], and their scales in fp32. */
    private static ExpertArrays int4(W4A16ExpertWeights w, ExpertWeights.Matrix matrix) {
        int experts = w.experts();
        QuantizedWeight first = w.weight(matrix, 0);
        int rows = first.k();
        int cols = first.n();
        int g = first.groupSize();
        int groups = rows / g;
        boolean symmetric = first.symmetric();
        IntArray q = new IntArray(Plans.elements("MoE " + matrix + " int4 words", experts, rows / 8, cols));
        IntArray qz = symmetric ? new IntArray(1) : new IntArray(Plans.elements("MoE " + matrix + " int4 zeros", experts, groups, cols / 8));
        FloatArray qs = new FloatArray(Plans.elements("MoE " + matrix + " int4 scales", experts, groups, cols));
        for (int e = 0; e < experts; e++) {
            QuantizedWeight qw = w.weight(matrix, e);
            Plans.load(qw.qweight(), q, (long) e * (rows / 8) * cols);
            if (!symmetric) {
                Plans.load(qw.qzeros(), qz, (long) e * groups * (cols / 8));
            }
            for (int gi = 0; gi < groups; gi++) {
                for (int c = 0; c < cols; c++) {
                    qs.set((e * groups + gi) * cols + c, qw.scale(gi, c));
                }
            }
        }
        return new ExpertArrays(MoeKernels.W_INT4, rows, cols, new FloatArray(1), new ShortArray(1), q, qz, qs, g, symmetric ? 1 : 0);
    }

    /** The rows of a bf16 {@code [E, rows, cols]} tensor, any row stride, packed as raw bits. */
    private static ShortArray bf16Bits(Tensor t, ExpertWeights.Matrix matrix) {
        ShortArray a = new ShortArray(Plans.elements("MoE " + matrix + " bf16 weights", t.rows(), t.cols()));
        Plans.load(t, a);
        return a;
    }

    private static FloatArray decodeToFp32(ExpertWeights w, ExpertWeights.Matrix matrix) {
        int rows = matrix.rows(w);
        int cols = matrix.cols(w);
        FloatArray a = new FloatArray(Plans.elements("MoE " + matrix + " weights decoded to fp32", w.experts(), rows, cols));
        float[] buf = new float[rows * cols];
        for (int e = 0; e < w.experts(); e++) {
            w.decode(matrix, e, 0, rows, 0, cols, buf, 0, cols);
            MemorySegment.copy(buf, 0, a.getSegment(), ValueLayout.JAVA_FLOAT, 4L * e * rows * cols, buf.length);
        }
        return a;
    }

    /** Bytes of weight data held (host and device each), placeholders aside. */
    long bytes() {
        return switch (fmt) {
            case MoeKernels.W_BF16 -> 2L * bf16.getSize();
            case MoeKernels.W_INT4 -> 4L * q.getSize() + (symmetric == 1 ? 0 : 4L * qz.getSize()) + 4L * qs.getSize();
            default -> 4L * f.getSize();
        };
    }

    void sendOnce(TaskGraph g) {
        g.transferToDevice(DataTransferMode.FIRST_EXECUTION, f, bf16, q, qz, qs);
    }

    /**
     * The fp32 value of element {@code (row, col)} of expert {@code e}'s matrix: exactly what
     * {@link MoeKernels#gemm} stages for it (bf16 widened, int4 {@code (q − z)·s} rounded once),
     * which is also what the source weights' {@link ExpertWeights#decode} gives.
     */
    float value(int e, int row, int col) {
        Objects.checkIndex(row, rows);
        Objects.checkIndex(col, cols);
        return switch (fmt) {
            case MoeKernels.W_BF16 -> Float.intBitsToFloat((bf16.get(Math.toIntExact(((long) e * rows + row) * cols + col)) & 0xFFFF) << 16);
            case MoeKernels.W_INT4 -> int4Value(e, row, col);
            default -> f.get(Math.toIntExact(((long) e * rows + row) * cols + col));
        };
    }

    private float int4Value(int e, int row, int col) {
        int groups = rows / group;
        int word = q.get(Math.toIntExact(((long) e * (rows / 8) + row / 8) * cols + col));
        int nibble = (word >>> (4 * (row & 7))) & 15;
        int gi = row / group;
        int zero = 8;
        if (symmetric == 0) {
            zero = (qz.get(Math.toIntExact(((long) e * groups + gi) * (cols / 8) + col / 8)) >>> (4 * (col & 7))) & 15;
        }
        return (nibble - zero) * qs.get(Math.toIntExact(((long) e * groups + gi) * cols + col));
    }
}
