package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import jdk.incubator.vector.ShortVector;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;

/**
 * bf16 expert weights copied into the order in which {@link VectorMoeKernel}'s tiles consume
 * them ({@link VectorMoeKernel#prepare}): the CPU backend's own layout, owned by this object
 * until {@link #close()}.
 *
 * <h2>Layout (V floats per vector: 16 with AVX-512, 8 with AVX2, 4 with SSE; a sliver is 2V columns)</h2>
 * <pre>
 *  matrix M [K, N] of expert e, cut into row blocks of BLOCK_ROWS = 128 and column slivers:
 *
 *              sliver 0      sliver 1             sliver S−1
 *  block 0   ┌────────────┬────────────┬ … ┬────────────┐   each cell: depth × 2V bf16,
 *  (rows     │ 128 × 2V   │ 128 × 2V   │   │ 128 × 2V   │   row after row (64 B per row with
 *   0..127)  ├────────────┼────────────┼ … ┼────────────┤   AVX-512), zero beyond the matrix
 *  block 1   │            │            │   │            │
 *    …       └────────────┴────────────┴ … ┴────────────┘   the last block holds the rows left (1–128)
 *
 *  storage: [e][block][sliver][row in block][2V]    (each block's cells one after another)
 *
 *  sliver s of W1 (GATE_UP): V gate columns sV .. sV+V−1 | the same V up columns d_ff + sV ..
 *  sliver s of W2 (DOWN):    the 2V consecutive columns 2sV .. 2sV+2V−1
 * </pre>
 * A task of the panel path reads one block of a range of slivers: one contiguous run of memory
 * (176 KiB for a WIDE task: 22 slivers × 128 rows × 64 B) that the hardware prefetchers follow,
 * instead of 2 × 704 B pieces of 128 weight rows 2.8 KiB apart in the row-major tensors, which
 * no prefetcher follows across pages (see {@link VectorMoeKernel}, "Prepared weights"). A
 * streamed task reads, per block, 128 rows of one sliver from 8 KiB of consecutive memory.
 *
 * <p>Why 128 rows: the WIDE panels are 128 rows deep and the NARROW ones 256 (two blocks). Why the
 * sliver's SwiGLU pairing: it is the panel's, so a block of slivers widens into the panel with
 * unit-stride loads and stores. The plain {@code groupedGemm} of W1 ({@code MoeLayer.gateUp})
 * wants 2V consecutive columns instead: it reads them a vector at a time ({@link #plainVector};
 * half a sliver row each), or, when {@code d_ff} is not a multiple of V (a vector would straddle
 * gate and up), through {@link #decode}: correct, and slow.
 *
 * <p>The values are the source's bf16 bits, so every result equals the one from the source
 * weights bit for bit (the kernels' order of sums does not depend on the layout).
 */
final class SliverBf16ExpertWeights implements ExpertWeights, AutoCloseable {
    /** Rows of one block: the WIDE panel depth, half the NARROW one. */
    static final int BLOCK_ROWS = 128;
    private static final int V = VectorMoeKernel.V;
    private static final int SLIVER = VectorMoeKernel.SLIVER;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private final int experts;
    private final int dModel;
    private final int dFf;
    private final Tensor w1;
    private final Tensor w2;
    /** Elements of one expert's W1 and W2 in this layout. */
    private final long perExpert1;
    private final long perExpert2;

    private SliverBf16ExpertWeights(int experts, int dModel, int dFf, Tensor w1, Tensor w2) {
        this.experts = experts;
        this.dModel = dModel;
        this.dFf = dFf;
        this.w1 = w1;
        this.w2 = w2;
        this.perExpert1 = perExpert(Matrix.GATE_UP, this);
        this.perExpert2 = perExpert(Matrix.DOWN, this);
    }

