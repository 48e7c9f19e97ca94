package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.ExpertWeights.Matrix;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * The MoE layer on the CPU: a Vector API router, and the expert MLPs as register-blocked grouped
 * GEMMs over the rows of each expert, spread over {@link CpuThreads}.
 *
 * <h2>Data flow of {@link #forward} (V floats per vector, 8 with AVX2; MR = {@link Brgemm#MR}: 6 with AVX-512, 4 with AVX2)</h2>
 * <pre>
 *  x [T, d_model] bf16 ──GATHER──▶ A   float[rows][lda]      the copies of one wave, grouped by
 *    (row tokenOfCopy(p),          expert e: rows base(e) .. base(e) + n(e), no padding rows
 *     widened once: bf16 &lt;&lt; 16)   (Brgemm's last tile of a task aliases its missing rows)
 *
 *  W1[e] bf16 ──PACK──▶ panel float[kc][ns·2V]   one task's slivers: sliver s = V gate columns
 *    (widened once per task and      | the same V up columns, kc rows deep; reused by every
 *     k-block, integer shifts;       MR-row tile of the task's rows. NARROW: ns = 4,
 *     other formats: decode)         kc = 256 (L1); WIDE (bf16, ≤ 48 rows): ns = 22, kc = 128 (L2)
 *
 *  GEMM1  tile MR × 2V: acc[r][0] = Σ_k A[r][k]·gate, acc[r][1] = Σ_k A[r][k]·up   (2·MR FMA chains)
 *         ──▶ task block P float[task rows][ns·2V]  (NARROW: 24 KiB per MC rows, L2; carries
 *             the sums across k-blocks)
 *  SwiGLU after the task's last k-block: a = g · sigmoid(g) · u, per vector pair of P
 *         ──▶ H float[rows][ldh]   (fp32; h itself is never stored outside the task)
 *
 *  W2[e] bf16 ──PACK──▶ panel, sliver s = 2V consecutive output columns
 *  GEMM2  tile MR × 2V over H (k = d_ff), sums kept in Y across k-blocks ──▶ Y float[rows][ldy] (fp32)
 *
 *  COMBINE  out[t] = Σ_j w[t, j] · Y[row of copy (t, j)] (fp32, slot order) ──▶ bf16, RNE, once
 * </pre>
 * {@link #expertMlp} gathers the rows of an already permuted tensor instead and writes {@code Y}
 * row by row; {@link #groupedGemm} runs one GEMM over plain column slivers.
 *
 * <h2>Blocking, and why</h2>
 * <ul>
 *   <li><b>The tiles are {@link Brgemm}'s</b>: the task's packed panel is {@code [kc][ns·2V]}
 *       (its slivers side by side, {@link PanelShape}), and one {@link Brgemm#fp32} call per MC rows covers all of
 *       them, so with AVX-512 a register tile spans two slivers (6 rows × 4 vectors, 24
 *       accumulators in 32 registers); with AVX2 it is 4 rows × one sliver (see {@link Brgemm}
 *       for why not 6 × 2).</li>
 *   <li><b>History of the AVX2 tile</b>: this kernel's own 6 × 2 tile (12 accumulators + 2
 *       panel vectors + 1 broadcast = 15 of the 16 registers) beat 4 × 2 in 7 of 8 interleaved
 *       rounds on a 2-core Zen 3 VM; inside {@link Brgemm}, whose batch loop keeps more integers
 *       live, C2 spills that tile's accumulators, and 4 × 2 is 1.7× faster there.</li>
 *   <li><b>Sliver = 2V columns</b>: for GEMM1 it is V gate and the same V up columns, so that gate
 *       and up of one output element sit in the same tile and the SwiGLU needs nothing from
 *       another task: {@code h} never leaves the task.</li>
 *   <li><b>KC = {@value #KC}</b>: one sliver of the panel is KC·2V·4 B = 16 KiB (AVX2), half of
 *       L1, and stays there while the task's MR-row tiles stream by; the A rows of a task
 *       (≤ MC × KC floats, 96 KiB) sit in L2. Across k-blocks the sums go through memory: one
 *       load and one store per accumulator of a tile (8 with AVX2, 24 with AVX-512) per KC FMAs
 *       into it.</li>
 *   <li><b>Task = (≤ TASK_ROWS = {@value #TASK_ROWS} rows of one expert) × (NS = {@value #NS}
 *       slivers)</b>: per k-block the panel is packed (bf16 widened, any other format decoded)
 *       once and reused by all the task's row tiles, walked MC = {@value #MC} rows at a time so
 *       that those rows of A (≤ MC × KC floats, 96 KiB) stay in L2 while their tiles sweep the
 *       panel; the conversion costs about 1/rows of the FMA work. So an expert of up to
 *       TASK_ROWS rows has each panel converted once per call. (When a task was one MC block, a
 *       256-row expert decoded its int4 panels 3 times; the change made W4A16 experts 8–9%
 *       faster on such a skewed routing, bf16 2–5%, measured A/B in one JVM.) An expert of more
 *       rows is cut into equal shares ({@link Wave#taskShare}). The cap bounds
 *       the SwiGLU block P per thread (192 KiB with AVX2). Tasks are numbered expert major, so a
 *       thread walks the column blocks of one expert's rows with its A rows hot, and each weight
 *       panel is read from memory once per task. Experts without copies make no task and read
 *       no weights.</li>
 *   <li><b>Few rows: {@link #WIDE} panels</b>. The pack reads NS·V columns of each weight row at a
 *       time (128 B of bf16 with AVX-512), a strided walk that ran at 5.6 GB/s here against 15.4
 *       for whole rows; with many rows that cost hides behind the tiles, with few it is most of
 *       the task. bf16 tasks of at most {@link #WIDE_ROWS} rows therefore pack 22 slivers, 128
 *       rows deep: 704 B pieces of each row (twice for SwiGLU), a 352 KiB panel in L2 (numbers
 *       at WIDE and WIDE_ROWS).</li>
 *   <li><b>Waves</b>: scratch is bounded ({@code maxBufferFloats} per buffer): the tokens are cut
 *       into waves whose copies fit; each wave gathers, runs both GEMMs and combines its tokens
 *       completely, so the results do not depend on the cut. For the usual sizes there is one
 *       wave.</li>
 *   <li><b>Padding</b>: rows of A/H/Y are padded to a multiple of 2V plus 16 floats, so that tile
 *       stores are whole vectors and rows a multiple of 4 KiB apart do not all map to the same L1
 *       set.</li>
 *   <li><b>No padding rows</b>: an expert's rows go to {@link Brgemm#fp32} as they are, and the
 *       last tile of a task aliases its missing rows to its last row ({@link Brgemm#rowTiles}),
 *       so n rows cost at most two rows more (n = 2: one 4-row tile), not n rounded up to a
 *       multiple of MR (2.5 rows more on average). Computing those zero rows cost E = 64, k = 6,
 *       T = 256 (24 rows per expert on average) 4.5 % more time on one thread (108.4–109.9
 *       against 103.4–105.5 ms) and 3 % on two (54.8–56.2 against 52.9–55.1 ms); E = 8, k = 2,
 *       2.5–3.5 % (Zen 4 VM, interleaved runs).</li>
 * </ul>
 *
 * <h2>Rejected alternatives</h2>
 * <ul>
 *   <li>SwiGLU in the tile itself, on the accumulators still in registers: with the {@code exp}
 *       (a call to the vector math stub) and the extra store variants in the hot method, C2 no
 *       longer kept the tile's vectors in registers, and GEMM1 ran 6× slower (measured: 6 against
 *       75 GFLOP/s). The tile now only loads, accumulates and stores; the SwiGLU pass reads the
 *       task's accumulator block while it is still in L1/L2.</li>
 *   <li>Widening bf16 weights inside the k loop of every tile (load 2V bf16, convert, FMA): the
 *       conversion then runs once per row tile instead of once per task, MC / MR times (16 or
 *       24) more often at 96 rows, on the same ports as the loads. Only the first row tile of a
 *       task widens, and only for prepared weights ({@link #fusedHead}).</li>
 *   <li>MR = 4 × 3 vectors: 12 accumulators too, but 3 panel vectors leave one register for the
 *       broadcast and the loop spills (measured at half the rate of 6 × 2 on a plain fp32 GEMM); and a
 *       3-vector sliver cannot hold V gate + V up columns.</li>
 *   <li>Full-depth panels (no KC): a sliver of K·2V floats (64 KiB at K = 1024, 180 KiB at
 *       K = 2816) does not fit in L1, nor a task's A rows in L2.</li>
 *   <li>One task per expert: 8 experts on many cores leave threads idle, and a hot expert (all
 *       tokens) would run on one thread; (row block × column block) tasks balance both.</li>
 *   <li>Scattering into {@code out} from the GEMM2 epilogue: the copies of one token live in
 *       different experts, i.e. different tasks, and would race; the separate combine pass reads
 *       Y once and writes {@code out} once, in slot order.</li>
 * </ul>
 *
 * <p>The router widens {@code Wr} once per call to a {@code [d_model, E]} fp32 panel (padded to
 * whole vectors), computes the logits of 4 tokens at a time (4 accumulators per vector of
 * experts), then softmax in double and an insertion top-k (ties to the lower index).
 *
 * <p>Measured at T = 256, E = 8, k = 2, d_model = 1024, d_ff = 2816 on a shared 2-core Zen 3 VM:
 * about 116 GFLOP/s for {@link #forward} on 2 threads (63 on one), the same as a plain fp32
 * register-blocked Vector API GEMM of the same shapes in the same runs (see docs/ops/moe.md).
 *
 * <p>W4A16 experts ({@code W4A16ExpertWeights}) have their own fast path in {@link #pack}
 * ({@link #packInt4}: one {@link IntVector} load of V columns' words gives 8 panel rows). With
 * the generic scalar {@code decode} (about 0.9 ns per weight on one thread) the int4 layer took
 * 77.8 ms at the shape above on the 2-vCPU Zen 4 VM of 2026-12-04 (2 threads), 1.42× the bf16
 * layer; with {@code packInt4} 53.1 ms, as fast as bf16 experts (54.4 ms, same run). A task
 * whose last sliver is partial, and weights the Vector API cannot address, still take
 * {@code decode} for the whole task.
 *
 * <h2>Prepared weights ({@link #prepare}, {@link SliverBf16ExpertWeights})</h2>
 * {@code MoeLayer.prepared()} copies bf16 experts into slivers of 2V columns in 128-row blocks,
 * in the order the panels want them. Two things change for such weights:
 * <ul>
 *   <li><b>The pack reads one run of memory.</b> A WIDE task's k-block is 176 KiB of consecutive
 *       bf16 instead of 2 × 704 B pieces of 128 rows 2.8 KiB apart, which ran at 10–12 GB/s
 *       (a third of a sequential read) and was a third of the E = 64 layer's time.</li>
 *   <li><b>The first row tile of every task does the pack</b> ({@link #fusedHead}): it reads two
 *       slivers' bf16 rows (one with AVX2), widens them in its k loop and stores them to the
 *       panel while its FMAs run, so the weight reads overlap arithmetic; the other row tiles
 *       read the panel as before. The same fusion over the row-major tensors was tried and was
 *       no faster: its reads walked 128 B of each row, 2.8 KiB apart, which no prefetcher
 *       follows (see the results of 2026-12-05k); over the consecutive slivers the prefetchers
 *       kept up on the Zen 4 VM (on Zen 5 the tile's reads were slow anyway; see below). At
 *       {@code -XX:UseAVX=2} (4 × 2 tiles) the fusion gained less than with AVX-512:
 *       E = 64 43–48 % against 42–46 % of the FMA peak (prepared, one thread, three clean
 *       rounds), E = 8 55–64 against 43–58 %; unprepared E = 64 37–40 %.</li>
 * </ul>
 * Streamed tasks read, per block, the 128 rows of one sliver ({@link #streamSlivers}): both
 * vectors of a sliver row (64 B with AVX-512) in one trip, rows 64 B apart.
 * Measured on the Zen 4 VM (four rounds, unprepared and prepared layers in the same JVM, order
 * alternating; docs/results/2026-12-06i-cpu-moe-prepared.md): E = 64, T = 256 111–148 → 85–89 ms on one
 * thread (41–52 → 64–68 % of the FMA peak; with the pack from the copy but not fused, about 99 ms),
 * 54–65 → 43–50 ms on two; E = 8, T = 256 102–107 → 89–94 ms; decode steps (T = 1, 16) no
 * slower, faster in the noisier rounds.
 *
 * <p><b>Since d433e80 the task's weights are read before its fused tiles</b>
 * ({@link #touchBlocks}): one long per 64-byte line of the k-block's slivers, in a loop that
 * does nothing else. On the Zen 5 VM the fused tile itself read them far below the memory's
 * speed: E = 64, T = 256, prepared, one thread, took 60–64 ms with the weights streamed from DRAM
 * but 43–46 ms with the fused tile's reads confined to an L2- or L3-sized window (a throw-away
 * build). Reading ahead inside the tile, strips of slivers with the other row tiles in between,
 * and one sliver at a time (one stream in address order) all left the loss as it was
 * (docs/results/2026-12-07j-cpu-dram-stalls-zen5.md). The touching loads depend on nothing, so
 * many of them are in flight at once, and the fused tile then reads from the caches (L2, most
 * likely: a WIDE task's k-block is 176 KiB); why the tile's own reads were slow is not known
 * (that VM has no PMU). Prepared, one thread, seven interleaved pairs of JVMs on a noisy VM:
 * E = 64 56.3–62.0 → 52.9–58.6 ms (three pairs) and 77.7–80.7 → 56.4–74.5 ms (four noisier
 * ones; faster in every pair), E = 8 61.3–76.2 → 53.1–71.8 ms (one run of 100 ms); two threads,
 * E = 64 31.7–31.9 → 29.3–32.0 ms (three pairs); the bench afterwards, three rounds, E = 64
 * 54.2–55.4 ms on one thread (56 % of the FMA peak). At {@code -XX:UseAVX=2} (four pairs) E = 64
 * 112–181 → 108–121 ms and E = 8 129–187 → 122–167 ms: within the noise.
 *
 * <p>Decode steps and small batches: the experts (tasks) of a wave with at most
 * {@link #STREAM_ROWS} rows stream their bf16 weight rows (or int4 words) instead ({@link #streamGemm}), the
 * others take the panel path in the same call: each row of
 * W1/W2 is read whole, widened once and fed to one FMA per token, with the sums in the panel
 * path's order (bit for bit the same results). The panel path read 2·NS·2V bytes of each weight
 * row at a time (5.6 GB/s for such strided reads here, against 15.4 for whole rows; before the
 * WIDE panels) and then padded every token to an MR-row tile. T = 1, E = 8, k = 2, d = 4096, d_ff = 14336 (Mixtral's shape):
 * 142–144 → 43 ms on one thread, 73–75 → 23.4–23.8 ms on two (20 → 58–60 % of the copy
 * bandwidth); T = 1 at d = 1024, d_ff = 2816: 6.5–6.6 → 2.7–3.4 ms (one thread). With eight
 * weight rows per trip ({@link #streamRows}, sixth session) Mixtral's shape takes 33.7 ms and
 * the smaller one 2.1 ms on one thread. W4A16 experts stream their int4 words the same way
 * ({@link #streamInt4Rows}, eighteenth session): T = 1 at d = 1024 5.9–6.4 → 1.4–1.7 ms and at
 * Mixtral's shape 109–119 → 33–34 ms on one thread (Zen 4; docs/ops/moe.md).
 */
final class VectorMoeKernel implements MoeKernel {
    static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int V = F.length();
    /** Columns of one register tile and of one packed panel sliver. */
    static final int SLIVER = 2 * V;
    /**
     * Rows of the tallest register tile: {@link Brgemm#MR} (6 with AVX-512, 4 with AVX2). MC is a
     * multiple of it, so cutting a task into MC-row blocks adds no partial tile.
     */
    static final int MR = Brgemm.MR;
    /**
     * Depth of one packed panel block of {@link #NARROW}. With AVX-512 a sliver is then 32 KiB, all
     * of Zen 4's L1; KC = 128 (16 KiB slivers) was measured no faster (2026-12-04, quick suite, 2
     * threads, two runs each: E = 64, k = 6 57.0 / 57.4 against 55.8 / 62.0 ms; E = 8 55.3–56.9
     * against 53.4–54.0 ms).
     */
    static final int KC = 256;
    /** Rows of one cache block: the tiles of a task walk its rows MC at a time (a multiple of both tile heights, 6 and 4). */
    static final int MC = 96;
    /**
     * Most rows of one task (a multiple of MC): the task's panel is packed once per k-block and
     * reused by all of them, so up to this many rows of an expert share one decode of its weights.
     */
    static final int TASK_ROWS = 8 * MC;
    /**
     * Most rows of a task that streams its bf16 or int4 weights ({@link #streamGemm}) instead of
     * packing panels (the choice is made per task). The figures below are for bf16. For int4 no
     * other cut-off was tried; streaming up to 8 rows beat packing everything at T = 32 (8 rows
     * per expert on average, so some tasks stream): 24.6–26.9 against 29.6–43.5 ms (one thread,
     * Zen 4). Each streamed row costs an accumulator load and store
     * per weight vector and trip, while a packed tile amortizes its panel over 6 or 4 rows. With
     * 4-row trips (fifth session) the cut-off was 4 (one expert, d = 1024, d_ff = 2816, AVX-512: 4
     * rows streamed 1.44 ms against 2.18 for 5 packed, 6 rows 2.72 against 2.36). With 8-row
     * trips (sixth session; E = 8, d = 1024, d_ff = 2816, one thread), 8 rows beat 4: T = 8 / 16 /
     * 32 10.9 / 13.6–15.3 / 23.3–24.2 against 12.5 / 16.9 / 26.6 ms, and E = 64, T = 16 20.3
     * against 23.5 ms; 12 rows were no better than 8, 16 rows made T = 64 10–20 % slower. At
     * {@code -XX:UseAVX=2}: T = 8 / 16 / 32 13.7 / 20.4 / 36.9 ms against 16.1 / 23.3 / 40.3.
     */
    static final int STREAM_ROWS = 8;
    /** Slivers per task of {@link #NARROW}. */
    static final int NS = 4;

    /**
     * The shape of a task's packed panel: {@code ns} slivers side by side ({@code panel[kc][ldp]},
     * {@code ldp = ns·2V}), {@code kc} weight rows deep, then {@link #packInt4}'s zeros and scales
     * of one group (2V floats) at {@code groupParams}.
     */
    record PanelShape(int ns, int kc) {
        int ldp() {
            return ns * SLIVER;
        }

        int groupParams() {
            return kc * ldp();
        }

        int floats() {
            return groupParams() + 2 * V;
        }
    }

    /** Tasks of many rows: slivers that stay in L1 while the tiles sweep them (see "Blocking"). */
    static final PanelShape NARROW = new PanelShape(NS, KC);
    /**
     * Tasks of at most {@link #WIDE_ROWS} rows: 22 slivers, 128 rows deep (352 KiB with AVX-512, in
     * L2). The pack then reads 22·V-column pieces of each weight row (704 B of bf16 with
     * AVX-512, twice for SwiGLU) instead of 4·V-column ones (128 B); long pieces read near the
     * speed of whole rows, and with few rows the pack's reads are most of a task's time. Taken
     * only where the wide tasks × their column blocks keep every thread busy: with d_model = 1024
     * a wide GEMM2 task is two work units with AVX-512 (22 + 10 slivers), against 8 narrow ones.
     *
     * <p>Why 22 × 128 and not the first shape, 48 × 64 (same panel size): each tile loads and
     * stores its 24 accumulators once per k-block, so 128-deep blocks halve that traffic, and the
     * task's block of sums shrinks with the slivers (24 rows × 1536 floats, 144 KiB, at 48
     * slivers; 24 × 704, 66 KiB, at 22). The profile of E = 64, T = 256 had put about 37 % of its
     * time in the pack and 63 % in the tiles, at 65 % of the FMA peak. Zen 5 VM, one thread, 8
     * interleaved rounds of the shape alone: E = 64, T = 256 (24 rows per expert) 62.0–83.8 ms
     * (median about 70) → 59.0–77.4 ms (about 61); against the previous build, two threads
     * 37.0–43.3 → 31.9–41.6 ms (medians 37.9 → 35.7), and E = 8, T = 16 / 32 / 64 (4 / 8 / 16
     * rows) no slower (T = 64, one thread, 26.9–32.5 → 23.0–24.9 ms; T = 32 within the noise).
     * 16 × 192 ran 60.7–63.8 ms in the rounds where 22 × 128 ran 59.0–61.9; 11 × 256 was about as
     * fast at E = 64 and slower at T = 32. Results do not depend on the shape: the sums pass
     * through fp32 memory between k-blocks in the same order. WIDE_ROWS and the AVX2 figures
     * below were measured with 48 × 64 and not again.
     */
    static final PanelShape WIDE = new PanelShape(22, 128);
    /**
     * Most rows of a task that packs {@link #WIDE} panels (bf16 weights only). Measured with E = 8,
     * d = 1024, d_ff = 2816 on the Zen 4 VM, one thread: T = 16 / 32 / 64 (4 / 8 / 16 rows per
     * expert) 20–21 → 18.8, 29.6–31.6 → 25.8–26.2, 40.8–41.2 → 36.9–37.2 ms; two threads T = 32
     * 15.5–16.1 → 13.6–13.9 ms. At T = 256 (64 rows per expert) the wide shape was 2–4 % slower
     * (one thread, tried for every task), hence the cut-off. W4A16 experts keep the narrow shape:
     * their group parameters are read once per panel block, so the shallow wide blocks read them
     * more often, and T = 32 ran 30 → 40 ms with wide panels. With 4-row tiles (AVX2 and
     * narrower, MR = 4) each FMA needs more of the panel, which then comes from L2 instead of L1:
     * at {@code -XX:UseAVX=2}, one thread, wide panels made T = 16 / 32 8 % / 11 % faster, T = 64
     * no faster, and E = 64, T = 256 (24 rows per expert) 8–20 % slower; there the cut-off is 12.
     */
    static final int WIDE_ROWS = MR == 6 ? 48 : 12;
    /** Default bound on each scratch buffer, in floats (64 MiB). */
    static final long DEFAULT_MAX_BUFFER_FLOATS = 1L << 24;
    /** Tokens per router tile. */
    private static final int ROUTER_ROWS = 4;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private final long maxBufferFloats;

    VectorMoeKernel() {
        this(DEFAULT_MAX_BUFFER_FLOATS);
    }

    /** With a different scratch bound (tests use a tiny one to force several waves). */
    VectorMoeKernel(long maxBufferFloats) {
        this.maxBufferFloats = maxBufferFloats;
    }

    // =========================================================================================
    // Router
    // =========================================================================================

    @Override
    public void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
        CpuThreads.onTensors(() -> routeOn(x, routerWeights, k, renormalize, expertIds, weights), x, routerWeights);
    }

    private void routeOn(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
        int tokens = (int) x.rows();
        int dModel = (int) x.cols();
        int experts = (int) routerWeights.cols();
        int ep = roundUp(experts, V);
        if ((long) dModel * ep > Integer.MAX_VALUE - 64) {
            throw new UnsupportedOperationException("router panel of " + dModel + " × " + ep + " floats is too large");
        }
        float[] panel = Buffers.get(Buffers.ROUTER_PANEL, dModel * ep);
        CpuThreads.forRange(dModel, Math.max(1, 4096 / ep), (from, to) -> {
            for (long i = from; i < to; i++) {
                widenRow(routerWeights, i, panel, (int) i * ep, experts);
                Arrays.fill(panel, (int) i * ep + experts, (int) (i + 1) * ep, 0f);
            }
        });
        int grainTiles = Math.max(1, (int) (65536L / ((long) dModel * ep + 1)));
        CpuThreads.forRange((tokens + ROUTER_ROWS - 1) / ROUTER_ROWS, grainTiles, (from, to) -> {
            float[] xr = Buffers.get(Buffers.ROUTER_ROWS, ROUTER_ROWS * dModel);
            float[] logits = Buffers.get(Buffers.LOGITS, ROUTER_ROWS * ep);
            float[] topVal = new float[k];
            int[] topIdx = new int[k];
            for (long tile = from; tile < to; tile++) {
                int t0 = (int) tile * ROUTER_ROWS;
                int rows = Math.min(ROUTER_ROWS, tokens - t0);
                for (int r = 0; r < ROUTER_ROWS; r++) {
                    // Missing rows of the last tile repeat its last token: computed, never stored.
                    widenRow(x, t0 + Math.min(r, rows - 1), xr, r * dModel, dModel);
                }
                routerLogits(xr, dModel, panel, ep, logits);
                for (int r = 0; r < rows; r++) {
                    selectTopK(logits, r * ep, experts, k, renormalize, topVal, topIdx, expertIds, weights, (t0 + r) * k);
                }
            }
        });
    }

    /** logits[r·ep + e] = Σ_i xr[r·d + i] · panel[i·ep + e] for the 4 rows of a tile. */
    private static void routerLogits(float[] xr, int d, float[] panel, int ep, float[] logits) {
        for (int c = 0; c < ep; c += V) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            FloatVector acc2 = FloatVector.zero(F);
            FloatVector acc3 = FloatVector.zero(F);
            for (int i = 0, pi = c; i < d; i++, pi += ep) {
                FloatVector w = FloatVector.fromArray(F, panel, pi);
                acc0 = FloatVector.broadcast(F, xr[i]).fma(w, acc0);
                acc1 = FloatVector.broadcast(F, xr[d + i]).fma(w, acc1);
                acc2 = FloatVector.broadcast(F, xr[2 * d + i]).fma(w, acc2);
                acc3 = FloatVector.broadcast(F, xr[3 * d + i]).fma(w, acc3);
            }
            acc0.intoArray(logits, c);
            acc1.intoArray(logits, ep + c);
            acc2.intoArray(logits, 2 * ep + c);
            acc3.intoArray(logits, 3 * ep + c);
        }
    }

    /**
     * Softmax (double, max subtracted) and top-k of one token's logits; writes k ids and weights
     * at {@code out}. NaN logits rank below every number; weights as {@link #softmaxTerm} says.
     */
    static void selectTopK(float[] logits, int off, int experts, int k, boolean renormalize,
                                   float[] topVal, int[] topIdx, int[] ids, float[] weights, int out) {
        int n = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) {
            float v = logits[off + e];
            if (v == v) {
                max = Math.max(max, v);
            }
            if (n == k && !ranksAbove(v, topVal[k - 1])) {
                continue;
            }
            int pos = n < k ? n++ : k - 1;
            // Strict: an equal value that came first (the lower index) stays ahead.
            while (pos > 0 && ranksAbove(v, topVal[pos - 1])) {
                topVal[pos] = topVal[pos - 1];
                topIdx[pos] = topIdx[pos - 1];
                pos--;
            }
            topVal[pos] = v;
            topIdx[pos] = e;
        }
        double sum = 0;
        for (int e = 0; e < experts; e++) {
            sum += softmaxTerm(logits[off + e], max);
        }
        double chosen = 0;
        for (int j = 0; j < k; j++) {
            chosen += softmaxTerm(topVal[j], max);
        }
        double norm = renormalize ? chosen : sum;
        for (int j = 0; j < k; j++) {
            ids[out + j] = topIdx[j];
            weights[out + j] = (float) (softmaxTerm(topVal[j], max) / norm);
        }
    }

    /** Larger, or a number against NaN: NaN ranks below every number, −∞ included (as the CUDA key and MoeReference). */
    private static boolean ranksAbove(float a, float b) {
        return a > b || (b != b && a == a);
    }

    /**
     * The softmax numerator of logit {@code v} given {@code max}, the largest non-NaN logit (−∞ if
     * none): {@code exp(v − max)}, NaN → 0. fp32 logits can overflow to +∞ for finite x (the float64
     * reference's cannot): then the +∞ logits share the weight, the limit of the softmax, instead of
     * {@code exp(∞ − ∞)} = NaN. With no logit above −∞ (a NaN x row) every expert weighs 1: the token
     * gets uniform weights and, through its x, NaN outputs. The CUDA router and {@code MoeReference}
     * use the same rule.
     */
    static double softmaxTerm(float v, float max) {
        if (max == Float.POSITIVE_INFINITY) {
            return v == Float.POSITIVE_INFINITY ? 1 : 0;
        }
        if (max == Float.NEGATIVE_INFINITY) {
            return 1;
        }
        return v != v ? 0 : Math.exp((double) v - max);
    }

    // =========================================================================================
    // Grouped expert GEMMs
    // =========================================================================================

    private enum Mode {
        /** gather x by token, GEMM1 + SwiGLU, GEMM2, combine into out [T, d_model]. */
        FORWARD,
        /** gather permuted rows, GEMM1 + SwiGLU, GEMM2, write y [P, d_model]. */
        MLP,
        /** gather permuted rows, one GEMM, write out [P, cols]. */
        GEMM
    }

    @Override
    public void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) {
        onTensors(() -> run(Mode.FORWARD, x, routing, weights, null, out), weights, x, out);
    }

    @Override
    public void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) {
        onTensors(() -> run(Mode.MLP, xPermuted, routing, weights, null, y), weights, xPermuted, y);
    }

    @Override
    public void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, Matrix matrix, Tensor out) {
        onTensors(() -> run(Mode.GEMM, in, routing, weights, matrix, out), weights, in, out);
    }

    /** bf16 weights: a {@link SliverBf16ExpertWeights} copy (see "Prepared weights" above); any other format as it is. */
    @Override
    public ExpertWeights prepare(ExpertWeights weights) {
        return weights instanceof Bf16ExpertWeights bf ? SliverBf16ExpertWeights.copyOf(bf) : weights;
    }

    /** {@link CpuThreads#onTensors} over the call's tensors and the experts' (see there why). */
    private static void onTensors(Runnable call, ExpertWeights weights, Tensor in, Tensor out) {
        List<Tensor> touched = new ArrayList<>(List.of(in, out));
        if (weights instanceof Bf16ExpertWeights b) {
            touched.add(b.w1());
            touched.add(b.w2());
        } else if (weights instanceof SliverBf16ExpertWeights sw) {
            touched.add(sw.tensor(Matrix.GATE_UP));
            touched.add(sw.tensor(Matrix.DOWN));
        } else if (weights instanceof W4A16ExpertWeights q) {
            for (Matrix m : Matrix.values()) {
                for (int e = 0; e < q.experts(); e++) {
                    QuantizedWeight w = q.weight(m, e);
                    touched.add(w.qweight());
                    touched.add(w.qzeros()); // null when symmetric: skipped
                    touched.add(w.scales());
                }
            }
        }
        CpuThreads.onTensors(call, touched.toArray(Tensor[]::new));
    }

    private void run(Mode mode, Tensor in, Routing routing, ExpertWeights w, Matrix matrix, Tensor out) {
        int kIn = mode == Mode.GEMM ? matrix.rows(w) : w.dModel();
        int nOut = mode == Mode.GEMM ? matrix.cols(w) : w.dFf();
        int lda = ld(kIn);
        int ldh = ld(nOut);
        int ldy = mode == Mode.GEMM ? 0 : ld(w.dModel());
        int widest = Math.max(lda, Math.max(ldh, ldy));
        List<Wave> waves = plan(routing, widest);
        int rows = 0;
        for (Wave wave : waves) {
            rows = Math.max(rows, wave.rows);
        }
        float[] a = Buffers.get(Buffers.A, rows * lda);
        float[] h = Buffers.get(Buffers.H, rows * ldh);
        float[] y = mode == Mode.GEMM ? null : Buffers.get(Buffers.Y, rows * ldy);
        for (Wave wave : waves) {
            gather(wave, in, mode == Mode.FORWARD ? routing : null, a, lda, kIn);
            if (mode == Mode.GEMM) {
                gemm(wave, a, lda, kIn, w, matrix, false, h, ldh);
                writeRows(wave, h, ldh, nOut, out);
                continue;
            }
            gemm(wave, a, lda, kIn, w, Matrix.GATE_UP, true, h, ldh);
            gemm(wave, h, ldh, w.dFf(), w, Matrix.DOWN, false, y, ldy);
            if (mode == Mode.MLP) {
                writeRows(wave, y, ldy, w.dModel(), out);
            } else {
                combineWave(wave, routing, y, ldy, w.dModel(), out);
            }
        }
    }

    /** Row length of a scratch buffer: whole slivers plus one cache line of skew. */
    private static int ld(int n) {
        return roundUp(n, SLIVER) + 16;
    }

    /**
     * The kernel's {@link ThreadArrays} slots, one per use, so that a call allocates only its plan:
     * the wave's rows (A, H, Y) on the calling thread, panels, partial sums and router rows on every
     * thread that runs a task (the caller runs tasks too, hence separate slots). Before, a call
     * allocated and zeroed them anew: at T = 256 about 10 MB for the rows and 0.5 MB per task
     * range. Every use writes what it reads first (the router panel zero-fills its padding columns),
     * so what an earlier call left behind is never read. Arrays over
     * {@link #KEEP_FLOATS} serve one call and are not kept (larger batches, e.g. T = 1024, k = 2,
     * d_ff = 2816 with 5.8 M floats for H, allocate per call). The cost: each thread that calls
     * the MoE keeps up to three arrays of at most 16 MiB (rows) and each pool thread its panel
     * (128 KiB narrow, 352 KiB wide) and partial sums (up to TASK_ROWS × 4 slivers, or
     * WIDE_ROWS × 22 slivers: 132 KiB with AVX-512), the streamed path's sums (rows × 2 × the
     * task's columns) and an int4 task's group zeros and scales (2 × its columns), for as long as
     * it lives.
     */
    static final class Buffers {
        static final int A = 0;
        static final int H = 1;
        static final int Y = 2;
        static final int ROUTER_PANEL = 3;
        static final int PANEL = 4;
        static final int PARTIAL = 5;
        static final int ROUTER_ROWS = 6;
        static final int LOGITS = 7;
        static final int ROW = 8;
        static final int STREAM = 9;
        static final int GROUP_PARAMS = 10;
        private static final int SLOTS = 11;
        /** The largest array kept: 4 Mi floats (16 MiB). */
        static final int KEEP_FLOATS = (int) (ThreadArrays.KEEP_BYTES / 4);
        private static final ThreadArrays KEPT = new ThreadArrays(SLOTS, ThreadArrays.KEEP_BYTES);

        private Buffers() {}

        /** This thread's array for {@code slot}, at least {@code floats} long; contents undefined. */
        static float[] get(int slot, int floats) {
            return KEPT.floats(slot, floats);
        }
    }

    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    /**
     * The tokens {@code [t0, t1)} of one wave, their copies per expert ({@code lo[e] ≤ p < hi[e]},
     * at scratch rows {@code base[e] + p − lo[e]}), and the row blocks that the GEMM tasks cover.
     */
    static final class Wave {
        final int t0;
        final int t1;
        final int[] lo;
        final int[] base;
        final int rows;
        // Row blocks (≤ MC rows of one expert): expert, first copy, first scratch row, rows.
        final int[] blockExpert;
        final int[] blockCopy;
        final int[] blockRow;
        final int[] blockRows;
        // GEMM tasks' rows (equal shares of one expert's rows, ≤ TASK_ROWS, see taskShare): expert, first scratch row, rows.
        final int[] taskExpert;
        final int[] taskRow;
        final int[] taskRows;

        Wave(Routing r, int t0, int t1, boolean all) {
            this.t0 = t0;
            this.t1 = t1;
            int experts = r.experts();
            lo = new int[experts];
            base = new int[experts];
            int[] hi = new int[experts];
            int total = 0;
            int blocks = 0;
            int tasks = 0;
            for (int e = 0; e < experts; e++) {
                lo[e] = all ? r.offset(e) : firstCopyFrom(r, r.offset(e), r.offset(e + 1), t0);
                hi[e] = all ? r.offset(e + 1) : firstCopyFrom(r, lo[e], r.offset(e + 1), t1);
                base[e] = total;
                int n = hi[e] - lo[e];
                total += n;
                blocks += (n + MC - 1) / MC;
                int share = taskShare(n);
                tasks += (n + share - 1) / share;
            }
            rows = total;
            blockExpert = new int[blocks];
            blockCopy = new int[blocks];
            blockRow = new int[blocks];
            blockRows = new int[blocks];
            int b = 0;
            for (int e = 0; e < experts; e++) {
                int n = hi[e] - lo[e];
                for (int r0 = 0; r0 < n; r0 += MC) {
                    blockExpert[b] = e;
                    blockCopy[b] = lo[e] + r0;
                    blockRow[b] = base[e] + r0;
                    blockRows[b] = Math.min(MC, n - r0);
                    b++;
                }
            }
            taskExpert = new int[tasks];
            taskRow = new int[tasks];
            taskRows = new int[tasks];
            int t = 0;
            for (int e = 0; e < experts; e++) {
                int n = hi[e] - lo[e];
                int share = taskShare(n);
                for (int r0 = 0; r0 < n; r0 += share) {
                    taskExpert[t] = e;
                    taskRow[t] = base[e] + r0;
                    taskRows[t] = Math.min(share, n - r0);
                    t++;
                }
            }
        }

        int blocks() {
            return blockExpert.length;
        }

        /**
         * Rows per task of an expert with {@code n} rows: equal shares of at most TASK_ROWS (800 rows
         * make 400 + 400, not 768 + 32), so the threads stay balanced and all tasks of an expert
         * take the same path and panel shape.
         */
        static int taskShare(int n) {
            int tasks = Math.max(1, (n + TASK_ROWS - 1) / TASK_ROWS);
            return Math.max(1, (n + tasks - 1) / tasks);
        }

        /** The scratch row of permuted copy {@code p} of expert {@code e} (a copy of this wave). */
        int rowOf(int e, int p) {
            return base[e] + p - lo[e];
        }

        /** The first copy in {@code [from, to)} (one expert's, tokens ascending) whose token is ≥ {@code token}. */
        private static int firstCopyFrom(Routing r, int from, int to, int token) {
            int lo = from;
            int hi = to;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (r.tokenOfCopy(mid) < token) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }
    }

    /** Cuts the tokens into waves whose scratch rows of {@code widest} floats stay within the bound. */
    List<Wave> plan(Routing r, int widest) {
        int tokens = r.tokens();
        int k = r.k();
        long capRows = Math.max(k, maxBufferFloats / widest);
        long perWave = Math.max(1, capRows / k);
        // Hard limit: a wave's scratch (one row per copy) must index an int array.
        perWave = Math.min(perWave, Math.max(1, (Integer.MAX_VALUE - 64) / ((long) k * widest)));
        List<Wave> waves = new ArrayList<>();
        if (perWave >= tokens) {
            waves.add(new Wave(r, 0, tokens, true));
            return waves;
        }
        for (int t0 = 0; t0 < tokens; t0 += (int) perWave) {
            waves.add(new Wave(r, t0, (int) Math.min(tokens, t0 + perWave), false));
        }
        return waves;
    }

    /**
     * Widens the wave's input rows into {@code a} (fp32, row length {@code k}, stride {@code lda}).
     * {@code byToken}: the rows come from
     * {@code in[tokenOfCopy(p)]} (forward), else from {@code in[p]} (permuted input).
     */
    private static void gather(Wave wave, Tensor in, Routing byToken, float[] a, int lda, int k) {
        CpuThreads.forRange(wave.blocks(), 1, (from, to) -> {
            for (int b = (int) from; b < to; b++) {
                int row = wave.blockRow[b];
                for (int i = 0; i < wave.blockRows[b]; i++) {
                    int p = wave.blockCopy[b] + i;
                    widenRow(in, byToken == null ? p : byToken.tokenOfCopy(p), a, (row + i) * lda, k);
                }
            }
        });
    }

    /**
     * One grouped GEMM over the wave: for every task's rows (≤ TASK_ROWS of one expert) and column
     * block, {@code dst[rows] = a[rows] · M[e]}, with the SwiGLU epilogue when {@code swiglu} (then
     * {@code M = W1}, and {@code dst} gets {@code d_ff} columns).
     */
    private static void gemm(Wave wave, float[] a, int lda, int k, ExpertWeights w, Matrix m, boolean swiglu,
                             float[] dst, int ldd) {
        IntPredicate streams = streamsRows(w, m, swiglu);
        int[] streamed = tasksWhere(wave, streams);
        if (streamed.length > 0) {
            streamGemm(wave, streamed, a, lda, k, w, m, swiglu, dst, ldd);
        }
        // The others pack panels: WIDE needs bf16 weights, and enough tasks × column blocks to keep
        // the threads busy.
        int[] few = tasksWhere(wave, rows -> !streams.test(rows) && rows <= WIDE_ROWS);
        boolean wide = (w instanceof Bf16ExpertWeights || w instanceof SliverBf16ExpertWeights) && (long) few.length * colBlocks(w, m, swiglu, WIDE) >= CpuThreads.threads();
        int[] narrow = tasksWhere(wave, rows -> !streams.test(rows) && (!wide || rows > WIDE_ROWS));
        if (wide && few.length > 0) {
            panelGemm(wave, few, WIDE, a, lda, k, w, m, swiglu, dst, ldd);
        }
        if (narrow.length > 0) {
            panelGemm(wave, narrow, NARROW, a, lda, k, w, m, swiglu, dst, ldd);
        }
    }

    /** The wave's tasks whose row count passes {@code test}, ascending. */
    private static int[] tasksWhere(Wave wave, IntPredicate test) {
        return IntStream.range(0, wave.taskRows.length).filter(b -> test.test(wave.taskRows[b])).toArray();
    }

    /**
     * The panel path of {@link #gemm} for tasks {@code ids}: each task × column block of
     * {@code shape.ns()} slivers packs its panels ({@link #runTask}).
     */
    private static void panelGemm(Wave wave, int[] ids, PanelShape shape, float[] a, int lda, int k, ExpertWeights w, Matrix m,
                                  boolean swiglu, float[] dst, int ldd) {
        int slivers = slivers(w, m, swiglu);
        int colBlocks = colBlocks(w, m, swiglu, shape);
        long tasks = (long) ids.length * colBlocks;
        int mostRows = Arrays.stream(ids).map(b -> wave.taskRows[b]).max().orElse(0);
        CpuThreads.forRange(tasks, 1, (from, to) -> {
            float[] panel = Buffers.get(Buffers.PANEL, shape.floats());
            float[] partial = swiglu ? Buffers.get(Buffers.PARTIAL, mostRows * shape.ldp()) : null;
            for (long task = from; task < to; task++) {
                int b = ids[(int) (task / colBlocks)];
                int s0 = (int) (task % colBlocks) * shape.ns();
                int ns = Math.min(shape.ns(), slivers - s0);
                runTask(wave, b, shape, s0, ns, a, lda, k, w, m, swiglu, dst, ldd, panel, partial);
            }
        });
    }

    /** Slivers of the GEMM's output columns: for SwiGLU V gate + V up columns each, else 2V columns. */
    private static int slivers(ExpertWeights w, Matrix m, boolean swiglu) {
        return swiglu ? (w.dFf() + V - 1) / V : (m.cols(w) + SLIVER - 1) / SLIVER;
    }

    /** Column blocks of one task in the given panel shape. */
    private static int colBlocks(ExpertWeights w, Matrix m, boolean swiglu, PanelShape shape) {
        return (slivers(w, m, swiglu) + shape.ns() - 1) / shape.ns();
    }

    /**
     * The tasks of the wave's GEMM that take {@link #streamGemm}, ascending: those with at most
     * {@link #STREAM_ROWS} rows (in a decode step every routed expert sees a token or a few; in a
     * small batch, most do), when the weights are bf16 or int4 in memory the Vector API can
     * address and the columns of each half are whole vectors; else none. The other tasks take the
     * panel path in the same call: both give the same bits, so the cut does not change the results.
     */
    static int[] streamedTasks(Wave wave, ExpertWeights w, Matrix m, boolean swiglu) {
        return tasksWhere(wave, streamsRows(w, m, swiglu));
    }

    /** Which task row counts stream their weights in this GEMM ({@link #streamedTasks}): none when the weights cannot. */
    private static IntPredicate streamsRows(ExpertWeights w, Matrix m, boolean swiglu) {
        boolean stream = canStream(w, m, swiglu);
        return rows -> stream && rows <= STREAM_ROWS;
    }

    /**
     * Whether the GEMM's weights can stream: each half's columns whole vectors, and bf16 weights
     * the Vector API can address, prepared bf16 weights (for the plain GEMM of W1 only when V
     * divides d_ff: {@link SliverBf16ExpertWeights#readsPlainVectors}), or int4 weights whose
     * words and scales it can address.
     */
    private static boolean canStream(ExpertWeights w, Matrix m, boolean swiglu) {
        if ((swiglu ? w.dFf() : m.cols(w)) % V != 0) {
            return false;
        }
        if (w instanceof Bf16ExpertWeights bf) {
            return vectorAddressable(bf.tensor(m).segment());
        }
        if (w instanceof SliverBf16ExpertWeights sw) {
            return swiglu || sw.readsPlainVectors(m);
        }
        if (w instanceof W4A16ExpertWeights q4) {
            for (int e = 0; e < w.experts(); e++) {
                QuantizedWeight q = q4.weight(m, e);
                if (!vectorAddressable(q.qweight().segment()) || !vectorAddressable(q.scales().segment())) {
                    return false;
                }
            }
            return true;
        }
        return false;
    }

    /**
     * The GEMM of tasks {@code ids} (at most {@link #STREAM_ROWS} rows each), straight from the
     * weight rows: {@code dst[i][c] = Σ_k a[i][k] · M[e][k][c]}, read row after row of M
     * (with SwiGLU, gate and up columns of the same row, then the SwiGLU pass): bf16 rows by
     * {@link #streamRows}, int4 word rows (8 weight rows each) by {@link #streamInt4Rows}. Tasks are
     * (expert's rows) × (a contiguous range of columns), as few ranges as keep the threads busy.
     *
     * <p>Why: in a decode step the panel path spends its time in {@link #pack}, which read
     * 2·NS·2V bytes of each weight row and moved on to the next (a strided walk; WIDE panels read
     * longer pieces now). On the Zen 4 VM
     * such reads ran at 5.6 GB/s (256–512 bytes per row) against 15.4 GB/s for whole rows (a
     * micro-benchmark widening 6 × 1024 rows of 11 KiB); and (until the rows stopped being
     * padded) each routed token took a whole MR-row tile. Here every weight element is loaded and
     * widened once and feeds one FMA per row, in the order of the panel path's tiles (k ascending, one fma each, from +0), so the
     * results are bit for bit those of the panel path.
     */
    private static void streamGemm(Wave wave, int[] ids, float[] a, int lda, int k, ExpertWeights w, Matrix m, boolean swiglu,
                                   float[] dst, int ldd) {
        int half = swiglu ? w.dFf() : m.cols(w);
        int tasks = ids.length;
        int vectors = half / V;
        int chunks = Math.max(1, Math.min(vectors, (CpuThreads.threads() + tasks - 1) / tasks));
        Tensor t = w instanceof Bf16ExpertWeights bf ? bf.tensor(m) : null;
        MemorySegment seg = t == null ? null : t.segment();
        long rowBytes = t == null ? 0 : t.rowByteOffset(1) - t.rowByteOffset(0);
        int halves = swiglu ? 2 : 1;
        CpuThreads.forRange((long) tasks * chunks, 1, (from, to) -> {
            for (long task = from; task < to; task++) {
                int b = ids[(int) (task / chunks)];
                int chunk = (int) (task % chunks);
                int v0 = (int) ((long) vectors * chunk / chunks);
                int v1 = (int) ((long) vectors * (chunk + 1) / chunks);
                if (v0 == v1) {
                    continue;
                }
                int e = wave.taskExpert[b];
                int row0 = wave.taskRow[b];
                int rows = wave.taskRows[b];
                int width = (v1 - v0) * V;
                float[] acc = Buffers.get(Buffers.STREAM, rows * halves * width);
                Arrays.fill(acc, 0, rows * halves * width, 0f);
                if (w instanceof SliverBf16ExpertWeights sw) {
                    streamSlivers(sw, m, e, v0, v1, halves, a, row0 * lda, lda, rows, acc);
                } else {
                    for (int hh = 0; hh < halves; hh++) {
                        if (t != null) {
                            long first = t.rowByteOffset((long) e * m.rows(w)) + 2L * (v0 * V + hh * half);
                            streamRows(seg, first, rowBytes, k, a, row0 * lda, lda, rows, acc, hh * width, V, halves * width, width);
                        } else {
                            QuantizedWeight q = ((W4A16ExpertWeights) w).weight(m, e);
                            float[] params = Buffers.get(Buffers.GROUP_PARAMS, 2 * width);
                            streamInt4Rows(q, v0 * V + hh * half, k, a, row0 * lda, lda, rows, acc, hh * width, halves * width,
                                    width, params);
                        }
                    }
                }
                for (int i = 0; i < rows; i++) {
                    int out = (row0 + i) * ldd + v0 * V;
                    int at = i * halves * width;
                    for (int c = 0; c < width; c += V) {
                        FloatVector g = FloatVector.fromArray(F, acc, at + c);
                        (swiglu ? swish(g, FloatVector.fromArray(F, acc, at + width + c)) : g).intoArray(dst, out + c);
                    }
                }
            }
        });
    }

    /**
     * {@code acc[i·ldAcc + at + ⌊c/V⌋·accStep + c mod V] += Σ_{kk < k} a[aAt + i·lda + kk] · widen(W[kk][c])}
     * for {@code i < rows} (≤ STREAM_ROWS) and {@code c < width}: W row kk starts at byte
     * {@code first + kk·rowBytes}; {@code accStep = V} keeps the sums of consecutive columns
     * consecutive ({@link #streamSlivers} puts a sliver's up vector elsewhere). Eight weight rows per trip (single rows for the last k mod 8:
     * d_model and d_ff are multiples of 8 in the models this serves), so each accumulator vector is loaded and stored once per eight
     * FMAs, their order staying k ascending, and each weight vector is widened once for all rows.
     * Trip lengths measured at T = 1, d = 1024, d_ff = 2816, one thread: two rows 4.2 ms, four
     * 3.0–3.1 (fifth session), eight 2.0–2.1 against 2.8–3.0 for four in the same build (sixth
     * session; Mixtral's shape 43.6–43.8 → 34.0–34.3 ms); sixteen were no faster than eight at
     * d = 1024 and slower at Mixtral's shape (41–43 ms). The widening is written out: as a helper
     * it may stay a call, which boxes its vectors.
     */
    private static void streamRows(MemorySegment seg, long first, long rowBytes, int k, float[] a, int aAt, int lda,
                                   int rows, float[] acc, int at, int accStep, int ldAcc, int width) {
        int kk = 0;
        for (; kk + 8 <= k; kk += 8) {
            long p0 = first + kk * rowBytes;
            long p1 = p0 + rowBytes;
            long p2 = p1 + rowBytes;
            long p3 = p2 + rowBytes;
            long p4 = p3 + rowBytes;
            long p5 = p4 + rowBytes;
            long p6 = p5 + rowBytes;
            long p7 = p6 + rowBytes;
            for (int c = 0; c < width; c += V) {
                FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p0 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p1 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p2 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p3 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w4 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p4 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w5 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p5 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w6 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p6 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                FloatVector w7 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p7 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                for (int i = 0; i < rows; i++) {
                    int o = i * ldAcc + at + c / V * accStep;
                    int x = aAt + i * lda + kk;
                    FloatVector sum = FloatVector.fromArray(F, acc, o);
                    sum = w0.fma(FloatVector.broadcast(F, a[x]), sum);
                    sum = w1.fma(FloatVector.broadcast(F, a[x + 1]), sum);
                    sum = w2.fma(FloatVector.broadcast(F, a[x + 2]), sum);
                    sum = w3.fma(FloatVector.broadcast(F, a[x + 3]), sum);
                    sum = w4.fma(FloatVector.broadcast(F, a[x + 4]), sum);
                    sum = w5.fma(FloatVector.broadcast(F, a[x + 5]), sum);
                    sum = w6.fma(FloatVector.broadcast(F, a[x + 6]), sum);
                    sum = w7.fma(FloatVector.broadcast(F, a[x + 7]), sum);
                    sum.intoArray(acc, o);
                }
            }
        }
        for (; kk < k; kk++) {
            long p0 = first + kk * rowBytes;
            for (int c = 0; c < width; c += V) {
                FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p0 + 2L * c, ORDER)
                        .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                for (int i = 0; i < rows; i++) {
                    int o = i * ldAcc + at + c / V * accStep;
                    w0.fma(FloatVector.broadcast(F, a[aAt + i * lda + kk]), FloatVector.fromArray(F, acc, o)).intoArray(acc, o);
                }
            }
        }
    }

    /**
     * 2^23 as float bits, and the nibble mask: a blend of the two makes the float 2^23 + q of a
     * nibble q, and minus 2^23 + z it is q − z exactly (both below 2^24, zeros are integers), so
     * the streamed int4 decode gives the same bits as {@code (float) (q − z)} and the panel path.
     * It replaced {@code and(0xF).convert(I2F)}: with the conversion, a T = 1 int4 MoE step
     * (d = 1024, d_ff = 2816, one thread, Zen 5) took 1.0–1.2 ms alone but 1.8–2.7 ms after the
     * other MoE cases in the same JVM, and 44–54 ms in four of five JVMs after a bf16 decode step,
     * most likely the shared profiles of the Vector API's methods once more
     * (docs/results/2026-12-06b-cpu-rare-slow-compile.md; not confirmed: the compiler's logs hid
     * it). With the blend: 1.03–1.15 ms after the other cases, none slow in ten JVMs after a bf16
     * step (that quarter hour, the conversion's build: none in four either).
     */
    private static final IntVector MAGIC = IntVector.broadcast(I, 0x4B000000);
    private static final IntVector NIBBLE = IntVector.broadcast(I, 0xF);

    /**
     * {@link #streamRows} for int4 weights: {@code acc[i·ldAcc + at + c] += Σ_{kk < k} a[aAt +
     * i·lda + kk] · W[kk][col0 + c]} with {@code W = (q − z) · s} decoded as {@link #packInt4}
     * decodes it (the same arithmetic and one rounding, so the same fp32 weights), and the FMAs in
     * {@link #streamRows}' order (k ascending, eight per trip): the bits of the panel path. One
     * {@link IntVector} load of V words is one trip, 8 weight rows of V columns; per group the
     * zeros (plus 2^23, {@link #biasZeros}) and scales of the task's columns are widened once into {@code params}
     * ({@link #groupParams}). Needs the group size and k to be multiples of 8, which the W4A16
     * format guarantees.
     */
    private static void streamInt4Rows(QuantizedWeight q, int col0, int k, float[] a, int aAt, int lda, int rows, float[] acc,
                                       int at, int ldAcc, int width, float[] params) {
        MemorySegment words = q.qweight().segment();
        long wordRowBytes = q.qweight().rowByteOffset(1);
        int g = q.groupSize();
        for (int r0 = 0; r0 < k; r0 += g) {
            groupParams(q, r0 / g, col0, width, params);
            biasZeros(params, width);
            for (int kk = r0; kk < r0 + g; kk += 8) {
                long rowAt = (kk >>> 3) * wordRowBytes + 4L * col0;
                int c = 0;
                if (rows == 1) {
                    c = streamInt4Pairs(words, rowAt, width, a, aAt + kk, acc, at, params);
                }
                for (; c < width; c += V) {
                    IntVector wv = IntVector.fromMemorySegment(I, words, rowAt + 4L * c, ORDER);
                    FloatVector zm = FloatVector.fromArray(F, params, c);
                    FloatVector sc = FloatVector.fromArray(F, params, width + c);
                    FloatVector w0 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv, NIBBLE).reinterpretAsFloats().sub(zm).mul(sc);
                    FloatVector w1 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 4), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w2 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 8), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w3 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 12), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w4 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 16), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w5 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 20), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w6 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 24), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    FloatVector w7 = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, wv.lanewise(VectorOperators.LSHR, 28), NIBBLE).reinterpretAsFloats()
                            .sub(zm).mul(sc);
                    for (int i = 0; i < rows; i++) {
                        int o = i * ldAcc + at + c;
                        int x = aAt + i * lda + kk;
                        FloatVector sum = FloatVector.fromArray(F, acc, o);
                        sum = w0.fma(FloatVector.broadcast(F, a[x]), sum);
                        sum = w1.fma(FloatVector.broadcast(F, a[x + 1]), sum);
                        sum = w2.fma(FloatVector.broadcast(F, a[x + 2]), sum);
                        sum = w3.fma(FloatVector.broadcast(F, a[x + 3]), sum);
                        sum = w4.fma(FloatVector.broadcast(F, a[x + 4]), sum);
                        sum = w5.fma(FloatVector.broadcast(F, a[x + 5]), sum);
                        sum = w6.fma(FloatVector.broadcast(F, a[x + 6]), sum);
                        sum = w7.fma(FloatVector.broadcast(F, a[x + 7]), sum);
                        sum.intoArray(acc, o);
                    }
                }
            }
        }
    }

    /**
     * One row of {@link #streamInt4Rows}' trip, two column vectors at a time: each FMA follows
     * its weight's decode, the two columns' chains interleaved (same FMAs, same order per output).
     * With one row each column vector's eight FMAs form one dependent chain (about 32 cycles on
     * Zen 4), and the loop that decoded eight weights and then ran the chain was most likely
     * bound by it: Mixtral's shape at T = 1 took 36.5 ms that way and 30 ms this way (one
     * thread, Zen 4, two rounds each). Returns the first column not done (a last single vector is
     * left to the caller).
     */
    private static int streamInt4Pairs(MemorySegment words, long rowAt, int width, float[] a, int x, float[] acc, int at,
                                       float[] params) {
        int c = 0;
        for (; c + 2 * V <= width; c += 2 * V) {
            IntVector u = IntVector.fromMemorySegment(I, words, rowAt + 4L * c, ORDER);
            IntVector v = IntVector.fromMemorySegment(I, words, rowAt + 4L * (c + V), ORDER);
            FloatVector zmu = FloatVector.fromArray(F, params, c);
            FloatVector zmv = FloatVector.fromArray(F, params, c + V);
            FloatVector su = FloatVector.fromArray(F, params, width + c);
            FloatVector sv = FloatVector.fromArray(F, params, width + c + V);
            FloatVector sumU = FloatVector.fromArray(F, acc, at + c);
            FloatVector sumV = FloatVector.fromArray(F, acc, at + c + V);
            // The eight nibbles written out: as a loop over n (shift 4n) the same operations ran about
            // 5 % slower (T = 1 int4 MoE, d = 1024 / 4096: 1.33–1.37 → 1.42–1.44 ms, 32.2–32.9 →
            // 33.2–34.5 ms, one thread, Zen 4, three interleaved rounds), so they stay unrolled.
            FloatVector xb = FloatVector.broadcast(F, a[x]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u, NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v, NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 1]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 4), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 4), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 2]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 8), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 8), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 3]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 12), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 12), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 4]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 16), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 16), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 5]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 20), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 20), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 6]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 24), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 24), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            xb = FloatVector.broadcast(F, a[x + 7]);
            sumU = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, u.lanewise(VectorOperators.LSHR, 28), NIBBLE).reinterpretAsFloats()
                    .sub(zmu).mul(su).fma(xb, sumU);
            sumV = MAGIC.lanewise(VectorOperators.BITWISE_BLEND, v.lanewise(VectorOperators.LSHR, 28), NIBBLE).reinterpretAsFloats()
                    .sub(zmv).mul(sv).fma(xb, sumV);
            sumU.intoArray(acc, at + c);
            sumV.intoArray(acc, at + c + V);
        }
        return c;
    }

    /**
     * {@code params[0, width)} (a group's zeros, {@link #groupParams}) plus 2^23, once per group
     * rather than once per trip of 8 rows: the streamed decode subtracts 2^23 + z from the blend's
     * 2^23 + q ({@link #MAGIC}). Exact: the zeros are integers below 2^23.
     */
    private static void biasZeros(float[] params, int width) {
        for (int c = 0; c < width; c += V) {
            FloatVector.fromArray(F, params, c).add(0x1p23f).intoArray(params, c);
        }
    }

    /**
     * Group {@code gi}'s zeros into {@code params[0, width)} and scales into
     * {@code params[width, 2·width)} for columns {@code col0 .. col0+width−1} ({@code width} a
     * multiple of V), exactly {@link QuantizedWeight#zero} and {@link QuantizedWeight#scale}: the
     * zeros unpacked from their words (one scalar read per 8 columns), fp32 scales copied, bf16
     * scales shifted ({@link #widenRowFrom}), fp16 scales widened V at a time ({@link #widenFp16}).
     * Package-private for the tests. One {@link QuantizedWeight#scale} call per
     * column and group (in an experiment, to fold the zero into the scale) made an int4 decode
     * step take 2.1 instead of 1.2 ms (T = 1, d = 1024, d_ff = 2816, one thread, Zen 4).
     */
    static void groupParams(QuantizedWeight q, int gi, int col0, int width, float[] params) {
        Tensor zeros = q.qzeros();
        if (zeros == null) {
            Arrays.fill(params, 0, width, QuantizedWeight.SYMMETRIC_ZERO);
        } else {
            MemorySegment zs = zeros.segment();
            long rowAt = zeros.rowByteOffset(gi);
            for (int c = 0; c < width; ) {
                int col = col0 + c;
                int word = zs.get(ValueLayout.JAVA_INT_UNALIGNED, rowAt + 4L * (col >>> 3));
                for (int end = Math.min(width, c + 8 - (col & 7)); c < end; c++) {
                    params[c] = (word >>> 4 * ((col0 + c) & 7)) & 0xF;
                }
            }
        }
        Tensor scales = q.scales();
        if (scales.dtype() == DType.FP16) {
            MemorySegment ss = scales.segment();
            long rowAt = scales.rowByteOffset(gi);
            for (int c = 0; c < width; c += V) {
                widenFp16(ShortVector.fromMemorySegment(S, ss, rowAt + 2L * (col0 + c), ORDER)).intoArray(params, width + c);
            }
        } else {
            widenRowFrom(scales, gi, col0, params, width, width);  // fp32 copied, bf16 shifted
        }
    }

    /**
     * V finite fp16 values widened exactly to fp32 ({@link Float#float16ToFloat}; the Vector API
     * has no half-precision conversion): the 15 bits of exponent and mantissa shifted into a
     * float's place read as the float {@code |h| · 2^−112} (normal and subnormal halves alike,
     * the latter as float subnormals), times 2^112, and the sign put back. Infinities and NaN
     * would come out finite; fp16 scales are finite by {@link QuantizedWeight}'s contract.
     */
    static FloatVector widenFp16(ShortVector h) {
        IntVector bits = (IntVector) h.convertShape(VectorOperators.S2I, I, 0);
        FloatVector magnitude = bits.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
        return magnitude.reinterpretAsInts().or(bits.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /**
     * One task: the rows of task {@code b} (≤ TASK_ROWS rows of one expert) times slivers
     * {@code s0 .. s0+ns−1} ({@code ns ≤ shape.ns()}) of its expert's matrix. Per k-block the panel is packed (widened or
     * decoded) once, then the rows are walked MC at a time (that block of A stays in L2 while its
     * tiles sweep the slivers). Plain: the tiles accumulate straight in {@code dst} across
     * k-blocks. SwiGLU: gate and up accumulate in {@code partial} ({@code [rows][shape.ldp()]}), and a
     * pass after the last k-block turns each sliver's pairs into V activations in {@code dst}.
     */
    private static void runTask(Wave wave, int b, PanelShape shape, int s0, int ns, float[] a, int lda, int k, ExpertWeights w,
                                Matrix m, boolean swiglu, float[] dst, int ldd, float[] panel, float[] partial) {
        int e = wave.taskExpert[b];
        int row0 = wave.taskRow[b];
        int taskRows = wave.taskRows[b];
        int ldp = shape.ldp();
        int[] aOff = new int[1];
        boolean fuse = w instanceof SliverBf16ExpertWeights sw0 && sw0.pairsHalves(m, swiglu);
        for (int k0 = 0; k0 < k; k0 += shape.kc()) {
            int kb = Math.min(shape.kc(), k - k0);
            boolean first = k0 == 0;
            int head = 0;
            if (fuse) {
                head = Math.min(MR, taskRows);
                float[] c = swiglu ? partial : dst;
                int cAt = swiglu ? 0 : row0 * ldd + s0 * SLIVER;
                int ldc = swiglu ? ldp : ldd;
                if (first) {
                    for (int r = 0; r < head; r++) {
                        Arrays.fill(c, cAt + r * ldc, cAt + r * ldc + ns * SLIVER, 0f);
                    }
                }
                fusedHead((SliverBf16ExpertWeights) w, m, e, k0, kb, s0, ns, head, a, row0 * lda + k0, lda, panel, ldp, c, cAt, ldc);
            } else {
                pack(w, m, e, k0, kb, s0, ns, swiglu, panel, shape);
            }
            // One BRGEMM call per MC rows over all ns slivers: the panel's rows are ns·2V wide, so
            // the register tiles span two slivers with AVX-512 (6 × 4 vectors).
            for (int i0 = head; i0 < taskRows; i0 += MC) {
                int rows = Math.min(taskRows, i0 + MC) - i0;
                aOff[0] = (row0 + i0) * lda + k0;
                if (swiglu) {
                    Brgemm.fp32(rows, ns * SLIVER, kb, 1, a, aOff, lda, panel, Brgemm.NO_OFFSET, ldp, partial, i0 * ldp, ldp, !first);
                } else {
                    Brgemm.fp32(rows, ns * SLIVER, kb, 1, a, aOff, lda, panel, Brgemm.NO_OFFSET, ldp, dst,
                            (row0 + i0) * ldd + s0 * SLIVER, ldd, !first);
                }
            }
        }
        if (swiglu) {
            for (int i = 0; i < taskRows; i++) {
                for (int s = 0; s < ns; s++) {
                    int at = i * ldp + s * SLIVER;
                    swish(FloatVector.fromArray(F, partial, at), FloatVector.fromArray(F, partial, at + V))
                            .intoArray(dst, (row0 + i) * ldd + (s0 + s) * V);
                }
            }
        }
    }

    /**
     * SwiGLU of one vector pair: {@code silu(gate) · up = gate · σ(gate) · up}, with
     * {@code t = e^−|gate|} from {@link VectorAttentionKernel#exp2} (arithmetic only) and
     * {@code σ = 1/(1 + t)} for {@code gate ≥ 0}, {@code t/(1 + t)} below. Rejected: the Vector
     * API's {@code EXP} ({@code gate / (1 + e^−gate)}, the first version): at
     * {@code -XX:UseAVX=0} its results changed from call to call as the code got compiled (the
     * same MLP call, one thread, differed in up to 2709 of 216 480 fp32 outputs), so the layer
     * was not bit-reproducible there.
     */
    static FloatVector swish(FloatVector gate, FloatVector up) {
        FloatVector t = VectorAttentionKernel.exp2(gate.abs().mul(-VectorAttentionKernel.LOG2E));
        FloatVector numerator = t.blend(1f, gate.compare(VectorOperators.GE, 0f));
        return gate.mul(numerator.div(t.add(1f))).mul(up);
    }

    /**
     * Packs rows {@code k0 .. k0+kb−1} of slivers {@code s0 .. s0+ns−1} of expert {@code e}'s
     * matrix into {@code panel[kk][shape.ldp()]} (sliver s at columns {@code s·2V}), widened to fp32, zero beyond
     * the matrix. A sliver's two halves: for SwiGLU, V gate columns {@code sV..} and the same V up
     * columns {@code d_ff + sV..}; otherwise the 2V consecutive columns {@code 2sV..}.
     */
    private static void pack(ExpertWeights w, Matrix m, int e, int k0, int kb, int s0, int ns, boolean swiglu, float[] panel,
                             PanelShape shape) {
        int ldp = shape.ldp();
        int half = swiglu ? w.dFf() : m.cols(w);  // columns in each half's own range
        int lastStart = halfStart(s0 + ns - 1, 1, swiglu);
        boolean whole = lastStart + V <= half;     // every half of every sliver is V real columns
        if (w instanceof SliverBf16ExpertWeights sw) {
            if (sw.pairsHalves(m, swiglu)) {
                packSlivers(sw, m, e, k0, kb, s0, ns, panel, 0, ldp);
                return;
            }
            if (sw.readsPlainVectors(m)) {
                packPlainVectors(sw, m, e, k0, kb, s0, ns, panel, ldp);
                return;
            }
        }
        if (whole && w instanceof Bf16ExpertWeights bf && vectorAddressable(bf.tensor(m).segment())) {
            Tensor t = bf.tensor(m);
            long rowStart = (long) e * m.rows(w) + k0;
            long base = t.rowByteOffset(rowStart);
            long rowBytes = t.rowByteOffset(rowStart + 1) - base;
            long first0 = 2L * halfStart(s0, 0, swiglu);
            long first1 = 2L * ((swiglu ? w.dFf() : 0) + halfStart(s0, 1, swiglu));
            long step = 2L * (swiglu ? V : SLIVER);
            packBf16(t.segment(), base, rowBytes, kb, ns, first0, first1, step, panel, ldp);
            return;
        }
        if (whole && w instanceof W4A16ExpertWeights q4) {
            QuantizedWeight q = q4.weight(m, e);
            if (vectorAddressable(q.qweight().segment())) {
                for (int s = 0; s < ns; s++) {
                    for (int hh = 0; hh < 2; hh++) {
                        int col = (swiglu && hh == 1 ? w.dFf() : 0) + halfStart(s0 + s, hh, swiglu);
                        packInt4(q, k0, kb, col, panel, s * SLIVER + hh * V, ldp, shape.groupParams());
                    }
                }
                return;
            }
        }
        // Any other format, or a partial sliver: the format's own decode, V columns at a time, then
        // zero the columns beyond the matrix.
        for (int s = 0; s < ns; s++) {
            for (int hh = 0; hh < 2; hh++) {
                int c0 = halfStart(s0 + s, hh, swiglu);
                int shift = swiglu && hh == 1 ? w.dFf() : 0;
                int valid = Math.max(0, Math.min(V, half - c0));
                int dst = s * SLIVER + hh * V;
                if (valid > 0) {
                    w.decode(m, e, k0, kb, shift + c0, valid, panel, dst, ldp);
                }
                if (valid < V) {
                    for (int kk = 0; kk < kb; kk++) {
                        Arrays.fill(panel, dst + kk * ldp + valid, dst + kk * ldp + V, 0f);
                    }
                }
            }
        }
    }

    /**
     * The bf16 fast path of {@link #pack}, all slivers whole: row {@code kk} of the block starts
     * at byte {@code base + kk·rowBytes}; sliver {@code s}'s halves at {@code first0 + s·step} and
     * {@code first1 + s·step} within it. One tight loop with the widening inline: as a helper
     * called per V elements it ran 15× slower than this.
     */
    private static void packBf16(MemorySegment seg, long base, long rowBytes, int kb, int ns,
                                 long first0, long first1, long step, float[] panel, int ldp) {
        for (int kk = 0; kk < kb; kk++) {
            long row = base + kk * rowBytes;
            long p0 = row + first0;
            long p1 = row + first1;
            for (int s = 0, d = kk * ldp; s < ns; s++, d += SLIVER, p0 += step, p1 += step) {
                ((IntVector) ShortVector.fromMemorySegment(S, seg, p0, ORDER).convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(panel, d);
                ((IntVector) ShortVector.fromMemorySegment(S, seg, p1, ORDER).convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(panel, d + V);
            }
        }
    }

    /**
     * {@link #pack} from the CPU layout ({@link SliverBf16ExpertWeights}): per 128-row block, the
     * task's slivers {@code s0 .. s0+ns−1} are one run of memory, {@code depth × 2V} bf16 per
     * sliver, widened row by row into the panel (zeros included: the layout pads its last
     * sliver). {@code kc} of both panel shapes is a multiple of the block depth, so a k-block
     * never starts inside a block.
     */
    private static void packSlivers(SliverBf16ExpertWeights sw, Matrix m, int e, int k0, int kb, int s0, int ns,
                                    float[] panel, int pCol, int ldp) {
        MemorySegment seg = sw.tensor(m).segment();
        for (int b0 = k0; b0 < k0 + kb; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
            int depth = sw.blockDepth(m, b0);
            long src = 2 * (sw.blockStart(m, e, b0) + (long) s0 * depth * SLIVER);
            for (int s = 0; s < ns; s++) {
                for (int kk = 0, d = (b0 - k0) * ldp + pCol + s * SLIVER; kk < depth; kk++, d += ldp, src += 2 * SLIVER) {
                    ((IntVector) ShortVector.fromMemorySegment(S, seg, src, ORDER).convertShape(VectorOperators.S2I, I, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(panel, d);
                    ((IntVector) ShortVector.fromMemorySegment(S, seg, src + 2 * V, ORDER).convertShape(VectorOperators.S2I, I, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(panel, d + V);
                }
            }
        }
    }

    /**
     * {@link #pack} of W1 from the CPU layout for the plain GEMM ({@code MoeLayer.gateUp}): panel
     * sliver {@code s} is plain column vectors {@code 2s, 2s + 1}, each {@code depth} rows of half
     * a stored sliver ({@link SliverBf16ExpertWeights#plainVector}). V divides d_ff here, so every
     * panel sliver is two whole vectors of the matrix.
     */
    private static void packPlainVectors(SliverBf16ExpertWeights sw, Matrix m, int e, int k0, int kb, int s0, int ns,
                                         float[] panel, int ldp) {
        MemorySegment seg = sw.tensor(m).segment();
        for (int b0 = k0; b0 < k0 + kb; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
            int depth = sw.blockDepth(m, b0);
            for (int j = 2 * s0; j < 2 * (s0 + ns); j++) {
                int d = (b0 - k0) * ldp + (j - 2 * s0) * V;
                long src = 2 * sw.plainVector(m, e, b0, j);
                for (int kk = 0; kk < depth; kk++, d += ldp, src += 2 * SLIVER) {
                    ((IntVector) ShortVector.fromMemorySegment(S, seg, src, ORDER).convertShape(VectorOperators.S2I, I, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(panel, d);
                }
            }
        }
    }

    /**
     * The pack of a task's k-block fused with its first row tile (prepared weights; see
     * "Prepared weights"): with AVX-512, per 128-row block and pair of slivers, {@link #fused6x4}
     * reads the two slivers' bf16 rows, widens them, stores them to the panel for the task's other
     * rows and multiplies them by the first {@code rows} (≤ MR) rows of A, accumulating into
     * {@code c[cAt + r·ldc ..]}; an odd last sliver is packed alone and multiplied by
     * {@link Brgemm#fp32}. With narrower vectors (MR = 4) {@link #fused4x2} does one sliver at a
     * time. The sums are those of the unfused path: every output element gets its FMAs in k order
     * from the same fp32 weights.
     */
    private static void fusedHead(SliverBf16ExpertWeights sw, Matrix m, int e, int k0, int kb, int s0, int ns, int rows,
                                  float[] a, int aAt, int lda, float[] panel, int ldp, float[] c, int cAt, int ldc) {
        MemorySegment seg = sw.tensor(m).segment();
        touchBlocks(sw, m, e, k0, kb, s0, ns, seg);
        if (MR == 4) {
            for (int b0 = k0; b0 < k0 + kb; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
                int depth = sw.blockDepth(m, b0);
                long sliverBytes = 2L * depth * SLIVER;
                long src = 2 * sw.blockStart(m, e, b0) + s0 * sliverBytes;
                int pRow = (b0 - k0) * ldp;
                for (int s = 0; s < ns; s++, src += sliverBytes) {
                    fused4x2(rows, depth, a, aAt + (b0 - k0), lda, seg, src, panel, pRow + s * SLIVER, ldp, c, cAt + s * SLIVER, ldc);
                }
            }
            return;
        }
        int pairs = ns / 2;
        for (int b0 = k0; b0 < k0 + kb; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
            int depth = sw.blockDepth(m, b0);
            long block = 2 * sw.blockStart(m, e, b0);
            long sliverBytes = 2L * depth * SLIVER;
            int pRow = (b0 - k0) * ldp;
            for (int p = 0; p < pairs; p++) {
                long src = block + (s0 + 2 * p) * sliverBytes;
                fused6x4(rows, depth, a, aAt + (b0 - k0), lda, seg, src, src + sliverBytes, panel, pRow + 2 * p * SLIVER, ldp,
                        c, cAt + 2 * p * SLIVER, ldc);
            }
        }
        if (ns % 2 == 1) {
            int last = ns - 1;
            packSlivers(sw, m, e, k0, kb, s0 + last, 1, panel, last * SLIVER, ldp);
            int[] aOff = {aAt};
            int[] bOff = {last * SLIVER};
            Brgemm.fp32(rows, SLIVER, kb, 1, a, aOff, lda, panel, bOff, ldp, c, cAt + last * SLIVER, ldc, true);
        }
    }

    /**
     * {@link Brgemm#k4x2} (AVX2 and narrower) with B from one sliver of the prepared layout: row
     * {@code kk} at byte {@code p + kk·4V}, widened and stored to {@code panel[pAt + kk·ldp ..]}
     * (2V floats) before its 8 FMAs; otherwise as {@link #fused6x4}.
     */
    private static void fused4x2(int rows, int depth, float[] a, int aAt, int lda, MemorySegment seg, long p,
                                 float[] panel, int pAt, int ldp, float[] c, int cAt, int ldc) {
        int last = rows - 1;
        int r1 = Math.min(1, last);
        int r2 = Math.min(2, last);
        int r3 = Math.min(3, last);
        int c0 = cAt;
        int c1 = cAt + r1 * ldc;
        int c2 = cAt + r2 * ldc;
        int c3 = cAt + r3 * ldc;
        FloatVector s00 = FloatVector.fromArray(F, c, c0);
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + V);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + V);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + V);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + V);
        int a0 = aAt;
        int a1 = a0 + r1 * lda;
        int a2 = a0 + r2 * lda;
        int a3 = a0 + r3 * lda;
        for (int kk = 0, pk = pAt; kk < depth; kk++, pk += ldp, p += 2 * SLIVER) {
            FloatVector b0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector b1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p + 2 * V, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            b0.intoArray(panel, pk);
            b1.intoArray(panel, pk + V);
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
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + V);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + V);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + V);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + V);
    }

    /**
     * Reads one long of every 64-byte line of the task's weights for this k-block (slivers
     * {@code s0 .. s0+ns−1} of each 128-row block: one run of memory per block) before the fused
     * tiles run, so that they read from the caches. See "Prepared weights": the loads are
     * independent and nothing waits on them, so they overlap each other, where the fused tile's own
     * reads waited for DRAM with arithmetic in between.
     */
    private static void touchBlocks(SliverBf16ExpertWeights sw, Matrix m, int e, int k0, int kb, int s0, int ns,
                                    MemorySegment seg) {
        long sum = 0;
        for (int b0 = k0; b0 < k0 + kb; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
            long sliverBytes = 2L * sw.blockDepth(m, b0) * SLIVER;
            long from = 2 * sw.blockStart(m, e, b0) + s0 * sliverBytes;
            MemorySegment run = seg.asSlice(from, ns * sliverBytes);
            for (long q = 0; q < run.byteSize(); q += TOUCH_STRIDE) {
                sum += run.get(ValueLayout.JAVA_LONG_UNALIGNED, q);
            }
        }
        // The sum must look used, or C2 drops the loads; this branch is as good as never taken.
        if (sum == TOUCH_SENTINEL) {
            touchSink++;
        }
    }

    /** One read per cache line in {@link #touchBlocks}. */
    private static final int TOUCH_STRIDE = 64;
    private static final long TOUCH_SENTINEL = 0x5DEECE66DL;
    /** Written only when the touched sum equals {@link #TOUCH_SENTINEL}; read by nothing. */
    private static int touchSink;

    /**
     * {@link Brgemm#k6x4} with B from two slivers of the prepared layout: row {@code kk} of the
     * first sliver at byte {@code p0 + kk·4V}, of the second at {@code p1 + kk·4V} (2V bf16 each),
     * widened and stored to {@code panel[pAt + kk·ldp ..]} (4V floats) before its 24 FMAs. Rows
     * beyond {@code rows} alias the last, as in Brgemm. Written out for the same reason as the
     * Brgemm tiles: C2 keeps the 24 sums in registers only when nothing is called in the loop.
     */
    private static void fused6x4(int rows, int depth, float[] a, int aAt, int lda, MemorySegment seg, long p0, long p1,
                                 float[] panel, int pAt, int ldp, float[] c, int cAt, int ldc) {
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
        FloatVector s01 = FloatVector.fromArray(F, c, c0 + V);
        FloatVector s02 = FloatVector.fromArray(F, c, c0 + 2 * V);
        FloatVector s03 = FloatVector.fromArray(F, c, c0 + 3 * V);
        FloatVector s10 = FloatVector.fromArray(F, c, c1);
        FloatVector s11 = FloatVector.fromArray(F, c, c1 + V);
        FloatVector s12 = FloatVector.fromArray(F, c, c1 + 2 * V);
        FloatVector s13 = FloatVector.fromArray(F, c, c1 + 3 * V);
        FloatVector s20 = FloatVector.fromArray(F, c, c2);
        FloatVector s21 = FloatVector.fromArray(F, c, c2 + V);
        FloatVector s22 = FloatVector.fromArray(F, c, c2 + 2 * V);
        FloatVector s23 = FloatVector.fromArray(F, c, c2 + 3 * V);
        FloatVector s30 = FloatVector.fromArray(F, c, c3);
        FloatVector s31 = FloatVector.fromArray(F, c, c3 + V);
        FloatVector s32 = FloatVector.fromArray(F, c, c3 + 2 * V);
        FloatVector s33 = FloatVector.fromArray(F, c, c3 + 3 * V);
        FloatVector s40 = FloatVector.fromArray(F, c, c4);
        FloatVector s41 = FloatVector.fromArray(F, c, c4 + V);
        FloatVector s42 = FloatVector.fromArray(F, c, c4 + 2 * V);
        FloatVector s43 = FloatVector.fromArray(F, c, c4 + 3 * V);
        FloatVector s50 = FloatVector.fromArray(F, c, c5);
        FloatVector s51 = FloatVector.fromArray(F, c, c5 + V);
        FloatVector s52 = FloatVector.fromArray(F, c, c5 + 2 * V);
        FloatVector s53 = FloatVector.fromArray(F, c, c5 + 3 * V);
        int a0 = aAt;
        int a1 = a0 + r1 * lda;
        int a2 = a0 + r2 * lda;
        int a3 = a0 + r3 * lda;
        int a4 = a0 + r4 * lda;
        int a5 = a0 + r5 * lda;
        for (int kk = 0, pk = pAt; kk < depth; kk++, pk += ldp, p0 += 2 * SLIVER, p1 += 2 * SLIVER) {
            FloatVector b0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p0, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector b1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p0 + 2 * V, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector b2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p1, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector b3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, p1 + 2 * V, ORDER).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            b0.intoArray(panel, pk);
            b1.intoArray(panel, pk + V);
            b2.intoArray(panel, pk + 2 * V);
            b3.intoArray(panel, pk + 3 * V);
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
        s00.intoArray(c, c0);
        s01.intoArray(c, c0 + V);
        s02.intoArray(c, c0 + 2 * V);
        s03.intoArray(c, c0 + 3 * V);
        s10.intoArray(c, c1);
        s11.intoArray(c, c1 + V);
        s12.intoArray(c, c1 + 2 * V);
        s13.intoArray(c, c1 + 3 * V);
        s20.intoArray(c, c2);
        s21.intoArray(c, c2 + V);
        s22.intoArray(c, c2 + 2 * V);
        s23.intoArray(c, c2 + 3 * V);
        s30.intoArray(c, c3);
        s31.intoArray(c, c3 + V);
        s32.intoArray(c, c3 + 2 * V);
        s33.intoArray(c, c3 + 3 * V);
        s40.intoArray(c, c4);
        s41.intoArray(c, c4 + V);
        s42.intoArray(c, c4 + 2 * V);
        s43.intoArray(c, c4 + 3 * V);
        s50.intoArray(c, c5);
        s51.intoArray(c, c5 + V);
        s52.intoArray(c, c5 + 2 * V);
        s53.intoArray(c, c5 + 3 * V);
    }

    /**
     * {@link #streamGemm}'s work on vectors {@code v0 .. v1−1} of each of the {@code halves}
     * halves (2 for SwiGLU: gate and up) from the CPU layout: per 128-row block and sliver (or
     * plain vector), {@link #streamRows} over the block's rows (2V bf16 apart), summing vector v
     * of half hh into {@code acc[i·ldAcc + hh·width + (v − v0)·V ..]} with
     * {@code width = (v1 − v0)·V} and {@code ldAcc = halves·width}. Both vectors of a sliver go in
     * one trip while its block (8 KiB with AVX-512) is in L1: with the halves in separate passes,
     * as in the row-major path, W1 was read from memory twice and T = 16 ran 10 % slower than
     * from the row-major tensors. Sums in the row-major path's order: k ascending, one FMA each.
     */
    private static void streamSlivers(SliverBf16ExpertWeights sw, Matrix m, int e, int v0, int v1, int halves, float[] a,
                                      int aAt, int lda, int rows, float[] acc) {
        MemorySegment seg = sw.tensor(m).segment();
        int width = (v1 - v0) * V;
        int k = m.rows(sw);
        for (int b0 = 0; b0 < k; b0 += SliverBf16ExpertWeights.BLOCK_ROWS) {
            int depth = sw.blockDepth(m, b0);
            long block = sw.blockStart(m, e, b0);
            if (halves == 2) {
                // SwiGLU: sliver v holds gate vector v (sums at (v − v0)·V) and up vector v (sums
                // width floats further); both in one trip.
                for (int v = v0; v < v1; v++) {
                    long first = 2 * (block + (long) v * depth * SLIVER);
                    streamRows(seg, first, 2L * SLIVER, depth, a, aAt + b0, lda, rows, acc, (v - v0) * V, width, 2 * width, SLIVER);
                }
                continue;
            }
            // Plain columns: W2's sliver s holds vectors 2s, 2s + 1 (one trip when the chunk owns
            // both); W1's vectors come one by one (gate and up halves of different slivers).
            for (int v = v0; v < v1; ) {
                int vectors = m == Matrix.DOWN && v % 2 == 0 && v + 1 < v1 ? 2 : 1;
                streamRows(seg, 2 * sw.plainVector(m, e, b0, v), 2L * SLIVER, depth, a, aAt + b0, lda, rows, acc, (v - v0) * V,
                        V, width, vectors * V);
                v += vectors;
            }
        }
    }

    /**
     * The W4A16 fast path of {@link #pack}: rows {@code k0 .. k0+kb−1} of the V columns from
     * {@code col} into {@code panel[dst + kk·ldp ..]}. In the GPTQ layout a word holds 8 rows of
     * one column and the words of adjacent columns are adjacent, so one {@link IntVector} load of
     * V words gives 8 panel rows: nibble t of every lane, {@code (w >>> 4t) & 0xF}, blended into
     * the bits of 2^23 ({@link #MAGIC}), and turned into {@code (q − z) · s} with the group's V
     * zeros and scales ({@code q − z} exact, as {@code (float) (q − z)}), the same arithmetic
     * and the one rounding of {@link W4A16ExpertWeights#decode}, so the panels are identical. The
     * zeros and scales are read through the weight's own accessors once per group (1/g of the
     * work). Replaces the scalar decode, about 0.9 ns per weight on one thread, which was a third
     * of the int4 MoE layer's time. Needs {@code k0} and {@code kb} to be multiples of 8 and every
     * group boundary to fall on a word boundary; they do, since both panel depths, d_model and
     * d_ff are multiples of 8 and so is every accepted group size (32, 64, 128 or k). The group's
     * zeros and scales pass through {@code panel[params, params + 2V)}.
     */
    private static void packInt4(QuantizedWeight q, int k0, int kb, int col, float[] panel, int dst, int ldp, int params) {
        MemorySegment words = q.qweight().segment();
        long wordRowBytes = q.qweight().rowByteOffset(1);
        long colBytes = 4L * col;
        int g = q.groupSize();
        for (int r = k0; r < k0 + kb; ) {
            int gi = r / g;
            int groupEnd = Math.min(k0 + kb, (gi + 1) * g);
            for (int c = 0; c < V; c++) {
                panel[params + c] = q.zero(gi, col + c);
                panel[params + V + c] = q.scale(gi, col + c);
            }
            // 2^23 + z: minus it, the blend's 2^23 + q becomes q − z exactly (see MAGIC).
            FloatVector zm = FloatVector.fromArray(F, panel, params).add(0x1p23f);
            FloatVector sc = FloatVector.fromArray(F, panel, params + V);
            for (; r < groupEnd; r += 8) {
                IntVector w = IntVector.fromMemorySegment(I, words, (r >>> 3) * wordRowBytes + colBytes, ORDER);
                int d = dst + (r - k0) * ldp;
                for (int t = 0; t < 8; t++, d += ldp) {
                    MAGIC.lanewise(VectorOperators.BITWISE_BLEND, w.lanewise(VectorOperators.LSHR, 4 * t), NIBBLE)
                            .reinterpretAsFloats().sub(zm).mul(sc).intoArray(panel, d);
                }
            }
        }
    }

    /** First column (within its half's range) of half {@code hh} of sliver {@code s}. */
    private static int halfStart(int s, int hh, boolean swiglu) {
        return swiglu ? s * V : s * SLIVER + hh * V;
    }

    /** Writes the wave's scratch rows (first {@code n} columns) to {@code out} rows by permuted copy. */
    private static void writeRows(Wave wave, float[] src, int lds, int n, Tensor out) {
        CpuThreads.forRange(wave.blocks(), 1, (from, to) -> {
            for (int b = (int) from; b < to; b++) {
                for (int i = 0; i < wave.blockRows[b]; i++) {
                    storeRow(src, (wave.blockRow[b] + i) * lds, n, out, wave.blockCopy[b] + i);
                }
            }
        });
    }

    /** {@code out[t] = Σ_j w[t, j] · y[row of copy (t, j)]} for the wave's tokens. */
    private static void combineWave(Wave wave, Routing r, float[] y, int ldy, int n, Tensor out) {
        int k = r.k();
        int np = roundUp(n, V);
        CpuThreads.forRange(wave.t1 - wave.t0, Math.max(1, 16384 / (n * k)), (from, to) -> {
            float[] acc = Buffers.get(Buffers.ROW, np);
            for (int t = wave.t0 + (int) from; t < wave.t0 + to; t++) {
                for (int j = 0; j < k; j++) {
                    int row = wave.rowOf(r.expert(t, j), r.copyOf(t, j)) * ldy;
                    FloatVector wj = FloatVector.broadcast(F, r.weight(t, j));
                    for (int c = 0; c < np; c += V) {
                        FloatVector yv = FloatVector.fromArray(F, y, row + c);
                        (j == 0 ? yv.mul(wj) : yv.fma(wj, FloatVector.fromArray(F, acc, c))).intoArray(acc, c);
                    }
                }
                storeRow(acc, 0, n, out, t);
            }
        });
    }

    // =========================================================================================
    // The stand-alone element-wise steps
    // =========================================================================================

    @Override
    public void swiglu(Tensor h, Tensor a) {
        CpuThreads.onTensors(() -> swigluOn(h, a), h, a);
    }

    private void swigluOn(Tensor h, Tensor a) {
        int dFf = (int) a.cols();
        int n = roundUp(dFf, V);
        CpuThreads.forRange(h.rows(), Math.max(1, 16384 / dFf), (from, to) -> {
            float[] gate = new float[n];
            float[] up = new float[n];
            float[] out = new float[n];
            for (long r = from; r < to; r++) {
                widenRow(h, r, gate, 0, dFf);
                widenRowFrom(h, r, dFf, up, 0, dFf);
                for (int c = 0; c < n; c += V) {
                    swish(FloatVector.fromArray(F, gate, c), FloatVector.fromArray(F, up, c)).intoArray(out, c);
                }
                storeRow(out, 0, dFf, a, r);
            }
        });
    }

    @Override
    public void combine(Tensor y, Routing r, Tensor out) {
        CpuThreads.onTensors(() -> combineOn(y, r, out), y, out);
    }

    private void combineOn(Tensor y, Routing r, Tensor out) {
        int n = (int) out.cols();
        int k = r.k();
        int np = roundUp(n, V);
        CpuThreads.forRange(r.tokens(), Math.max(1, 16384 / (n * k)), (from, to) -> {
            float[] acc = new float[np];
            float[] row = new float[np];
            for (int t = (int) from; t < to; t++) {
                for (int j = 0; j < k; j++) {
                    widenRow(y, r.copyOf(t, j), row, 0, n);
                    FloatVector wj = FloatVector.broadcast(F, r.weight(t, j));
                    for (int c = 0; c < np; c += V) {
                        FloatVector yv = FloatVector.fromArray(F, row, c);
                        (j == 0 ? yv.mul(wj) : yv.fma(wj, FloatVector.fromArray(F, acc, c))).intoArray(acc, c);
                    }
                }
                storeRow(acc, 0, n, out, t);
            }
        });
    }

    // =========================================================================================
    // Row conversion between tensors (bf16 | fp32) and fp32 scratch
    // =========================================================================================

    /** The first {@code n} elements of {@code t}'s row {@code row}, widened into {@code dst[at..]}. */
    static void widenRow(Tensor t, long row, float[] dst, int at, int n) {
        widenRowFrom(t, row, 0, dst, at, n);
    }

    /** Elements {@code col .. col+n−1} of {@code t}'s row {@code row}, widened into {@code dst[at..]}. */
    static void widenRowFrom(Tensor t, long row, int col, float[] dst, int at, int n) {
        MemorySegment seg = t.segment();
        if (t.dtype() == DType.FP32) {
            MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED, t.rowByteOffset(row) + 4L * col, dst, at, n);
            return;
        }
        long off = t.rowByteOffset(row) + 2L * col;
        int c = 0;
        if (vectorAddressable(seg)) {
            for (; c + V <= n; c += V) {
                ((IntVector) ShortVector.fromMemorySegment(S, seg, off + 2L * c, ORDER).convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, at + c);
            }
        }
        for (; c < n; c++) {
            dst[at + c] = Float.intBitsToFloat((seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * c) & 0xFFFF) << 16);
        }
    }

    /** {@code src[at .. at+n)} to row {@code row} of {@code out}, rounded once (bf16: nearest even). */
    static void storeRow(float[] src, int at, int n, Tensor out, long row) {
        MemorySegment seg = out.segment();
        long off = out.rowByteOffset(row);
        if (out.dtype() == DType.FP32) {
            MemorySegment.copy(src, at, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, off, n);
            return;
        }
        int c = 0;
        if (vectorAddressable(seg)) {
            // Round to nearest even as Bf16.fromFloat: (bits + 0x7FFF + lsb) >>> 16, NaN quieted.
            for (; c + V <= n; c += V) {
                IntVector bits = FloatVector.fromArray(F, src, at + c).reinterpretAsInts();
                IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
                IntVector rounded = bits.add(high.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
                VectorMask<Integer> nan = bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
                rounded.blend(high.or(0x40), nan).convertShape(VectorOperators.I2S, S, 0)
                        .intoMemorySegment(seg, off + 2L * c, ORDER);
            }
        }
        for (; c < n; c++) {
            seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * c, Bf16.fromFloat(src[at + c]));
        }
    }

    /** The Vector API addresses native segments and heap segments over {@code byte[]} only. */
    static boolean vectorAddressable(MemorySegment seg) {
        return seg.isNative() || seg.heapBase().map(o -> o instanceof byte[]).orElse(false);
    }
}
