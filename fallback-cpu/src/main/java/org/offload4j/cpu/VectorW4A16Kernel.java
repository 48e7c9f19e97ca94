package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16Kernel;

/**
 * W4A16 matmul on the CPU with the Vector API: a streaming GEMV for one row of X, a multi-row
 * GEMV for 2 to {@value #GEMV_MAX_ROWS} rows (chunks of up to 4 rows share each unpacked nibble), and
 * for more rows a GEMM over weight tiles dequantized once into L1.
 *
 * <h2>Packed layout ({@link #prepack})</h2>
 * L = floats per vector (8 with AVX2), NB = 2L columns per block (16), g = group size.
 * Columns are cut into {@code ⌈n / NB⌉} blocks, the last padded with zero weights (s = 0).
 * Each block is one contiguous run of ints in a Java {@code int[]}, group after group:
 * <pre>
 *  block b ─┬─ group 0 ─┬─ s[0, j]        NB floats (as int bits)     scale, fp32
 *           │           ├─ −z·s[0, j]     NB floats                   zero term, fp32
 *           │           └─ words (r, j)   g/8 rows × NB ints          the GPTQ words, unchanged:
 *           │                                                         q of row 8r+i in bits 4i..4i+3
 *           ├─ group 1 ─ …
 * </pre>
 * A thread working on a block reads one sequential stream (what the hardware prefetcher wants;
 * GPTQ's row-major {@code qweight} would make it jump {@code 4n} bytes per word row). The nibbles
 * stay packed along k, so one {@link IntVector} load gives 8 rows × L columns and the columns
 * are the vector lanes: no horizontal sums. Scales are widened to fp32 and zeros folded into
 * {@code −z·s} once, here, instead of on every call. The cost is 8 bytes per column and group
 * instead of GPTQ's 2.5 (fp16 scale, 4-bit zero): 9.0 instead of 8.3 MiB at 4096², g = 128 (+8%).
 *
 * <h2>GEMV (m = 1; 2 ≤ m ≤ 12 in chunks of up to 4 rows, see {@link #gemvRows}): the weight streams once per chunk, threads split the column blocks</h2>
 * <pre>
 *  x row (bf16|fp16) ──widen, × 2^E──▶ x'[k] fp32, and per group  Σx·2^(E−149)  (caller thread)
 *  per block, per group:   acc[j] = Σ_kk x'[kk] · asFloat(q[kk, j])          (4 accumulators; 8 with AVX-512)
 *                          y'[j] += s[j]·acc[j] + (−z·s)[j]·Σx·2^(E−149)
 *  per block:              y[j] = round(y'[j] · 2^(149−E) + bias[j])  ──▶ y row
 * </pre>
 * <b>The int4 → float step costs one AND.</b> The low nibble of a word, {@code w & 0xF}, read as
 * float bits is the subnormal {@code q · 2^−149}: no int-to-float conversion is needed, and
 * {@code fma} multiplies subnormals exactly and at full speed on current x86 cores (measured on
 * AMD Zen 3: same rate as normal operands). X is scaled by {@code 2^E} with
 * {@code E = 126 − exponent(max|x|)} so that the products land back in the normal range, and the
 * block result is scaled back by {@code 2^(149−E)} (two exact power-of-two multiplies). Each
 * nibble then costs: AND, FMA, and a 4-bit logical shift to bring the next one down.
 * The algebra {@code Σ x(q − z)s = s·Σ xq − zs·Σ x} moves the zero out of the inner loop.
 * <p>Rejected alternatives, measured on this loop (Zen 3, one thread, 4096², g = 128):
 * <ul>
 *   <li>{@code ((w >>> 4i) & 0xF)} then an int→float {@code convert}: one more op per nibble;
 *       1.1 ms in its best tiling against 0.72 ms.</li>
 *   <li>Eight per-nibble masks {@code w & (0xF << 4i)} (no shift chain, x pre-scaled by
 *       {@code 16^−i}): C2 rematerializes each mask from the constant table and hoists the ANDs
 *       ahead of the FMAs, spilling accumulators: 1.0–1.1 ms.</li>
 *   <li>More than 4 accumulators (4 column vectors, or 4 chains per column): C2's scheduler
 *       hoists the loads and ANDs, runs out of the 16 ymm registers and spills accumulators into
 *       a store-to-load chain: 1.0–1.9 ms. Two column vectors × two chains (even/odd nibble)
 *       is the largest tile that compiles without a spill.</li>
 *   <li>Packed weights in a {@code MemorySegment}: every vector load kept its bounds check
 *       (long offsets defeat range-check elimination) and the loop ran 1.5–1.7× slower than
 *       on an {@code int[]}.</li>
 * </ul>
 * Accuracy: the products are exact, the sums fp32. Activations below {@code max|x| · 2^−100} in
 * the same row, and results below {@code max|x| · 2^−100} in magnitude, lose precision
 * (subnormal range); non-finite X gives non-finite Y.
 *
 * <h2>GEMM (m ≥ 4): dequantize a tile once into L1, then BRGEMM</h2>
 * <pre>
 *  X rows (≤ 256 at a time) ──widen──▶ xf[rows][k] fp32                    (parallel over rows)
 *  task = (row block of ≤ 64 rows) × (TILE_BLOCKS packed blocks = TILE_COLS columns), over CpuThreads:
 *    for each k-slab of KB rows:
 *      DEQUANT  w[kk][j] = fma(float(q), s, −z·s)  ──▶ wt[KB][TILE_COLS] fp32, 32 KiB (AVX-512:
 *               128 × 64) or 16 KiB (AVX2: 256 × 16), stays in L1
 *      BRGEMM   yt[rows][TILE_COLS] (+)= xf[rows][k-slab] · wt       ({@link Brgemm#fp32}: 6 × 4
 *               register tiles with AVX-512, 4 × 2 with AVX2; 4-row tiles for tails)
 *    EMIT     y = round(yt + bias) ──▶ y rows
 * </pre>
 * Dequantization (and, convert, fma, store, shift per 8 weights) is paid once per row block and
 * shared by up to 64 rows; the micro-kernel does one FMA per weight and row with both operands
 * from L1. With AVX-512 two packed blocks are dequantized side by side so that the register
 * tile is 4 vectors wide (24 accumulators, 0.42 loads per FMA instead of 0.67 at 6 × 2); the
 * blocking of the tiles themselves is {@link Brgemm}'s (see there why).
 *
 * <h2>Conversions</h2>
 * bf16 X is widened with integer shifts ({@code short → int, << 16}, a lane-wise op). fp16 X
 * uses {@link Float#float16ToFloat} per element (HotSpot's F16C intrinsic; the Vector API has no
 * half-float conversion). bf16 Y is rounded with integer ops (nearest-even, NaN kept quiet);
 * fp16 Y with {@link Float#floatToFloat16}.
 *
 * <h2>Threads</h2>
 * Work is spread with {@link CpuThreads#forRange}; when X, Y or the bias live in a confined
 * arena (usable by the calling thread only) the whole call runs on the calling thread
 * ({@link CpuThreads#onTensors}).
 *
 * <h2>Scratch</h2>
 * Per-call buffers (X in fp32, bias, group sums) belong to the calling thread and per-task tiles
 * to each thread that runs tasks, in {@link ThreadArrays} slots that grow on demand (arrays over
 * 16 MiB serve one call): nothing is allocated per element, and steady-state calls allocate
 * nothing but the loop descriptor of {@link CpuThreads#forRange} and a small view of the
 * buffers.
 */