    /** A copy of {@code source}'s bits (bf16 stays bf16: the results do not change); the source is not retained. */
    static SliverBf16ExpertWeights copyOf(Bf16ExpertWeights source) {
        int e = source.experts();
        Tensor w1 = null;
        Tensor w2 = null;
        try {
            w1 = Tensor.allocate(DType.BF16, e, perExpert(Matrix.GATE_UP, source));
            w2 = Tensor.allocate(DType.BF16, e, perExpert(Matrix.DOWN, source));
            SliverBf16ExpertWeights copy = new SliverBf16ExpertWeights(e, source.dModel(), source.dFf(), w1, w2);
            for (Matrix m : Matrix.values()) {
                copy.fill(m, source.tensor(m));
            }
            return copy;
        } catch (RuntimeException | Error ex) {
            if (w1 != null) {
                w1.close();
            }
            if (w2 != null) {
                w2.close();
            }
            throw ex;
        }
    }

    /** Elements of one expert's matrix in this layout: K rows × S slivers × 2V. */
    private static long perExpert(Matrix m, ExpertWeights w) {
        return Math.multiplyExact((long) m.rows(w), (long) slivers(m, w) * SLIVER);
    }

    /** Slivers of {@code m}: {@code ⌈d_ff / V⌉} gate|up pairs for W1, {@code ⌈d_model / 2V⌉} for W2. */
    static int slivers(Matrix m, ExpertWeights w) {
        return m == Matrix.GATE_UP ? (w.dFf() + V - 1) / V : (w.dModel() + SLIVER - 1) / SLIVER;
    }

    /**
     * Each row's runs of V columns (half a sliver) copied as they are from the row-major bf16
     * tensor to {@link #element}'s index, row after row of the source: whole runs as one vector
     * load and store, the last partial run of a half by {@link MemorySegment#copy}. Copying every
     * run with {@code MemorySegment.copy} prepared 1.3 GB/s at Mixtral's shape; this 1.6–1.9 GB/s
     * (one thread, Zen 4; allocating and zeroing the copy is part of both).
     */
    private void fill(Matrix m, Tensor src) {
        int k = m.rows(this);
        int half = m == Matrix.GATE_UP ? dFf : dModel;
        int halves = m == Matrix.GATE_UP ? 2 : 1;
        MemorySegment from = src.segment();
        MemorySegment to = tensor(m).segment();
        boolean vectors = VectorMoeKernel.vectorAddressable(from) && VectorMoeKernel.vectorAddressable(to);
        for (int e = 0; e < experts; e++) {
            for (int r = 0; r < k; r++) {
                long rowAt = src.rowByteOffset((long) e * k + r);
                for (int h = 0; h < halves; h++) {
                    for (int j = 0; j < half; j += V) {
                        int c = h * half + j;
                        long dst = 2 * element(m, e, r, c);
                        if (vectors && j + V <= half) {
                            ShortVector.fromMemorySegment(VectorMoeKernel.S, from, rowAt + 2L * c, ORDER).intoMemorySegment(to, dst, ORDER);
                        } else {
                            MemorySegment.copy(from, rowAt + 2L * c, to, dst, 2L * Math.min(V, half - j));
                        }
                    }
                }
            }
        }
    }

    /** The element index of {@code M[e][r][c]} in the layout above. */
    long element(Matrix m, int e, int r, int c) {
        int sliver;
        int lane;
        if (m == Matrix.GATE_UP) {
            int up = c >= dFf ? 1 : 0;
            int j = c - up * dFf;
            sliver = j / V;
            lane = up * V + j % V;
        } else {
            sliver = c / SLIVER;
            lane = c % SLIVER;
        }
        return blockStart(m, e, r) + (long) sliver * blockDepth(m, r) * SLIVER + (long) (r % BLOCK_ROWS) * SLIVER + lane;
    }

    /** The element index where row {@code r}'s block of expert {@code e} starts (its sliver 0, row 0). */
    long blockStart(Matrix m, int e, int r) {
        long firstRow = (long) r / BLOCK_ROWS * BLOCK_ROWS;
        return e * (m == Matrix.GATE_UP ? perExpert1 : perExpert2) + firstRow * slivers(m, this) * SLIVER;
    }

