package org.offload4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The batch-reduce GEMM micro-kernel (BRGEMM) under the CPU backend's matrix products:
 * <pre>
 *   C[m × n] = (accumulate ? C : 0) + Σ_{i &lt; batch} A_i[m × kb] · B_i[kb × n]
 *   A_i[r][kk] = a[aOff[i] + r·lda + kk]     row-major, any offsets (a k-slice of X, an expert's rows …)
 *   B_i[kk][j] = b[bOff[i] + kk·ldb + j]     row-major, usually a packed panel or an L1-resident
 *                                            tile (a dequantized W4A16 slab, a widened bf16 panel)
 *   C[r][j]    = c[cAt + r·ldc + j]          fp32
 * </pre>
 * The accumulators of a register tile stay in registers across the whole batch: C is loaded
 * and stored once per call, however many blocks are reduced into it, which is the point of a
 * batch-reduce kernel (a plain GEMM called per block would round-trip C through L1 per block).
 * Without {@code accumulate} the block of C is first cleared (see {@link #fp32} why), so C must
 * not overlap any A_i or B_i.
 * Accumulation is fp32, in batch then k order, one FMA per product.
 *
 * <h2>Register blocking, and why</h2>
 * A tile is {@code MR} rows × {@code NR} vectors of C. Per k step it loads NR vectors of B,
 * broadcasts MR scalars of A and issues MR·NR FMAs; it needs MR·NR accumulators + NR B vectors
 * + 1 broadcast register.
 * <ul>
 *   <li><b>AVX-512 (16 floats, 32 zmm registers): 6 × 4</b> = 24 accumulators + 4 + 1 = 29
 *       registers, 64 columns. Loads per FMA: (4 + 6) / 24 = 0.42, well under the two loads per
 *       cycle of Zen 4/5 and Intel cores, and 24 independent chains cover FMA latency × pipes
 *       (4 × 2 = 8) three times. The alternatives with ≤ 29 registers: 8 × 3 (24 acc, 0.46
 *       loads/FMA, 48 columns: an awkward panel width), 14 × 2 (28 acc + 2 + 1 = 31: no room
 *       for C2's own temporaries, and 0.57 loads/FMA) and 4 × 6 (24 acc + 6 + 1 = 31, same).</li>
 *   <li><b>AVX2 and SSE (8 or 4 floats, 16 registers): 4 × 2</b> = 8 + 2 + 1 = 11 registers, 8
 *       FMA chains (latency 4 × 2 pipes). 6 × 2 (12 + 2 + 1 = 15) was the choice first, and it is
 *       what the MoE kernel's own tile measured best on Zen 3 before it moved onto this class,
 *       but here C2 (JDK 25) runs out of the 16 general registers (six A row offsets, six C row
 *       offsets, the batch and k indices, the arrays), parks int values in ymm registers, and
 *       then keeps several accumulators on the stack: every FMA a load and a store. At
 *       {@code -XX:UseAVX=2} on Zen 4 that ran at 36–43 % of the FMA peak (1024³: 47.8 ms);
 *       4 × 2 runs at 69–77 % (28.0 ms). Keeping only {@code cAt} live across the loop did not
 *       save 6 × 2 (48.6 ms). 4 × 3 spills the broadcast; 6 × 4 would need 29 registers.</li>
 *   <li>{@link #NR_MAX} is 4 when vectors have ≥ 16 floats, else 2; narrower column strips
 *       (a B of 2 or 1 vectors, or the strip left over) use NR = 2 or 1 with the same MR.</li>
 *   <li><b>Row tiles</b> ({@link #rowTiles}). With MR = 6: tiles of 6, 4 or 1 rows: m = 6q + r
 *       runs q tiles of 6 and the rest as 5 → one 6-row tile, 3–4 → one 4-row tile, 1–2 after a
 *       6 → the last 6 + r rows as 4 + (2 + r) (m = 8 is two 4-row tiles, not 6 + 1 + 1: each
 *       pass of a tile reloads B). With MR = 4: tiles of 4, the rest as one 4-row tile (2–3 rows)
 *       or a 1-row tile. A tile with fewer valid rows than its height aliases the missing rows to
 *       its last row: they compute the same values from the same inputs and store them to the
 *       same place, so no branch is needed in or after the loop.</li>
 *   <li><b>Column tails</b> (n not a multiple of the vector): the last {@code n mod L} columns
 *       of B and C go through a zero-padded one-vector scratch strip. Callers that care pad
 *       their panels to whole vectors instead.</li>
 * </ul>
 * Cache blocking is the caller's: keep each B_i within L1/L2 (a 256 × 64 fp32 panel slice is
 * 64 KiB) and call once per row block. {@link #gemm} is such a caller, for whole matrices.
 *
 * <h2>bf16 inputs</h2>
 * {@link #bf16} takes A and B as bf16 bit patterns ({@code short[]}) and accumulates in fp32.
 * bf16 → fp32 is exact: the 16 bits move to the high half of an int ({@code short → int}
 * lane-wise convert, {@code << 16}, reinterpret as float; the Vector API intrinsics compile that
 * to vpmovsxwd + vpslld). The blocks are widened once per call into thread-local fp32 scratch
 * (A: m·kb, B: kb·n per block), then the fp32 tiles run: each widened element is reused by n
 * (A) or m (B) FMAs, so the conversion costs 1/n + 1/m of the arithmetic. Widening inside the k
 * loop instead repeats the conversion for every row tile, on the same ports as the loads (the
 * MoE kernel measured it and dropped it).
 */
public final class Brgemm {
    static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** A constant: {@code F.withLanes(int.class)} computed in the loop kept C2 from intrinsifying the widening (3–8 ns per element). */
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    static final int L = F.length();
    /** Widest register tile in vectors: 4 with 32 vector registers (AVX-512), 2 with 16. */
    static final int NR_MAX = L >= 16 ? 4 : 2;
    /** Tallest register tile in rows: 6 with 16-float vectors (AVX-512, 32 registers), else 4 (AVX2/SSE: 16 registers; NEON too, conservatively). */
    static final int MR = L >= 16 ? 6 : 4;

    /**
     * Per-thread scratch ({@link ThreadArrays}): {@link #bf16}'s widened blocks and offsets,
     * {@link #gemm}'s packed B, {@link #gemmBf16}'s widened A. Kept up to 256 MiB, not the default
     * 16: the whole-matrix GEMMs pack all of B (64 MiB at 4096²), and allocating that per call
     * made a 4096³ call 11 % (fp32) and 25 % (bf16, a widened A too) slower, measured.
     */
    private static final ThreadArrays SCRATCH = new ThreadArrays(6, 256L << 20);
    private static final int WIDE_A = 0;
    private static final int WIDE_B = 1;
    private static final int A_OFFSETS = 2;
    private static final int B_OFFSETS = 3;
    private static final int PACKED_B = 4;
    private static final int GEMM_A = 5;

    private Brgemm() {}

    /** Floats per vector on this machine. */
    public static int lanes() {
        return L;
    }

    /** Columns of the widest register tile: the panel width {@link #gemm} packs B into. */
    public static int panelWidth() {
        return NR_MAX * L;
    }

    /** The offsets of a batch of one block starting at index 0. {@link #fp32} only reads its offset arrays; never write this one. */
    static final int[] NO_OFFSET = {0};

    /**
     * {@code C = (accumulate ? C : 0) + Σ_i A_i · B_i}, fp32 (see the class comment for the
     * layout). C must not overlap A or B. No argument checks beyond the JVM's array bounds:
     * callers are the kernels.
     */
    public static void fp32(int m, int n, int kb, int batch, float[] a, int[] aOff, int lda,
                            float[] b, int[] bOff, int ldb, float[] c, int cAt, int ldc, boolean accumulate) {
        if (m <= 0 || n <= 0) {
            return;
        }
        // The tiles always start from C: a tile that chose between loading C and a zero vector
        // compiled, once both had been seen, to code at 35 % of the FMA peak instead of 97 % (C2
        // merges the two vector values in a phi; measured with both flags in one JVM, 41 against
        // 113 GFLOP/s for a 96 × 64 × 256 call). Clearing the block first costs m·n stores.
        if (!accumulate) {
            for (int r = 0; r < m; r++) {
                java.util.Arrays.fill(c, cAt + r * ldc, cAt + r * ldc + n, 0f);
            }
        }
        if (kb <= 0 || batch <= 0) {
            return;
        }
        int j = 0;
        while (n - j >= L) {
            int nr = Math.min(NR_MAX, (n - j) / L);
            nr = nr == 3 ? 2 : nr;
            strip(nr, m, kb, batch, a, aOff, lda, b, bOff, j, ldb, c, cAt + j, ldc);
            j += nr * L;
        }
        if (j < n) {
            columnTail(m, n - j, kb, batch, a, aOff, lda, b, bOff, j, ldb, c, cAt + j, ldc);
        }
    }

    /** One column strip of {@code nr} vectors, all rows, in the row tiles of {@link #rowTiles}. */
    private static void strip(int nr, int m, int kb, int batch, float[] a, int[] aOff, int lda, float[] b, int[] bOff,
                              int bCol, int ldb, float[] c, int cAt, int ldc) {
        for (int row = 0; row < m; ) {
            int height = tileHeight(m - row);
            int rows = Math.min(height, m - row);
            tile(height, rows, nr, kb, batch, a, aOff, row, lda, b, bOff, bCol, ldb, c, cAt + row * ldc, ldc);
            row += rows;
        }
    }

    /**
     * The height of the next row tile when {@code left} rows remain (the class comment's row
     * tiles): with MR = 6, 6 while at least 9 rows or exactly 5 or 6 remain, so that the last 7
     * or 8 rows go as 4 + 3 or 4 + 4 and the last 2–4 as one 4-row tile; with MR = 4, 4; a lone
     * last row, 1.
     */
    static int tileHeight(int left) {
        if (MR == 6 && (left >= 9 || left == 5 || left == 6)) {
            return 6;
        }
        return left == 1 ? 1 : 4;
    }

    /**
     * The row tiles {@link #fp32} runs for {@code m} rows, as (tile height, valid rows) pairs, in
     * the order {@link #strip} runs them: documents and tests the choice.
     */
    static int[][] rowTiles(int m) {
        java.util.List<int[]> out = new java.util.ArrayList<>();
        for (int row = 0; row < m; ) {
            int height = tileHeight(m - row);
            int rows = Math.min(height, m - row);
            out.add(new int[] {height, rows});
            row += rows;
        }
        return out.toArray(int[][]::new);
    }

    private static void tile(int mr, int rows, int nr, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                             float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        switch (mr * 8 + nr) {
            case 6 * 8 + 4 -> k6x4(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 6 * 8 + 2 -> k6x2(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 6 * 8 + 1 -> k6x1(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 4 * 8 + 4 -> k4x4(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 4 * 8 + 2 -> k4x2(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 4 * 8 + 1 -> k4x1(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 1 * 8 + 4 -> k1x4(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 1 * 8 + 2 -> k1x2(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            case 1 * 8 + 1 -> k1x1(rows, kb, batch, a, aOff, aRow, lda, b, bOff, bCol, ldb, c, cAt, ldc);
            default -> throw new AssertionError("no " + mr + " × " + nr + " tile");
        }
    }

    /** The last {@code w < L} columns: B_i's and C's columns copied into zero-padded one-vector strips. */
    private static void columnTail(int m, int w, int kb, int batch, float[] a, int[] aOff, int lda, float[] b,
                                   int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        float[] bt = new float[batch * kb * L];
        int[] bto = new int[batch];
        for (int i = 0; i < batch; i++) {
            bto[i] = i * kb * L;
            for (int kk = 0; kk < kb; kk++) {
                System.arraycopy(b, bOff[i] + kk * ldb + bCol, bt, bto[i] + kk * L, w);
            }
        }
        float[] ct = new float[m * L];
        for (int r = 0; r < m; r++) {
            System.arraycopy(c, cAt + r * ldc, ct, r * L, w);
        }
        strip(1, m, kb, batch, a, aOff, lda, bt, bto, 0, L, ct, 0, L);
        for (int r = 0; r < m; r++) {
            System.arraycopy(ct, r * L, c, cAt + r * ldc, w);
        }
    }

    /**
     * {@code C = (accumulate ? C : 0) + Σ_i A_i · B_i} with A and B as bf16 bit patterns and fp32
     * accumulation; same layout as {@link #fp32}. Each block is widened once into thread-local
     * scratch (see the class comment), then the fp32 tiles run.
     */
    public static void bf16(int m, int n, int kb, int batch, short[] a, int[] aOff, int lda,
                            short[] b, int[] bOff, int ldb, float[] c, int cAt, int ldc, boolean accumulate) {
        if (m <= 0 || n <= 0) {
            return;
        }
        int aBlock = m * kb;
        int bBlock = kb * n;
        float[] af = SCRATCH.floats(WIDE_A, (long) batch * aBlock);
        float[] bf = SCRATCH.floats(WIDE_B, (long) batch * bBlock);
        int[] ao = SCRATCH.ints(A_OFFSETS, batch);
        int[] bo = SCRATCH.ints(B_OFFSETS, batch);
        for (int i = 0; i < batch; i++) {
            ao[i] = i * aBlock;
            bo[i] = i * bBlock;
            for (int r = 0; r < m; r++) {
                widen(a, aOff[i] + r * lda, af, ao[i] + r * kb, kb);
            }
            for (int kk = 0; kk < kb; kk++) {
                widen(b, bOff[i] + kk * ldb, bf, bo[i] + kk * n, n);
            }
        }
        fp32(m, n, kb, batch, af, ao, kb, bf, bo, n, c, cAt, ldc, accumulate);
    }

    /** {@code dst[at ..] = fp32(src[from ..])} for {@code len} bf16 values: shift into the high half. */
    static void widen(short[] src, int from, float[] dst, int at, int len) {
        int i = 0;
        int upper = len - S.length();
        for (; i <= upper; i += S.length()) {
            ShortVector h = ShortVector.fromArray(S, src, from + i);
            ((IntVector) h.convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, at + i);
        }
        for (; i < len; i++) {
            dst[at + i] = Float.intBitsToFloat(src[from + i] << 16);
        }
    }

    // ------------------------------------------------------------------ whole-matrix driver

    /**
     * Most rows of A per task: 64 six-row tiles with AVX-512, 48 four-row tiles with narrower
     * vectors. A task's {@code MC × KC} block of A (384 KiB with AVX-512) stays in L2 while its row
     * tiles sweep the panel slice, and each slice of B, fetched from memory once per task and k
     * step, serves MC rows: the larger MC, the less B traffic per FLOP (A's traffic per FLOP is set
     * by the panel width, not by MC). With 96 rows (Zen 5, one thread, 4096³ fp32) B's slices alone
     * streamed about 4.8 GB/s at the FMA peak, beside about 7 GB/s of A's rows from L3, and the
     * kernel ran at 66–71 % of that peak against 80–82 % at 384 rows (2 threads: 64–69 against
     * 75 %; 192 rows: 77–78 and 73–75 %); see docs/results/2026-12-05j-cpu-zen5.md. Narrower
     * vectors (AVX2, SSE) take 192 rows (192 KiB of A), as some of those machines have 256 KiB of
     * L2; on the same Zen 5 at AVX2 width 4096³ ran 1.63–1.80 s with 192 rows, 1.74–2.73 s with 96.
     */
    static final int MC = L >= 16 ? 384 : 192;
    /** Depth of one panel slice: 256 × 64 floats = 64 KiB (AVX-512), in L2 while the task's row tiles use it. */
    static final int KC = 256;

    /**
     * Rows per task for m rows and {@code panels} column panels: m cut into
     * {@code ⌈m / MC⌉} blocks of nearly equal height, rounded up to whole register tiles, so that
     * no block is a thin remainder (m = 512: 258 + 254 rather than 384 + 128); into more blocks
     * when there would be fewer tasks than threads (a narrow C), as far as whole tiles allow, even
     * where that leaves one short extra block (m = 200, one panel, 8 threads: 8 × 24 + 8 rows
     * rather than 7 blocks of up to 30).
     */
    static int rowBlock(int m, int panels, int threads) {
        int blocks = Math.max(Math.ceilDiv(m, MC), Math.ceilDiv(threads, panels));
        blocks = Math.min(blocks, Math.ceilDiv(m, MR));
        int mc = Math.ceilDiv(Math.ceilDiv(m, blocks), MR) * MR;
        // Rounding up to whole tiles can drop a block; give it back where threads would idle.
        while (mc > MR && (long) Math.ceilDiv(m, mc) * panels < threads) {
            mc -= MR;
        }
        return mc;
    }

    /**
     * {@code c[m×n] = a[m×k] · b[k×n]}, all row-major fp32, on {@link CpuThreads}: B is packed
     * once into panels of {@link #panelWidth()} columns ({@code [n/NP][k][NP]}, zero-padded),
     * then each task (≤ {@link #MC} rows × one panel) walks k in slices of {@value #KC} and
     * reduces each slice into its block of C with one {@link #fp32} call.
     */
    public static void gemm(int m, int n, int k, float[] a, float[] b, float[] c) {
        checkSizes(m, n, k, a.length, b.length, c.length);
        int np = panelWidth();
        int panels = (n + np - 1) / np;
        float[] packed = packScratch((long) panels * k * np);
        CpuThreads.forRange(panels, 1, (from, to) -> {
            for (int p = (int) from; p < to; p++) {
                int w = Math.min(np, n - p * np);
                for (int kk = 0; kk < k; kk++) {
                    int at = (p * k + kk) * np;
                    System.arraycopy(b, kk * n + p * np, packed, at, w);
                    java.util.Arrays.fill(packed, at + w, at + np, 0f);
                }
            }
        });
        run(m, n, k, a, packed, c);
    }

    /**
     * {@code c[m×n] = a[m×k] · b[k×n]} with A and B as bf16 bit patterns, fp32 accumulation and
     * output: A is widened once, B widened while it is packed (both by shifts, in parallel), then
     * the fp32 path of {@link #gemm} runs.
     */
    public static void gemmBf16(int m, int n, int k, short[] a, short[] b, float[] c) {
        checkSizes(m, n, k, a.length, b.length, c.length);
        int np = panelWidth();
        int panels = (n + np - 1) / np;
        float[] packed = packScratch((long) panels * k * np);
        float[] af = SCRATCH.floats(GEMM_A, (long) m * k);
        CpuThreads.forRange(m, Math.max(1, (1 << 15) / k), (from, to) -> {
            for (int r = (int) from; r < to; r++) {
                widen(a, r * k, af, r * k, k);
            }
        });
        CpuThreads.forRange(panels, 1, (from, to) -> {
            for (int p = (int) from; p < to; p++) {
                int w = Math.min(np, n - p * np);
                for (int kk = 0; kk < k; kk++) {
                    int at = (p * k + kk) * np;
                    widen(b, kk * n + p * np, packed, at, w);
                    java.util.Arrays.fill(packed, at + w, at + np, 0f);
                }
            }
        });
        run(m, n, k, af, packed, c);
    }

    private static void run(int m, int n, int k, float[] a, float[] packed, float[] c) {
        int np = panelWidth();
        int panels = (n + np - 1) / np;
        int mc = rowBlock(m, panels, CpuThreads.threads());
        int rowBlocks = Math.ceilDiv(m, mc);
        // Tasks panel-major within a row block: consecutive tasks share the row block of A.
        CpuThreads.forRange((long) rowBlocks * panels, 1, (from, to) -> {
            int[] aOff = new int[1];
            int[] bOff = new int[1];
            for (long t = from; t < to; t++) {
                int rb = (int) (t / panels);
                int p = (int) (t % panels);
                int row0 = rb * mc;
                int rows = Math.min(mc, m - row0);
                int w = Math.min(np, n - p * np);
                for (int k0 = 0; k0 < k; k0 += KC) {
                    aOff[0] = row0 * k + k0;
                    bOff[0] = (p * k + k0) * np;
                    fp32(rows, w, Math.min(KC, k - k0), 1, a, aOff, k, packed, bOff, np, c, row0 * n + p * np, n, k0 > 0);
                }
            }
        });
    }

    /**
     * The median FLOP rate ({@code 2·size³} per run) of {@link #gemm} on seeded N(0, 1) inputs,
     * {@code runs} timed calls after {@code warmups} untimed ones: the CPU backend's matmul
     * ceiling ({@code CpuFloors}), "what this JVM reaches on this machine, now".
     */
    static double gemmFlopsPerSecond(int size, int warmups, int runs) {
        if (size < 1 || runs < 1 || warmups < 0) {
            throw new IllegalArgumentException("size = " + size + " and runs = " + runs + " must be ≥ 1, warmups = "
                    + warmups + " ≥ 0");
        }
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
        float[] a = new float[size * size];
        float[] b = new float[size * size];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
            b[i] = (float) rnd.nextGaussian();
        }
        float[] c = new float[size * size];
        for (int i = 0; i < warmups; i++) {
            gemm(size, size, size, a, b, c);
        }
        double[] seconds = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            gemm(size, size, size, a, b, c);
            seconds[i] = (System.nanoTime() - t0) * 1e-9;
        }
        java.util.Arrays.sort(seconds);
        return 2.0 * size * size * (double) size / seconds[runs / 2];
    }

    private static void checkSizes(int m, int n, int k, int aLen, int bLen, int cLen) {
        if (m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("sizes m = " + m + ", n = " + n + ", k = " + k + " must be positive");
        }
        if (aLen < (long) m * k || bLen < (long) k * n || cLen < (long) m * n || (long) m * k > Integer.MAX_VALUE - 64
                || (long) k * (n + panelWidth()) > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("arrays hold " + aLen + ", " + bLen + ", " + cLen + " elements; need "
                    + (long) m * k + ", " + (long) k * n + ", " + (long) m * n + " (each below 2^31)");
        }
    }

    /** The caller's packed-B buffer, reused across calls (kept up to {@link #SCRATCH}'s 256 MiB bound). */
    private static float[] packScratch(long floats) {
        return SCRATCH.floats(PACKED_B, floats);
    }

    // ------------------------------------------------------------------ register tiles (generated pattern: one per MR × NR)

    /** 6 rows (fewer alias the last) × 4 vectors: 24 accumulators. */
    static void k6x4(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int r4 = Math.min(4, last);
        int r5 = Math.min(5, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        int c4 = cAt + r4 * ldc;
        int c5 = cAt + r5 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        FloatVector s02 = FloatVector.fromArray(F, c, c0 + 2 * L);
        FloatVector s03 = FloatVector.fromArray(F, c, c0 + 3 * L);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + 1 * L);
        FloatVector s12 = FloatVector.fromArray(F, c, c1 + 2 * L);
        FloatVector s13 = FloatVector.fromArray(F, c, c1 + 3 * L);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + 1 * L);
        FloatVector s22 = FloatVector.fromArray(F, c, c2 + 2 * L);
        FloatVector s23 = FloatVector.fromArray(F, c, c2 + 3 * L);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + 1 * L);
        FloatVector s32 = FloatVector.fromArray(F, c, c3 + 2 * L);
        FloatVector s33 = FloatVector.fromArray(F, c, c3 + 3 * L);
        FloatVector s40 = FloatVector.fromArray(F, c, c4);
        FloatVector s41 = FloatVector.fromArray(F, c, c4 + 1 * L);
        FloatVector s42 = FloatVector.fromArray(F, c, c4 + 2 * L);
        FloatVector s43 = FloatVector.fromArray(F, c, c4 + 3 * L);
        FloatVector s50 = FloatVector.fromArray(F, c, c5);
        FloatVector s51 = FloatVector.fromArray(F, c, c5 + 1 * L);
        FloatVector s52 = FloatVector.fromArray(F, c, c5 + 2 * L);
        FloatVector s53 = FloatVector.fromArray(F, c, c5 + 3 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            int a4 = a0 + r4 * lda;
            int a5 = a0 + r5 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * L);
                FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                s02 = x.fma(b2, s02);
                s03 = x.fma(b3, s03);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
                s12 = x.fma(b2, s12);
                s13 = x.fma(b3, s13);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                s21 = x.fma(b1, s21);
                s22 = x.fma(b2, s22);
                s23 = x.fma(b3, s23);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
                s31 = x.fma(b1, s31);
                s32 = x.fma(b2, s32);
                s33 = x.fma(b3, s33);
                x = FloatVector.broadcast(F, a[a4 + kk]);
                s40 = x.fma(b0, s40);
                s41 = x.fma(b1, s41);
                s42 = x.fma(b2, s42);
                s43 = x.fma(b3, s43);
                x = FloatVector.broadcast(F, a[a5 + kk]);
                s50 = x.fma(b0, s50);
                s51 = x.fma(b1, s51);
                s52 = x.fma(b2, s52);
                s53 = x.fma(b3, s53);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
        s02.intoArray(c, c0 + 2 * L);
        s03.intoArray(c, c0 + 3 * L);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + 1 * L);
        s12.intoArray(c, c1 + 2 * L);
        s13.intoArray(c, c1 + 3 * L);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + 1 * L);
        s22.intoArray(c, c2 + 2 * L);
        s23.intoArray(c, c2 + 3 * L);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + 1 * L);
        s32.intoArray(c, c3 + 2 * L);
        s33.intoArray(c, c3 + 3 * L);
        s40.intoArray(c, c4);
        s41.intoArray(c, c4 + 1 * L);
        s42.intoArray(c, c4 + 2 * L);
        s43.intoArray(c, c4 + 3 * L);
        s50.intoArray(c, c5);
        s51.intoArray(c, c5 + 1 * L);
        s52.intoArray(c, c5 + 2 * L);
        s53.intoArray(c, c5 + 3 * L);
    }

    /** 6 rows (fewer alias the last) × 2 vectors: 12 accumulators. */
    static void k6x2(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int r4 = Math.min(4, last);
        int r5 = Math.min(5, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        int c4 = cAt + r4 * ldc;
        int c5 = cAt + r5 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + 1 * L);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + 1 * L);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + 1 * L);
        FloatVector s40 = FloatVector.fromArray(F, c, c4);
        FloatVector s41 = FloatVector.fromArray(F, c, c4 + 1 * L);
        FloatVector s50 = FloatVector.fromArray(F, c, c5);
        FloatVector s51 = FloatVector.fromArray(F, c, c5 + 1 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            int a4 = a0 + r4 * lda;
            int a5 = a0 + r5 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                s21 = x.fma(b1, s21);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
                s31 = x.fma(b1, s31);
                x = FloatVector.broadcast(F, a[a4 + kk]);
                s40 = x.fma(b0, s40);
                s41 = x.fma(b1, s41);
                x = FloatVector.broadcast(F, a[a5 + kk]);
                s50 = x.fma(b0, s50);
                s51 = x.fma(b1, s51);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + 1 * L);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + 1 * L);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + 1 * L);
        s40.intoArray(c, c4);
        s41.intoArray(c, c4 + 1 * L);
        s50.intoArray(c, c5);
        s51.intoArray(c, c5 + 1 * L);
    }

    /** 6 rows (fewer alias the last) × 1 vector: 6 accumulators. */
    static void k6x1(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int r4 = Math.min(4, last);
        int r5 = Math.min(5, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        int c4 = cAt + r4 * ldc;
        int c5 = cAt + r5 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s40 = FloatVector.fromArray(F, c, c4);
        FloatVector s50 = FloatVector.fromArray(F, c, c5);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            int a4 = a0 + r4 * lda;
            int a5 = a0 + r5 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
                x = FloatVector.broadcast(F, a[a4 + kk]);
                s40 = x.fma(b0, s40);
                x = FloatVector.broadcast(F, a[a5 + kk]);
                s50 = x.fma(b0, s50);
            }
        }
        s00.intoArray(c, c0);
        s10.intoArray(c, c1);
        s20.intoArray(c, c2);
        s30.intoArray(c, c3);
        s40.intoArray(c, c4);
        s50.intoArray(c, c5);
    }

    /** 4 rows (fewer alias the last) × 4 vectors: 16 accumulators. */
    static void k4x4(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        FloatVector s02 = FloatVector.fromArray(F, c, c0 + 2 * L);
        FloatVector s03 = FloatVector.fromArray(F, c, c0 + 3 * L);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + 1 * L);
        FloatVector s12 = FloatVector.fromArray(F, c, c1 + 2 * L);
        FloatVector s13 = FloatVector.fromArray(F, c, c1 + 3 * L);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + 1 * L);
        FloatVector s22 = FloatVector.fromArray(F, c, c2 + 2 * L);
        FloatVector s23 = FloatVector.fromArray(F, c, c2 + 3 * L);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + 1 * L);
        FloatVector s32 = FloatVector.fromArray(F, c, c3 + 2 * L);
        FloatVector s33 = FloatVector.fromArray(F, c, c3 + 3 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * L);
                FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                s02 = x.fma(b2, s02);
                s03 = x.fma(b3, s03);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
                s12 = x.fma(b2, s12);
                s13 = x.fma(b3, s13);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                s21 = x.fma(b1, s21);
                s22 = x.fma(b2, s22);
                s23 = x.fma(b3, s23);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
                s31 = x.fma(b1, s31);
                s32 = x.fma(b2, s32);
                s33 = x.fma(b3, s33);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
        s02.intoArray(c, c0 + 2 * L);
        s03.intoArray(c, c0 + 3 * L);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + 1 * L);
        s12.intoArray(c, c1 + 2 * L);
        s13.intoArray(c, c1 + 3 * L);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + 1 * L);
        s22.intoArray(c, c2 + 2 * L);
        s23.intoArray(c, c2 + 3 * L);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + 1 * L);
        s32.intoArray(c, c3 + 2 * L);
        s33.intoArray(c, c3 + 3 * L);
    }

    /** 4 rows (fewer alias the last) × 2 vectors: 8 accumulators. */
    static void k4x2(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + 1 * L);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + 1 * L);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + 1 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                s21 = x.fma(b1, s21);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
                s31 = x.fma(b1, s31);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + 1 * L);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + 1 * L);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + 1 * L);
    }

    /** 4 rows (fewer alias the last) × 1 vector: 4 accumulators. */
    static void k4x1(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            int a1 = a0 + r1 * lda;
            int a2 = a0 + r2 * lda;
            int a3 = a0 + r3 * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                x = FloatVector.broadcast(F, a[a1 + kk]);
                s10 = x.fma(b0, s10);
                x = FloatVector.broadcast(F, a[a2 + kk]);
                s20 = x.fma(b0, s20);
                x = FloatVector.broadcast(F, a[a3 + kk]);
                s30 = x.fma(b0, s30);
            }
        }
        s00.intoArray(c, c0);
        s10.intoArray(c, c1);
        s20.intoArray(c, c2);
        s30.intoArray(c, c3);
    }

    /** 1 rows (fewer alias the last) × 4 vectors: 4 accumulators. */
    static void k1x4(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int c0 = cAt;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        FloatVector s02 = FloatVector.fromArray(F, c, c0 + 2 * L);
        FloatVector s03 = FloatVector.fromArray(F, c, c0 + 3 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * L);
                FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                s02 = x.fma(b2, s02);
                s03 = x.fma(b3, s03);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
        s02.intoArray(c, c0 + 2 * L);
        s03.intoArray(c, c0 + 3 * L);
    }

    /** 1 rows (fewer alias the last) × 2 vectors: 2 accumulators. */
    static void k1x2(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int c0 = cAt;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + 1 * L);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector b1 = FloatVector.fromArray(F, b, bk + 1 * L);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
            }
        }
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + 1 * L);
    }

    /** 1 rows (fewer alias the last) × 1 vector: 1 accumulators. */
    static void k1x1(int rows, int kb, int batch, float[] a, int[] aOff, int aRow, int lda,
                     float[] b, int[] bOff, int bCol, int ldb, float[] c, int cAt, int ldc) {
        int c0 = cAt;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        for (int i = 0; i < batch; i++) {
            int a0 = aOff[i] + aRow * lda;
            for (int kk = 0, bk = bOff[i] + bCol; kk < kb; kk++, bk += ldb) {
                FloatVector b0 = FloatVector.fromArray(F, b, bk);
                FloatVector x = FloatVector.broadcast(F, a[a0 + kk]);
                s00 = x.fma(b0, s00);
            }
        }
        s00.intoArray(c, c0);
    }
}