final class VectorW4A16Kernel implements W4A16Kernel {
    static final VectorSpecies<Float> FS = CpuBackend.FLOATS;
    static final VectorSpecies<Integer> IS = FS.withLanes(int.class).check(int.class);
    static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    static final int L = FS.length();
    /** Columns per packed block: two vectors, the widest tile C2 compiles without spilling. */
    static final int NB = 2 * L;
    /**
     * Packed blocks a GEMM tile dequantizes side by side: as many as fill the widest {@link Brgemm}
     * register tile (2 blocks = 4 vectors = 64 columns with AVX-512, 1 block = 2 vectors with AVX2).
     */
    static final int TILE_BLOCKS = Math.max(1, Brgemm.NR_MAX / 2);
    /** Columns of one dequantized GEMM tile. */
    static final int TILE_COLS = TILE_BLOCKS * NB;
    /**
     * Rows of the k-slab a GEMM task dequantizes at a time: KB × TILE_COLS floats = 32 KiB with
     * AVX-512 (128 × 64) and 16 KiB with AVX2 (256 × 16), within L1.
     */
    static final int KB = 256 / TILE_BLOCKS;
    /** Rows of X converted and processed together by the GEMM path (bounds the fp32 copy of X). */
    static final int ROW_CHUNK = 256;
    /**
     * Up to this many rows of X run as a multi-row GEMV ({@link #gemvRows}: the weight is read
     * and unpacked once per chunk of four rows, each nibble feeds every row of the chunk). Before
     * it, m = 2 and 3 ran as separate one-row GEMVs (measured on Zen 3, 4096², one thread: m = 2
     * took 2.7 ms as GEMM, 1.5 ms as two GEMVs). On Zen 4 (AVX-512, one thread, 4096²) two chunks
     * beat the dequantize-then-BRGEMM path up to m = 8: 3.6–3.8 against 4.3 ms at m = 8, 2.8
     * against 4.0 ms at m = 5 and 6. At m = 16 the GEMM path (6.8–7.0 ms) beats four chunks
     * (about 7.3 ms, 4 × m = 4). Between (2026-12-04, quiet Zen 4, -Xbatch, GEMM path → three
     * chunks): m = 9 5.16 → 4.49 ms on one thread, 2.58 → 2.32 on two; m = 10 2.56 → 2.35 (two);
     * m = 12 5.76 → 5.30 (one), 2.73 → 2.81 (two, within the noise). So three chunks, up to 12.
     */
    static final int GEMV_MAX_ROWS = 12;
    /** Rows per GEMM task at most. */
    static final int ROW_BLOCK = 64;
    /** Weights per parallel chunk at least; below it the cost of sharing a loop dominates. */
    static final long MIN_WEIGHTS_PER_TASK = 1 << 17;

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** 2^−149 (Float.MIN_VALUE): the value of the subnormal whose bits are 1. */
    private static final int SUBNORMAL_EXPONENT = -149;

    /** Per-thread scratch ({@link ThreadArrays}): {@link CallBuffers}' arrays on the calling thread, a task's tiles on each thread that runs tasks. */
    private static final ThreadArrays SCRATCH = new ThreadArrays(12, ThreadArrays.KEEP_BYTES);
    private static final int CALL_X = 0;
    private static final int CALL_BIAS = 1;
    private static final int CALL_GROUP_SUMS = 2;
    private static final int CALL_ROW_OFFSETS = 3;
    private static final int CALL_SUM_OFFSETS = 4;
    private static final int CALL_UNSCALE1 = 5;
    private static final int CALL_UNSCALE2 = 6;
    /** {@code int[1]}: 1 while a call on this thread uses the CALL_ slots. */
    private static final int CALL_BUSY = 7;
    private static final int TASK_ROW = 8;
    private static final int TASK_TILE = 9;
    private static final int TASK_ROWS = 10;
    /** {@code int[1]}: the A offset of a {@link Brgemm} call (a batch of one). */
    private static final int TASK_OFFSETS = 11;

    // ------------------------------------------------------------------ prepack

    @Override
    public PackedWeight prepack(QuantizedWeight w) {
        int k = w.k();
        int n = w.n();
        int g = w.groupSize();
        int groups = k / g;
        int blocks = (n + NB - 1) / NB;
        int groupInts = NB * (2 + g / 8);
        long total = (long) blocks * groups * groupInts;
        if (total > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("w (" + w + ") is too large for the CPU backend's packed layout: "
                    + total + " ints; at most " + (Integer.MAX_VALUE - 16));
        }
        int[] data = new int[(int) total];
        Tensor qweight = w.qweight();
        MemorySegment qseg = qweight.segment();
        for (int b = 0; b < blocks; b++) {
            int cols = Math.min(NB, n - b * NB);
            for (int gi = 0; gi < groups; gi++) {
                int p = (b * groups + gi) * groupInts;
                for (int c = 0; c < cols; c++) {
                    int j = b * NB + c;
                    float s = w.scale(gi, j);
                    data[p + c] = Float.floatToRawIntBits(s);
                    data[p + NB + c] = Float.floatToRawIntBits((float) (-(double) w.zero(gi, j) * s));
                }
                int q = p + 2 * NB;
                for (int r = gi * g / 8; r < (gi + 1) * g / 8; r++, q += NB) {
                    long rowOff = qweight.rowByteOffset(r) + 4L * b * NB;
                    MemorySegment.copy(qseg, ValueLayout.JAVA_INT_UNALIGNED, rowOff, data, q, cols);
                }
            }
        }
        return new Packed(k, n, g, blocks, groupInts, data);
    }

    /** The CPU layout described in the class comment; {@link #close()} drops the array. */
    static final class Packed implements PackedWeight {
        final int k;
        final int n;
        final int groupSize;
        final int groups;
        final int blocks;
        final int groupInts;
        final int blockInts;
        private volatile int[] data;

        Packed(int k, int n, int groupSize, int blocks, int groupInts, int[] data) {
            this.k = k;
            this.n = n;
            this.groupSize = groupSize;
            this.groups = k / groupSize;
            this.blocks = blocks;
            this.groupInts = groupInts;
            this.blockInts = groups * groupInts;
            this.data = data;
        }

        @Override
        public int k() {
            return k;
        }

        @Override
        public int n() {
            return n;
        }

        @Override
        public int groupSize() {
            return groupSize;
        }

        /** Bytes of the packed copy. */
        long byteSize() {
            int[] d = data;
            return d == null ? 0 : 4L * d.length;
        }

        int[] data() {
            int[] d = data;
            if (d == null) {
                throw new IllegalStateException("packed weight is closed");
            }
            return d;
        }

        @Override
        public void close() {
            data = null;
        }
    }

    // ------------------------------------------------------------------ matmul