    /**
     * The element index of row {@code b0} (the first row of a block) of column vector {@code j}
     * (columns {@code jV .. jV+V−1}) of {@code m} in plain column order: W2's sliver {@code j/2},
     * lanes {@code (j mod 2)·V ..}; W1's gate vector j in sliver j, or its up vector
     * {@code j − d_ff/V} in that sliver's lanes {@code V ..}. Needs V to divide d_ff for W1
     * ({@link #readsPlainVectors}), so that the vector's first column starts a lane run of V.
     * The block's next rows follow every 2V elements.
     */
    long plainVector(Matrix m, int e, int b0, int j) {
        return element(m, e, b0, j * V);
    }

    /** Whether {@link #plainVector} serves a GEMM of {@code m} without the SwiGLU pairing. */
    boolean readsPlainVectors(Matrix m) {
        return m == Matrix.DOWN || dFf % V == 0;
    }

    /** Rows of the block that holds row {@code r}: 128, the last one what is left. */
    int blockDepth(Matrix m, int r) {
        int firstRow = r / BLOCK_ROWS * BLOCK_ROWS;
        return Math.min(BLOCK_ROWS, m.rows(this) - firstRow);
    }

    /**
     * Whether the slivers of {@code m} are those of a GEMM with ({@code swiglu}) or without the
     * SwiGLU pairing: W1 is stored paired for the expert MLP, W2 plain; W1 without the pairing
     * (the plain {@code groupedGemm} of GATE_UP) is read by {@link #plainVector}.
     */
    boolean pairsHalves(Matrix m, boolean swiglu) {
        return swiglu == (m == Matrix.GATE_UP);
    }

    /** The storage of {@code m}: {@code [E, K·S·2V]} bf16 in the layout above. */
    Tensor tensor(Matrix m) {
        return m == Matrix.GATE_UP ? w1 : w2;
    }

    @Override
    public int experts() {
        return experts;
    }

    @Override
    public int dModel() {
        return dModel;
    }

    @Override
    public int dFf() {
        return dFf;
    }

    @Override
    public String format() {
        return "bf16, CPU slivers of " + SLIVER + " columns in " + BLOCK_ROWS + "-row blocks";
    }

    @Override
    public boolean isAlive() {
        return w1.isAlive() && w2.isAlive();
    }

    @Override
    public boolean overlaps(Tensor t) {
        return t.overlaps(w1) || t.overlaps(w2);
    }

    @Override
    public void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols,
                       float[] dst, int dstOffset, int dstStride) {
        Objects.checkIndex(expert, experts);
        Objects.checkFromIndexSize(row0, rows, matrix.rows(this));
        Objects.checkFromIndexSize(col0, cols, matrix.cols(this));
        if (rows == 0 || cols == 0) {
            return;
        }
        Objects.checkFromIndexSize(dstOffset, (long) (rows - 1) * dstStride + cols, dst.length);
        MemorySegment seg = tensor(matrix).segment();
        for (int r = 0; r < rows; r++) {
            int d = dstOffset + r * dstStride;
            for (int c = 0; c < cols; c++) {
                short bits = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * element(matrix, expert, row0 + r, col0 + c));
                dst[d + c] = Float.intBitsToFloat((bits & 0xFFFF) << 16);
            }
        }
    }

    /** Frees the copy; afterwards {@link #isAlive()} is false and a layer using it refuses to run. Idempotent. */
    @Override
    public void close() {
        try {
            w1.close();
        } finally {
            w2.close();
        }
    }

    @Override
    public String toString() {
        return "SliverBf16ExpertWeights[E=" + experts + ", d_model=" + dModel + ", d_ff=" + dFf + ", slivers of " + SLIVER + "]";
    }
}