    @Override
    public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
        CpuThreads.onTensors(() -> run(x, (Packed) w, bias, y), x, y, bias);
    }

    private void run(Tensor x, Packed p, Tensor bias, Tensor y) {
        int m = (int) x.dim(0);
        int[] busy = callBusyFlag();
        // A matmul re-entered on this thread (from a parallel chunk of an outer op that calls it)
        // must not overwrite the buffers of the outer call: it gets arrays of its own.
        boolean nested = busy[0] != 0;
        CallBuffers cb = new CallBuffers(nested, m, p, bias != null);
        busy[0] = 1;
        try {
            float[] biasF = null;
            if (bias != null) {
                biasF = cb.bias(p.n);
                widenRow(bias.segment(), 0, bias.dtype(), p.n, biasF, 0);
            }
            if (m == 1) {
                gemv(x, 0, p, biasF, y, cb);
            } else if (m <= GEMV_MAX_ROWS && m % 4 == 1) {
                // A last chunk of one row: the one-row kernel, not the 2-row block with a duplicated row
                // (n = k = 4096, -Xbatch: m = 5 2.72 → 2.27 ms on one thread, 1.40 → 1.24–1.35 on two;
                // m = 9 4.49 → 4.16 and 2.15 → 2.11).
                gemvRows(x, m - 1, p, biasF, y, cb);
                gemv(x, m - 1, p, biasF, y, cb);
            } else if (m <= GEMV_MAX_ROWS) {
                gemvRows(x, m, p, biasF, y, cb);
            } else {
                gemm(x, p, biasF, y, cb);
            }
        } finally {
            busy[0] = nested ? 1 : 0;
        }
    }

    /** This thread's flag ({@code int[1]}): 1 while a call on it uses the CALL_ slots. Package-private for the tests. */
    static int[] callBusyFlag() {
        return SCRATCH.fixed(CALL_BUSY, () -> new int[1]);
    }

    // ------------------------------------------------------------------ GEMV

    private void gemv(Tensor x, int row, Packed p, float[] biasF, Tensor y, CallBuffers cb) {
        int k = p.k;
        float[] xq = cb.x(k);
        float[] xsum = cb.groupSums(p.groups);
        int back = prepareRow(x, row, p, xq, 0, xsum, 0);
        boolean masked = MASKED_GEMV;
        if (masked) {
            prescaleNibbles(xq, k);
        }
        // y = y' · 2^(149 − E), split in two factors that are each a normal float.
        float unscale1 = Math.scalb(1f, back >> 1);
        float unscale2 = Math.scalb(1f, back - (back >> 1));
        MemorySegment ySeg = y.segment();
        long yOff = y.rowByteOffset(row);
        DType yType = y.dtype();
        int[] data = p.data();
        long grain = Math.max(1, MIN_WEIGHTS_PER_TASK / ((long) k * NB));
        CpuThreads.forRange(p.blocks, grain, (from, to) -> {
            float[] yb = SCRATCH.floats(TASK_ROW, NB);
            for (int b = (int) from; b < to; b++) {
                if (masked) {
                    gemvBlockMasked(data, b * p.blockInts, p.groups, p.groupInts, p.groupSize, xq, xsum, yb);
                } else {
                    gemvBlock(data, b * p.blockInts, p.groups, p.groupInts, p.groupSize, xq, xsum, yb);
                }
                int col = b * NB;
                int cols = Math.min(NB, p.n - col);
                finish(yb, cols, unscale1, unscale2, biasF, col);
                narrowRow(yb, 0, cols, ySeg, yOff + 2L * col, yType);
            }
        });
    }

    /**
     * Row {@code row} of X widened into {@code xq[at ..]} and scaled by 2^E (E = 126 − exponent of
     * max|x|), its group sums Σx·2^(E−149) into {@code xsum[sat ..]}; returns 149 − E, the
     * exponent that scales the block results back.
     */
    private static int prepareRow(Tensor x, int row, Packed p, float[] xq, int at, float[] xsum, int sat) {
        int k = p.k;
        widenRow(x.segment(), x.rowByteOffset(row), x.dtype(), k, xq, at);
        float maxAbs = maxAbs(xq, at, k);
        int e = maxAbs == 0 ? 0 : Math.getExponent(maxAbs);
        int scaleExp = 126 - e;
        // Group sums before scaling: a sum of values near 2^126 would overflow fp32.
        for (int gi = 0; gi < p.groups; gi++) {
            xsum[sat + gi] = (float) Math.scalb((double) sum(xq, at + gi * p.groupSize, p.groupSize),
                    scaleExp + SUBNORMAL_EXPONENT);
        }
        int firstStep = Math.max(-126, Math.min(127, scaleExp));
        scaleInPlace(xq, at, k, Math.scalb(1f, firstStep));
        if (scaleExp != firstStep) {
            // max|x| is subnormal or non-finite: 2^E is not a float; the second factor finishes it exactly.
            scaleInPlace(xq, at, k, Math.scalb(1f, scaleExp - firstStep));
        }
        return -SUBNORMAL_EXPONENT - scaleExp;
    }

    /**
     * Whether the one-row GEMV unpacks nibbles 0..5 with masks ({@link #gemvBlockMasked}): with 32
     * vector registers (AVX-512, 16 floats) the 6 masks stay in registers. Measured in one JVM,
     * interleaved A/B, one thread, 4096², g = 128, weights rotated from DRAM, on the shared
     * 2-vCPU AVX-512 EPYC (load 6 from other builds): 4–14 % faster in three rounds (961 vs
     * 1006 µs median in the quietest), identical outputs (then; the 8 accumulators since change the
     * order of the sums). With AVX2's 16 registers the masks
     * spill (see "Rejected alternatives" above), so the shift chain stays there.
     */
    static final boolean MASKED_GEMV = L >= 16;

    /** {@code x[kk] ·= 2^(−4·(kk mod 8))} for {@code kk mod 8 ≤ 5}: the scale the masked nibbles 0..5 carry. */
    private static void prescaleNibbles(float[] xq, int k) {
        for (int kk = 0; kk < k; kk += 8) {
            for (int i = 1; i < 6; i++) {
                xq[kk + i] *= Math.scalb(1f, -4 * i);
            }
        }
    }

    /**
     * {@link #gemvBlock} with nibbles 0..5 taken in place by a mask ({@code w & (0xF << 4i)}, read
     * as the subnormal {@code q · 2^(4i − 149)}; x carries the {@code 2^−4i}, so every product is
     * exactly the one of the shift chain), and nibbles 6, 7 by {@code >>> 24} then {@code & 0xF},
     * and {@code >>> 28}: per word vector 9 integer ops (vpandd, vpsrld) instead of 14, beside the
     * same 8 FMAs. Nibbles 6 and 7 cannot be masked in place: bits 24..31 are the float's exponent
     * and sign.
     * <p><b>Eight accumulators</b> (nibble {@code i} of each column vector into chain {@code i mod 4}),
     * not {@link #gemvBlock}'s four: a core with two full-width 512-bit FMA pipes and a 4-cycle
     * latency needs 8 independent chains to keep them busy, and 32 registers hold them (8 sums, 6
     * masks, 2 words, x, temporaries). On Zen 5 (2026-12-05, two threads, four interleaved rounds)
     * 4096² went from 220–236 to 178–206 µs and 14336 × 4096 from 778–906 to 663–862 µs; one
     * thread was unchanged (443–494 against 342–441 µs, noisy): it streams the weight at about
     * 20 GB/s, what one core reads there (a plain vector read loop: 19–24 GB/s). The sums are
     * added in another order than with four chains, so results differ from the AVX2 path in the
     * last fp32 bits.
     */
    private static void gemvBlockMasked(int[] d, int base, int groups, int groupInts, int groupSize, float[] xq,
                                        float[] xsum, float[] yb) {
        IntVector m0 = IntVector.broadcast(IS, 0xF);
        IntVector m1 = IntVector.broadcast(IS, 0xF0);
        IntVector m2 = IntVector.broadcast(IS, 0xF00);
        IntVector m3 = IntVector.broadcast(IS, 0xF000);
        IntVector m4 = IntVector.broadcast(IS, 0xF0000);
        IntVector m5 = IntVector.broadcast(IS, 0xF00000);
        FloatVector y0 = FloatVector.zero(FS);
        FloatVector y1 = FloatVector.zero(FS);
        int wordRows = groupSize >>> 3;
        for (int gi = 0, p = base; gi < groups; gi++, p += groupInts) {
            FloatVector a0 = FloatVector.zero(FS);
            FloatVector a1 = FloatVector.zero(FS);
            FloatVector a2 = FloatVector.zero(FS);
            FloatVector a3 = FloatVector.zero(FS);
            FloatVector b0 = FloatVector.zero(FS);
            FloatVector b1 = FloatVector.zero(FS);
            FloatVector b2 = FloatVector.zero(FS);
            FloatVector b3 = FloatVector.zero(FS);
            int q = p + 2 * NB;
            int kx = gi * groupSize;
            for (int r = 0; r < wordRows; r++, q += NB, kx += 8) {
                IntVector w0 = IntVector.fromArray(IS, d, q);
                IntVector w1 = IntVector.fromArray(IS, d, q + L);
                FloatVector xv = FloatVector.broadcast(FS, xq[kx]);
                a0 = w0.and(m0).reinterpretAsFloats().fma(xv, a0);
                b0 = w1.and(m0).reinterpretAsFloats().fma(xv, b0);
                xv = FloatVector.broadcast(FS, xq[kx + 1]);
                a1 = w0.and(m1).reinterpretAsFloats().fma(xv, a1);
                b1 = w1.and(m1).reinterpretAsFloats().fma(xv, b1);
                xv = FloatVector.broadcast(FS, xq[kx + 2]);
                a2 = w0.and(m2).reinterpretAsFloats().fma(xv, a2);
                b2 = w1.and(m2).reinterpretAsFloats().fma(xv, b2);
                xv = FloatVector.broadcast(FS, xq[kx + 3]);
                a3 = w0.and(m3).reinterpretAsFloats().fma(xv, a3);
                b3 = w1.and(m3).reinterpretAsFloats().fma(xv, b3);
                xv = FloatVector.broadcast(FS, xq[kx + 4]);
                a0 = w0.and(m4).reinterpretAsFloats().fma(xv, a0);
                b0 = w1.and(m4).reinterpretAsFloats().fma(xv, b0);
                xv = FloatVector.broadcast(FS, xq[kx + 5]);
                a1 = w0.and(m5).reinterpretAsFloats().fma(xv, a1);
                b1 = w1.and(m5).reinterpretAsFloats().fma(xv, b1);
                IntVector t0 = w0.lanewise(VectorOperators.LSHR, 24);
                IntVector t1 = w1.lanewise(VectorOperators.LSHR, 24);
                xv = FloatVector.broadcast(FS, xq[kx + 6]);
                a2 = t0.and(m0).reinterpretAsFloats().fma(xv, a2);
                b2 = t1.and(m0).reinterpretAsFloats().fma(xv, b2);
                xv = FloatVector.broadcast(FS, xq[kx + 7]);
                a3 = w0.lanewise(VectorOperators.LSHR, 28).reinterpretAsFloats().fma(xv, a3);
                b3 = w1.lanewise(VectorOperators.LSHR, 28).reinterpretAsFloats().fma(xv, b3);
            }
            FloatVector xs = FloatVector.broadcast(FS, xsum[gi]);
            y0 = IntVector.fromArray(IS, d, p).reinterpretAsFloats().fma(a0.add(a1).add(a2.add(a3)), y0);
            y0 = IntVector.fromArray(IS, d, p + NB).reinterpretAsFloats().fma(xs, y0);
            y1 = IntVector.fromArray(IS, d, p + L).reinterpretAsFloats().fma(b0.add(b1).add(b2.add(b3)), y1);
            y1 = IntVector.fromArray(IS, d, p + NB + L).reinterpretAsFloats().fma(xs, y1);
        }
        y0.intoArray(yb, 0);
        y1.intoArray(yb, L);
    }

    /**
     * One column block for one row: {@code yb[0, NB)} gets the scaled result y'. The hot loop of
     * the GEMV; see the class comment for why it is written out this way.
     */
    private static void gemvBlock(int[] d, int base, int groups, int groupInts, int groupSize, float[] xq,
                                  float[] xsum, float[] yb) {
        IntVector nibble = IntVector.broadcast(IS, 0xF);
        FloatVector y0 = FloatVector.zero(FS);
        FloatVector y1 = FloatVector.zero(FS);
        int wordRows = groupSize >>> 3;
        for (int gi = 0, p = base; gi < groups; gi++, p += groupInts) {
            // aE/aO: even/odd nibbles of column vector 0; bE/bO: of column vector 1.
            FloatVector aE = FloatVector.zero(FS);
            FloatVector aO = FloatVector.zero(FS);
            FloatVector bE = FloatVector.zero(FS);
            FloatVector bO = FloatVector.zero(FS);
            int q = p + 2 * NB;
            int kx = gi * groupSize;
            for (int r = 0; r < wordRows; r++, q += NB, kx += 8) {
                IntVector w0 = IntVector.fromArray(IS, d, q);
                IntVector w1 = IntVector.fromArray(IS, d, q + L);
                FloatVector xv = FloatVector.broadcast(FS, xq[kx]);
                aE = w0.and(nibble).reinterpretAsFloats().fma(xv, aE);
                bE = w1.and(nibble).reinterpretAsFloats().fma(xv, bE);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 1]);
                aO = w0.and(nibble).reinterpretAsFloats().fma(xv, aO);
                bO = w1.and(nibble).reinterpretAsFloats().fma(xv, bO);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 2]);
                aE = w0.and(nibble).reinterpretAsFloats().fma(xv, aE);
                bE = w1.and(nibble).reinterpretAsFloats().fma(xv, bE);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 3]);
                aO = w0.and(nibble).reinterpretAsFloats().fma(xv, aO);
                bO = w1.and(nibble).reinterpretAsFloats().fma(xv, bO);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 4]);
                aE = w0.and(nibble).reinterpretAsFloats().fma(xv, aE);
                bE = w1.and(nibble).reinterpretAsFloats().fma(xv, bE);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 5]);
                aO = w0.and(nibble).reinterpretAsFloats().fma(xv, aO);
                bO = w1.and(nibble).reinterpretAsFloats().fma(xv, bO);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 6]);
                aE = w0.and(nibble).reinterpretAsFloats().fma(xv, aE);
                bE = w1.and(nibble).reinterpretAsFloats().fma(xv, bE);
                // The top nibble needs no mask after the shift.
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                xv = FloatVector.broadcast(FS, xq[kx + 7]);
                aO = w0.reinterpretAsFloats().fma(xv, aO);
                bO = w1.reinterpretAsFloats().fma(xv, bO);
            }
            FloatVector xs = FloatVector.broadcast(FS, xsum[gi]);
            y0 = IntVector.fromArray(IS, d, p).reinterpretAsFloats().fma(aE.add(aO), y0);
            y0 = IntVector.fromArray(IS, d, p + NB).reinterpretAsFloats().fma(xs, y0);
            y1 = IntVector.fromArray(IS, d, p + L).reinterpretAsFloats().fma(bE.add(bO), y1);
            y1 = IntVector.fromArray(IS, d, p + NB + L).reinterpretAsFloats().fma(xs, y1);
        }
        y0.intoArray(yb, 0);
        y1.intoArray(yb, L);
    }

    // ------------------------------------------------------------------ GEMV, 2 to 12 rows

    /**
     * Rows 0..m−1 of X (2 ≤ m ≤ {@value #GEMV_MAX_ROWS}) in chunks of 4 rows, one pass over the
     * weight per chunk: each row is prepared as in {@link #gemv} (widened, scaled by its own 2^E,
     * its own group sums), then every column block runs {@link #gemvBlock4}, {@link #gemvBlock3}
     * or {@link #gemvBlock2} for each chunk of 4, 3 or 2 rows (the offset tables hold four
     * entries per chunk; those past a short chunk's end repeat its last row and are not read). A last chunk of one row does not come here: the caller runs
     * it through the one-row {@link #gemv}, which streams the weight once more either way. <b>Instruction choice:</b> per 8 weights × L columns the weight costs one
     * {@code IntVector} load, and per nibble one {@code and} (vpandd) and one {@code lanewise(LSHR)}
     * (vpsrld) per vector; the reinterpret to float is free (same register, no instruction).
     * Each unpacked vector then feeds m {@code fma}s (vfmadd231ps) with m broadcasts of x
     * (vbroadcastss from memory). At m = 4 that is 8 FMAs per 4 integer ops instead of 2 per 4:
     * the unpacking, which bounds the one-row GEMV on a core that can stream the weight faster
     * than it unpacks it, is paid once per chunk, and the weight is read ⌈m/4⌉ times instead of m
     * times. (No disassembler, hsdis, is installed on the development machine: the mapping above
     * is the one of the Vector API intrinsics on x86, not checked instruction by instruction.)
     */
    private void gemvRows(Tensor x, int m, Packed p, float[] biasF, Tensor y, CallBuffers cb) {
        int k = p.k;
        float[] xq = cb.x((long) m * k);
        float[] xsum = cb.groupSums(m * p.groups);
        int[][] xo = cb.rowOffsets;
        int[][] so = cb.sumOffsets;
        float[] u1 = cb.unscale1;
        float[] u2 = cb.unscale2;
        // Rows go in chunks of 4 (the last may have 2–4: a last single row goes to gemv); rows past
        // the chunk's end alias its last.
        int chunks = (m + 3) / 4;
        for (int c = 0; c < chunks; c++) {
            int last = Math.min(m, 4 * c + 4) - 1;
            for (int r = 0; r < 4; r++) {
                int src = Math.min(4 * c + r, last);
                xo[c][r] = src * k;
                so[c][r] = src * p.groups;
            }
        }
        for (int r = 0; r < m; r++) {
            int back = prepareRow(x, r, p, xq, r * k, xsum, r * p.groups);
            u1[r] = Math.scalb(1f, back >> 1);
            u2[r] = Math.scalb(1f, back - (back >> 1));
        }
        MemorySegment ySeg = y.segment();
        DType yType = y.dtype();
        int[] data = p.data();
        long grain = Math.max(1, MIN_WEIGHTS_PER_TASK / ((long) k * NB));
        CpuThreads.forRange(p.blocks, grain, (from, to) -> {
            float[] yb = SCRATCH.floats(TASK_ROW, 4 * NB);
            for (int b = (int) from; b < to; b++) {
                int col = b * NB;
                int cols = Math.min(NB, p.n - col);
                for (int c = 0; c < chunks; c++) {
                    int rows = Math.min(4, m - 4 * c);
                    if (rows == 3) {
                        gemvBlock3(data, b * p.blockInts, p.groups, p.groupInts, p.groupSize, xq, xo[c], xsum, so[c], yb);
                    } else if (rows == 2) {
                        gemvBlock2(data, b * p.blockInts, p.groups, p.groupInts, p.groupSize, xq, xo[c], xsum, so[c], yb);
                    } else {
                        gemvBlock4(data, b * p.blockInts, p.groups, p.groupInts, p.groupSize, xq, xo[c], xsum, so[c], yb);
                    }
                    for (int r = 0; r < rows; r++) {
                        int row = 4 * c + r;
                        finishAt(yb, r * NB, cols, u1[row], u2[row], biasF, col);
                        narrowRow(yb, r * NB, cols, ySeg, y.rowByteOffset(row) + 2L * col, yType);
                    }
                }
            }
        });
    }

    /** {@code yb[off + c] = yb[off + c] · u1 · u2 + bias[col + c]} for the block's columns. */
    private static void finishAt(float[] yb, int off, int cols, float u1, float u2, float[] biasF, int col) {
        for (int c = 0; c < cols; c += L) {
            FloatVector v = FloatVector.fromArray(FS, yb, off + c).mul(u1).mul(u2);
            if (biasF != null) {
                v = v.add(FloatVector.fromArray(FS, biasF, col + c));
            }
            v.intoArray(yb, off + c);
        }
    }

    /**
     * One column block for four rows of X at once ({@code xo[r]}: row r's offset in {@code xq},
     * {@code so[r]}: its group sums in {@code xsum}): the nibbles are unpacked once (AND, shift) and
     * each feeds 4 rows × 2 vectors = 8 FMAs into 8 accumulators; {@code yb[r·NB ..]} gets row
     * r's scaled result y'. Per group the accumulators are folded into yb through memory (16
     * loads and stores per 1024 FMAs), which keeps the loop at 8 accumulators + 6 temporaries:
     * within AVX2's 16 registers as well as AVX-512's 32.
     * <p>The word-row loop counts with {@code kx}, the index into x, itself (not a separate row
     * counter beside it): its broadcasts {@code xq[x_r + kx + i]} (32 per word row here, 16 in
     * {@link #gemvBlock2}) are then linear in the loop's
     * own variable, the form whose range checks C2 hoists out of the loop. On Zen 5 (2026-12-05,
     * one thread, 4096², three interleaved rounds) m = 8 went from 2.57–3.02 to 2.13–2.16 ms (43–47
     * → 53–58 % of the FMA peak) and m = 12 from 3.71–3.86 to 2.94–3.07 ms; m = 2 and 4 were even.
     * The one-row kernels keep their counter: the same change there measured slightly slower.
     */
    private static void gemvBlock4(int[] d, int base, int groups, int groupInts, int groupSize, float[] xq, int[] xo,
                                   float[] xsum, int[] so, float[] yb) {
        IntVector nibble = IntVector.broadcast(IS, 0xF);
        for (int r = 0; r < 4; r++) {
            java.util.Arrays.fill(yb, r * NB, (r + 1) * NB, 0f);
        }
        int x0 = xo[0], x1 = xo[1], x2 = xo[2], x3 = xo[3];
        int wordRows = groupSize >>> 3;
        for (int gi = 0, p = base; gi < groups; gi++, p += groupInts) {
            FloatVector a00 = FloatVector.zero(FS);
            FloatVector a01 = FloatVector.zero(FS);
            FloatVector a10 = FloatVector.zero(FS);
            FloatVector a11 = FloatVector.zero(FS);
            FloatVector a20 = FloatVector.zero(FS);
            FloatVector a21 = FloatVector.zero(FS);
            FloatVector a30 = FloatVector.zero(FS);
            FloatVector a31 = FloatVector.zero(FS);
            int q = p + 2 * NB;
            int kx0 = gi * groupSize;
            for (int kx = kx0, kEnd = kx0 + 8 * wordRows; kx < kEnd; kx += 8, q += NB) {
                IntVector w0 = IntVector.fromArray(IS, d, q);
                IntVector w1 = IntVector.fromArray(IS, d, q + L);
                FloatVector n0 = w0.and(nibble).reinterpretAsFloats();
                FloatVector n1 = w1.and(nibble).reinterpretAsFloats();
                FloatVector xv = FloatVector.broadcast(FS, xq[x0 + kx + 0]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 0]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 0]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 0]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 1]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 1]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 1]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 1]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 2]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 2]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 2]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 2]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 3]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 3]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 3]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 3]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 4]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 4]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 4]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 4]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 5]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 5]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 5]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 5]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 6]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 6]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 6]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 6]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                // The top nibble needs no mask after the shift.
                n0 = w0.reinterpretAsFloats();
                n1 = w1.reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 7]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 7]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 7]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                xv = FloatVector.broadcast(FS, xq[x3 + kx + 7]);
                a30 = n0.fma(xv, a30);
                a31 = n1.fma(xv, a31);
            }
            FloatVector s0 = IntVector.fromArray(IS, d, p).reinterpretAsFloats();
            FloatVector s1 = IntVector.fromArray(IS, d, p + L).reinterpretAsFloats();
            FloatVector z0 = IntVector.fromArray(IS, d, p + NB).reinterpretAsFloats();
            FloatVector z1 = IntVector.fromArray(IS, d, p + NB + L).reinterpretAsFloats();
            // Folded here, not in a helper: C2 stops inlining into a method this large
            // (NodeCountInliningCutoff), and a helper that takes vectors then boxes them.
            FloatVector xs0 = FloatVector.broadcast(FS, xsum[so[0] + gi]);
            s0.fma(a00, z0.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB))).intoArray(yb, 0 * NB);
            s1.fma(a01, z1.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB + L))).intoArray(yb, 0 * NB + L);
            FloatVector xs1 = FloatVector.broadcast(FS, xsum[so[1] + gi]);
            s0.fma(a10, z0.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB))).intoArray(yb, 1 * NB);
            s1.fma(a11, z1.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB + L))).intoArray(yb, 1 * NB + L);
            FloatVector xs2 = FloatVector.broadcast(FS, xsum[so[2] + gi]);
            s0.fma(a20, z0.fma(xs2, FloatVector.fromArray(FS, yb, 2 * NB))).intoArray(yb, 2 * NB);
            s1.fma(a21, z1.fma(xs2, FloatVector.fromArray(FS, yb, 2 * NB + L))).intoArray(yb, 2 * NB + L);
            FloatVector xs3 = FloatVector.broadcast(FS, xsum[so[3] + gi]);
            s0.fma(a30, z0.fma(xs3, FloatVector.fromArray(FS, yb, 3 * NB))).intoArray(yb, 3 * NB);
            s1.fma(a31, z1.fma(xs3, FloatVector.fromArray(FS, yb, 3 * NB + L))).intoArray(yb, 3 * NB + L);
        }
    }

    /** {@link #gemvBlock4} for two rows: 2 × 2 vectors = 4 FMAs per unpacked nibble pair. */
    private static void gemvBlock2(int[] d, int base, int groups, int groupInts, int groupSize, float[] xq, int[] xo,
                                   float[] xsum, int[] so, float[] yb) {
        IntVector nibble = IntVector.broadcast(IS, 0xF);
        for (int r = 0; r < 2; r++) {
            java.util.Arrays.fill(yb, r * NB, (r + 1) * NB, 0f);
        }
        int x0 = xo[0], x1 = xo[1];
        int wordRows = groupSize >>> 3;
        for (int gi = 0, p = base; gi < groups; gi++, p += groupInts) {
            FloatVector a00 = FloatVector.zero(FS);
            FloatVector a01 = FloatVector.zero(FS);
            FloatVector a10 = FloatVector.zero(FS);
            FloatVector a11 = FloatVector.zero(FS);
            int q = p + 2 * NB;
            int kx0 = gi * groupSize;
            for (int kx = kx0, kEnd = kx0 + 8 * wordRows; kx < kEnd; kx += 8, q += NB) {
                IntVector w0 = IntVector.fromArray(IS, d, q);
                IntVector w1 = IntVector.fromArray(IS, d, q + L);
                FloatVector n0 = w0.and(nibble).reinterpretAsFloats();
                FloatVector n1 = w1.and(nibble).reinterpretAsFloats();
                FloatVector xv = FloatVector.broadcast(FS, xq[x0 + kx + 0]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 0]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 1]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 1]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 2]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 2]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 3]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 3]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 4]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 4]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 5]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 5]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 6]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 6]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                // The top nibble needs no mask after the shift.
                n0 = w0.reinterpretAsFloats();
                n1 = w1.reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 7]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 7]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
            }
            FloatVector s0 = IntVector.fromArray(IS, d, p).reinterpretAsFloats();
            FloatVector s1 = IntVector.fromArray(IS, d, p + L).reinterpretAsFloats();
            FloatVector z0 = IntVector.fromArray(IS, d, p + NB).reinterpretAsFloats();
            FloatVector z1 = IntVector.fromArray(IS, d, p + NB + L).reinterpretAsFloats();
            // Folded here, not in a helper: C2 stops inlining into a method this large
            // (NodeCountInliningCutoff), and a helper that takes vectors then boxes them.
            FloatVector xs0 = FloatVector.broadcast(FS, xsum[so[0] + gi]);
            s0.fma(a00, z0.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB))).intoArray(yb, 0 * NB);
            s1.fma(a01, z1.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB + L))).intoArray(yb, 0 * NB + L);
            FloatVector xs1 = FloatVector.broadcast(FS, xsum[so[1] + gi]);
            s0.fma(a10, z0.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB))).intoArray(yb, 1 * NB);
            s1.fma(a11, z1.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB + L))).intoArray(yb, 1 * NB + L);
        }
    }

    /**
     * {@link #gemvBlock4} for three rows: 6 FMAs per unpacked nibble pair. A chunk of three rows
     * ran through {@link #gemvBlock4} with its last row repeated, a quarter of its FMAs wasted
     * (m = 3 took as long as m = 4). Same products and the same order of sums as
     * {@link #gemvBlock4}, so a row's result does not depend on which of the two took its chunk.
     * Measured (2026-12-06, Zen 4, 4096², g = 128, -Xbatch, two interleaved rounds): m = 3 1.67
     * → 1.43–1.47 ms on one thread, 885–890 → 761–821 µs on two, L2-resident 1024² 95 → 75 µs;
     * m = 7 (4 + 3) 3.26–3.31 → 2.93–2.96 ms; with {@code -XX:UseAVX=2} m = 3 3.21–3.25 →
     * 2.83–2.84 ms.
     */
    private static void gemvBlock3(int[] d, int base, int groups, int groupInts, int groupSize, float[] xq, int[] xo,
                                   float[] xsum, int[] so, float[] yb) {
        IntVector nibble = IntVector.broadcast(IS, 0xF);
        for (int r = 0; r < 3; r++) {
            java.util.Arrays.fill(yb, r * NB, (r + 1) * NB, 0f);
        }
        int x0 = xo[0], x1 = xo[1], x2 = xo[2];
        int wordRows = groupSize >>> 3;
        for (int gi = 0, p = base; gi < groups; gi++, p += groupInts) {
            FloatVector a00 = FloatVector.zero(FS);
            FloatVector a01 = FloatVector.zero(FS);
            FloatVector a10 = FloatVector.zero(FS);
            FloatVector a11 = FloatVector.zero(FS);
            FloatVector a20 = FloatVector.zero(FS);
            FloatVector a21 = FloatVector.zero(FS);
            int q = p + 2 * NB;
            int kx0 = gi * groupSize;
            for (int kx = kx0, kEnd = kx0 + 8 * wordRows; kx < kEnd; kx += 8, q += NB) {
                IntVector w0 = IntVector.fromArray(IS, d, q);
                IntVector w1 = IntVector.fromArray(IS, d, q + L);
                FloatVector n0 = w0.and(nibble).reinterpretAsFloats();
                FloatVector n1 = w1.and(nibble).reinterpretAsFloats();
                FloatVector xv = FloatVector.broadcast(FS, xq[x0 + kx + 0]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 0]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 0]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 1]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 1]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 1]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 2]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 2]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 2]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 3]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 3]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 3]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 4]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 4]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 4]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 5]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 5]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 5]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                n0 = w0.and(nibble).reinterpretAsFloats();
                n1 = w1.and(nibble).reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 6]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 6]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 6]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
                // The top nibble needs no mask after the shift.
                n0 = w0.reinterpretAsFloats();
                n1 = w1.reinterpretAsFloats();
                xv = FloatVector.broadcast(FS, xq[x0 + kx + 7]);
                a00 = n0.fma(xv, a00);
                a01 = n1.fma(xv, a01);
                xv = FloatVector.broadcast(FS, xq[x1 + kx + 7]);
                a10 = n0.fma(xv, a10);
                a11 = n1.fma(xv, a11);
                xv = FloatVector.broadcast(FS, xq[x2 + kx + 7]);
                a20 = n0.fma(xv, a20);
                a21 = n1.fma(xv, a21);
            }
            FloatVector s0 = IntVector.fromArray(IS, d, p).reinterpretAsFloats();
            FloatVector s1 = IntVector.fromArray(IS, d, p + L).reinterpretAsFloats();
            FloatVector z0 = IntVector.fromArray(IS, d, p + NB).reinterpretAsFloats();
            FloatVector z1 = IntVector.fromArray(IS, d, p + NB + L).reinterpretAsFloats();
            FloatVector xs0 = FloatVector.broadcast(FS, xsum[so[0] + gi]);
            s0.fma(a00, z0.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB))).intoArray(yb, 0 * NB);
            s1.fma(a01, z1.fma(xs0, FloatVector.fromArray(FS, yb, 0 * NB + L))).intoArray(yb, 0 * NB + L);
            FloatVector xs1 = FloatVector.broadcast(FS, xsum[so[1] + gi]);
            s0.fma(a10, z0.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB))).intoArray(yb, 1 * NB);
            s1.fma(a11, z1.fma(xs1, FloatVector.fromArray(FS, yb, 1 * NB + L))).intoArray(yb, 1 * NB + L);
            FloatVector xs2 = FloatVector.broadcast(FS, xsum[so[2] + gi]);
            s0.fma(a20, z0.fma(xs2, FloatVector.fromArray(FS, yb, 2 * NB))).intoArray(yb, 2 * NB);
            s1.fma(a21, z1.fma(xs2, FloatVector.fromArray(FS, yb, 2 * NB + L))).intoArray(yb, 2 * NB + L);
        }
    }

    /** {@code yb[c] = yb[c] · u1 · u2 + bias[col + c]} for the block's real columns. */
    private static void finish(float[] yb, int cols, float u1, float u2, float[] biasF, int col) {
        for (int c = 0; c < cols; c += L) {
            FloatVector v = FloatVector.fromArray(FS, yb, c).mul(u1).mul(u2);
            if (biasF != null) {
                v = v.add(FloatVector.fromArray(FS, biasF, col + c));
            }
            v.intoArray(yb, c);
        }
    }

    // ------------------------------------------------------------------ GEMM

    private void gemm(Tensor x, Packed p, float[] biasF, Tensor y, CallBuffers cb) {
        int m = (int) x.dim(0);
        int k = p.k;
        MemorySegment xSeg = x.segment();
        MemorySegment ySeg = y.segment();
        DType xType = x.dtype();
        DType yType = y.dtype();
        int[] data = p.data();
        for (int r0 = 0; r0 < m; r0 += ROW_CHUNK) {
            int rows = Math.min(ROW_CHUNK, m - r0);
            float[] xf = cb.x((long) rows * k);
            int chunkStart = r0;
            CpuThreads.forRange(rows, Math.max(1, (1 << 16) / k), (from, to) -> {
                for (int i = (int) from; i < to; i++) {
                    widenRow(xSeg, x.rowByteOffset(chunkStart + i), xType, k, xf, i * k);
                }
            });
            int rowBlocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
            int rowsPerBlock = (rows + rowBlocks - 1) / rowBlocks;
            int tiles = (p.blocks + TILE_BLOCKS - 1) / TILE_BLOCKS;
            long tasks = (long) rowBlocks * tiles;
            long grain = Math.max(1, MIN_WEIGHTS_PER_TASK / ((long) k * TILE_COLS * Math.max(1, rowsPerBlock / 8)));
            CpuThreads.forRange(tasks, grain, (from, to) -> {
                float[] wt = SCRATCH.floats(TASK_TILE, KB * TILE_COLS);
                float[] yt = SCRATCH.floats(TASK_ROWS, rowsPerBlock * TILE_COLS);
                int[] offsets = SCRATCH.fixed(TASK_OFFSETS, () -> new int[1]);
                for (long t = from; t < to; t++) {
                    int rb = (int) (t / tiles);
                    int b0 = (int) (t % tiles) * TILE_BLOCKS;
                    int nb = Math.min(TILE_BLOCKS, p.blocks - b0);
                    int i0 = rb * rowsPerBlock;
                    int nRows = Math.min(rowsPerBlock, rows - i0);
                    if (nRows <= 0) {
                        continue;
                    }
                    gemmTile(data, p, b0, nb, xf, i0, nRows, wt, yt, offsets);
                    int col = b0 * NB;
                    int cols = Math.min(nb * NB, p.n - col);
                    for (int i = 0; i < nRows; i++) {
                        finish(yt, i * nb * NB, cols, biasF, col);
                        narrowRow(yt, i * nb * NB, cols, ySeg, y.rowByteOffset(chunkStart + i0 + i) + 2L * col, yType);
                    }
                }
            });
        }
    }

    /**
     * Rows {@code [i0, i0 + nRows)} of xf times column blocks {@code b0 .. b0+nb−1}, into
     * {@code yt[i][nb·NB]} (fp32): per k-slab, DEQUANT the blocks side by side into {@code wt},
     * then one {@link Brgemm#fp32} call reduces the slab into yt.
     */
    private static void gemmTile(int[] d, Packed p, int b0, int nb, float[] xf, int i0, int nRows, float[] wt, float[] yt,
                                 int[] offsets) {
        int k = p.k;
        int width = nb * NB;
        for (int k0 = 0; k0 < k; k0 += KB) {
            int kb = Math.min(KB, k - k0);
            for (int j = 0; j < nb; j++) {
                dequantize(d, p, b0 + j, k0, kb, wt, j * NB, width);
            }
            offsets[0] = i0 * k + k0; // A_0 = rows i0.. of X, columns k0..
            Brgemm.fp32(nRows, width, kb, 1, xf, offsets, k, wt, Brgemm.NO_OFFSET, width, yt, 0, width, k0 > 0);
        }
    }

    /** Rows {@code [k0, k0 + kb)} of block {@code b} as fp32 weights {@code wt[kk][col .. col+NB)}, row stride {@code ld}. */
    private static void dequantize(int[] d, Packed p, int b, int k0, int kb, float[] wt, int col, int ld) {
        IntVector nibble = IntVector.broadcast(IS, 0xF);
        int g = p.groupSize;
        int o = col;
        for (int kk = k0; kk < k0 + kb; kk += 8) {
            int gi = kk / g;
            int gp = b * p.blockInts + gi * p.groupInts;
            int q = gp + 2 * NB + ((kk - gi * g) >>> 3) * NB;
            FloatVector s0 = IntVector.fromArray(IS, d, gp).reinterpretAsFloats();
            FloatVector s1 = IntVector.fromArray(IS, d, gp + L).reinterpretAsFloats();
            FloatVector z0 = IntVector.fromArray(IS, d, gp + NB).reinterpretAsFloats();
            FloatVector z1 = IntVector.fromArray(IS, d, gp + NB + L).reinterpretAsFloats();
            IntVector w0 = IntVector.fromArray(IS, d, q);
            IntVector w1 = IntVector.fromArray(IS, d, q + L);
            for (int i = 0; i < 8; i++, o += ld) {
                ((FloatVector) w0.and(nibble).convert(VectorOperators.I2F, 0)).fma(s0, z0).intoArray(wt, o);
                ((FloatVector) w1.and(nibble).convert(VectorOperators.I2F, 0)).fma(s1, z1).intoArray(wt, o + L);
                w0 = w0.lanewise(VectorOperators.LSHR, 4);
                w1 = w1.lanewise(VectorOperators.LSHR, 4);
            }
        }
    }

    /** {@code yt[yo + c] += bias[col + c]} for the block's real columns. */
    private static void finish(float[] yt, int yo, int cols, float[] biasF, int col) {
        if (biasF == null) {
            return;
        }
        for (int c = 0; c < cols; c++) {
            yt[yo + c] += biasF[col + c];
        }
    }

    // ------------------------------------------------------------------ conversions

    /** {@code count} elements of a bf16/fp16/fp32 row at byte offset {@code off} into {@code dst[dstOff…]} as fp32. */
    static void widenRow(MemorySegment src, long off, DType type, int count, float[] dst, int dstOff) {
        int i = 0;
        switch (type) {
            case BF16 -> {
                // bf16 is the top half of an fp32: widen each 16-bit lane to 32 bits and shift it up.
                for (; i + L <= count; i += L) {
                    ShortVector h = ShortVector.fromMemorySegment(SS, src, off + 2L * i, LE);
                    ((IntVector) h.convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 16)
                            .reinterpretAsFloats().intoArray(dst, dstOff + i);
                }
                for (; i < count; i++) {
                    dst[dstOff + i] = Float.intBitsToFloat(src.get(SHORT, off + 2L * i) << 16);
                }
            }
            case FP16 -> {
                for (; i < count; i++) {
                    dst[dstOff + i] = Float.float16ToFloat(src.get(SHORT, off + 2L * i));
                }
            }
            case FP32 -> MemorySegment.copy(src, FLOAT, off, dst, dstOff, count);
            default -> throw new IllegalArgumentException("cannot widen " + type);
        }
    }

    /** {@code count} floats from {@code src[srcOff…]} rounded once to bf16/fp16 and stored at byte offset {@code off}. */
    static void narrowRow(float[] src, int srcOff, int count, MemorySegment dst, long off, DType type) {
        int i = 0;
        if (type == DType.BF16) {
            for (; i + L <= count; i += L) {
                IntVector bits = FloatVector.fromArray(FS, src, srcOff + i).reinterpretAsInts();
                IntVector hi = bits.lanewise(VectorOperators.LSHR, 16);
                // Nearest-even: add 0x7FFF plus the lowest kept bit, then truncate.
                IntVector rounded = bits.add(hi.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
                VectorMask<Integer> nan = bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
                IntVector out = rounded.blend(hi.or(0x40), nan);
                ((ShortVector) out.convertShape(VectorOperators.I2S, SS, 0)).intoMemorySegment(dst, off + 2L * i, LE);
            }
            for (; i < count; i++) {
                dst.set(SHORT, off + 2L * i, org.offload4j.core.numerics.Bf16.fromFloat(src[srcOff + i]));
            }
        } else {
            for (; i < count; i++) {
                dst.set(SHORT, off + 2L * i, Float.floatToFloat16(src[srcOff + i]));
            }
        }
    }

    private static float maxAbs(float[] v, int at, int count) {
        FloatVector m = FloatVector.zero(FS);
        int i = 0;
        for (; i + L <= count; i += L) {
            m = m.max(FloatVector.fromArray(FS, v, at + i).abs());
        }
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < count; i++) {
            r = Math.max(r, Math.abs(v[at + i]));
        }
        // A NaN anywhere must not be lost by max(); it makes the whole row non-finite anyway.
        return Float.isNaN(r) ? Float.POSITIVE_INFINITY : r;
    }

    private static void scaleInPlace(float[] v, int at, int count, float factor) {
        if (factor == 1f) {
            return;
        }
        int i = 0;
        for (; i + L <= count; i += L) {
            FloatVector.fromArray(FS, v, at + i).mul(factor).intoArray(v, at + i);
        }
        for (; i < count; i++) {
            v[at + i] *= factor;
        }
    }

    /**
     * Σ v[from ..< from + count] in one order, the same bits in every JIT tier: four running sums
     * (element i into sum i mod 4), then (s0 + s1) + (s2 + s3). Scalar: a vector sum would end
     * in a lane sum, which needs its accumulator stored to an array of its own ({@link LaneSums});
     * four independent sums keep the loop off the add's latency. It reads each element of X once
     * per call, as widening the row does.
     */
    private static float sum(float[] v, int from, int count) {
        float s0 = 0f;
        float s1 = 0f;
        float s2 = 0f;
        float s3 = 0f;
        int i = 0;
        for (; i + 4 <= count; i += 4) {
            s0 += v[from + i];
            s1 += v[from + i + 1];
            s2 += v[from + i + 2];
            s3 += v[from + i + 3];
        }
        for (; i < count; i++) {
            s0 += v[from + i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    // ------------------------------------------------------------------ scratch

    /**
     * The buffers of one matmul call: the calling thread's {@link #SCRATCH} slots, or, for a call
     * nested in another on the same thread, arrays of its own. A view made per call, with every
     * array fetched up front: the GEMV methods then only read fields, as they did when this
     * object itself was kept per thread (fetching from the thread-local inside them cost the
     * m = 4–8 GEMV 8–10 %, reproducibly, though none of it ran in the inner loops).
     */
    private static final class CallBuffers {
        /** X in fp32: m·k floats for the GEMV paths, ROW_CHUNK·k (at most) for the GEMM path. */
        private final float[] x;
        /** Per-row group sums of the GEMV paths. */
        private final float[] groupSums;
        /** n + NB floats, so that a padded block's last vector stays in bounds; null for a call without bias. */
        private final float[] bias;
        /** Per-row offsets and unscale factors of {@link #gemvRows}. */
        final int[][] rowOffsets;
        final int[][] sumOffsets;
        final float[] unscale1;
        final float[] unscale2;

        CallBuffers(boolean nested, int m, Packed p, boolean withBias) {
            long xFloats = (long) (m <= GEMV_MAX_ROWS ? m : Math.min(m, ROW_CHUNK)) * p.k;
            int sums = m <= GEMV_MAX_ROWS ? m * p.groups : 0;
            x = nested ? new float[Math.toIntExact(xFloats)] : SCRATCH.floats(CALL_X, xFloats);
            groupSums = nested ? new float[sums] : SCRATCH.floats(CALL_GROUP_SUMS, sums);
            bias = !withBias ? null : nested ? new float[p.n + NB] : SCRATCH.floats(CALL_BIAS, p.n + NB);
            rowOffsets = nested ? offsetTable() : SCRATCH.fixed(CALL_ROW_OFFSETS, CallBuffers::offsetTable);
            sumOffsets = nested ? offsetTable() : SCRATCH.fixed(CALL_SUM_OFFSETS, CallBuffers::offsetTable);
            unscale1 = nested ? new float[GEMV_MAX_ROWS] : SCRATCH.fixed(CALL_UNSCALE1, () -> new float[GEMV_MAX_ROWS]);
            unscale2 = nested ? new float[GEMV_MAX_ROWS] : SCRATCH.fixed(CALL_UNSCALE2, () -> new float[GEMV_MAX_ROWS]);
        }

        private static int[][] offsetTable() {
            return new int[(GEMV_MAX_ROWS + 3) / 4][4];
        }

        float[] x(long size) {
            assert x.length >= size;
            return x;
        }

        float[] bias(int n) {
            assert bias.length >= n + NB;
            return bias;
        }

        float[] groupSums(int groups) {
            assert groupSums.length >= groups;
            return groupSums;
        }
    }
}
