package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;

/**
 * FP8 attention on the CPU: tiled, flash-style (online softmax), Vector API FMAs, multi-threaded
 * over (batch · KV head · tile of query rows).
 *
 * <h2>Work split</h2>
 * The G = Hq/Hkv query heads that read one KV head are stacked into one column of
 * {@code G · Sq} query rows (head after head); one work item is a tile of {@code BQ = 64}
 * consecutive stacked rows of one (batch, KV head), or of 4 when a group of at most
 * {@link #SPLIT_ROWS} rows runs as fused decode-step items with AVX-512 ({@link #itemRows}):
 * <pre>
 *   G = 4, Sq = 1 (a decode step)          G = 2, Sq = 100
 *   stacked row   0    1    2    3         stacked rows   0 … 63 | 64 … 99  100 … 127 | 128 … 191 | 192 … 199
 *   query head   4g  4g+1 4g+2 4g+3        query head       2g   |    2g      2g+1    |   2g+1    |   2g+1
 *   tiles: one, one pass over K and V      tile              0   |         1          |     2     |     3
 * </pre>
 * Every row of a tile reads the same K and V, so each decoded K/V tile serves all of them, and a
 * decode step fills G lanes instead of one. GQA and MQA need no copy: rows read the caller's fp8
 * segments. {@link CpuThreads#forRange} spreads the {@code B · Hkv · ⌈G·Sq/tile⌉} items over the
 * pool; each thread keeps its {@link Scratch} arrays (about 195 KB at D = 128 with AVX-512, 64 KB of it the K pass's scores) from call to
 * call ({@link Scratch#forThread}), so a call allocates no arrays. Items are
 * independent: no locks, no reductions across threads. When a tensor lives in a confined arena
 * ({@code Arena.ofConfined()}), which only its owner thread may access, the items run on the
 * calling thread instead.
 *
 * <h2>Data flow of one work item</h2>
 * <pre>
 *  fp8 Q rows (64 stacked rows) ──scalar decode × qf──▶ qt [D][64]   (transposed: row index fastest)
 *      qf = qScale(head) · kScale · softmaxScale · log2(e)     (every scale folded into Q, per row)
 *      last[r] = causal ? min(Skv − 1, i + Skv − Sq) : Skv − 1  (the row's last visible key; −1: none)
 *
 *  for each key tile j0..j0+BK  (BK·D = 4096 floats; up to the largest last[r] of the tile only)
 *    fp8 K rows ──vector decode──▶ kt [BK][D]   fp32, unscaled (the K scale is in qf)
 *    fp8 V rows ──vector decode──▶ vt [D/2L][BK][2L]   column strips of two vectors, fp32,
 *                                                      raw: × 2^−120, NaN codes finite (see below);
 *                                                      the V scale is applied at the end
 *
 *    scores   st[j][i] = Σ_d kt[j][d] · qt[d][i]            log2 units; a BK × BQ tile, never Sq × Skv
 *             register block: 4 keys × 2 query vectors = 8 accumulators; per d: 2 loads of qt,
 *             4 broadcasts of kt, 8 FMAs (AVX-512: 4 keys × 4 query vectors, 16 accumulators)
 *    mask     only on tiles past some row's last[r]: st[j][r] = −∞ where j0 + j &gt; last[r]
 *             (a lane-wise compare and blend)
 *    softmax  per query vector (lanes = query rows, so no horizontal reductions):
 *             m' = max(m, max_j st[j]);  α = 2^(m − m');  p = 2^(st − m');  l = α·l + Σ_j p;
 *             st[j] = p · 2^120 (exact; it cancels the raw decode's 2^−120 in PV)
 *    PV       acc[i][:] = α_i · acc[i][:] + Σ_j st[j][i] · vt[j][:]
 *    NaN      only when the tile holds a NaN V code: acc[i][c] = NaN for the rows i that see it
 *             register block: 4 query rows × one strip (2 vectors of D) = 8 accumulators; per key:
 *             2 loads of vt, 4 broadcasts of p, 8 FMAs (AVX-512: two strips, 16 accumulators)
 *
 *  out[i][:] = bf16(acc[i][:] · vScale / l_i)      lse_i = ln2 · m_i + ln l_i
 *  rows with l_i = 0 saw no key:   out = 0, lse = −∞
 * </pre>
 *
 * <h2>Why this blocking</h2>
 * <ul>
 *   <li><b>Query rows in the vector lanes for QKᵀ.</b> With Q transposed once per item into
 *       {@code qt}, a score vector holds one key against {@code L} query rows. The row-wise
 *       softmax (max, exp, sum) then runs lane-wise over keys, with no horizontal reduction, and
 *       K tiles are used as decoded, row-major. The transpose is paid once per item
 *       ({@code BQ·D} scalar stores) and amortized over all {@code Skv/BK} key tiles.</li>
 *   <li><b>D in the vector lanes for PV.</b> The output row is the natural vector axis; the
 *       probabilities are broadcast from {@code st} (contiguous per key).</li>
 *   <li><b>8 accumulators, not 12 (16 with AVX-512).</b> With 12 (3 × 4 scores, 6 × 2 PV) C2 spilled one or two
 *       accumulators to the stack on AVX2's 16 vector registers, putting a store-load round trip
 *       on the FMA dependency chain; that ran at about half the rate. 8 accumulators plus 2
 *       operand vectors plus broadcast temporaries fit, and 8 independent chains still cover the
 *       FMA latency (checked in the disassembly: no spills, no bounds checks in either loop; a
 *       4 × 2 block alone, L1-resident, ran at about 98 GFLOP/s on one core here, near the
 *       2 × 8-lane FMA peak).
 *       With AVX-512 (32 registers) the blocks are 4 × 4 vectors instead ({@link #WIDE_BLOCKS}:
 *       4 query vectors × 4 keys, 4 rows × two V strips; 16 accumulators, 0.5 loads per FMA):
 *       Zen 5 runs two full-width FMAs per cycle at a latency of 4, so 8 chains are the bare
 *       minimum there. Same sums in the same order, so the same bits. Zen 5 VM, Hq = 8, Hkv = 2,
 *       D = 128, three interleaved rounds in one build: two threads S = 1024 18.7–19.0 →
 *       16.8–17.0 ms, causal 10.1–10.7 → 9.0–11.6 ms, S = 4096 causal 149–183 → 131–135 ms; one
 *       thread S = 4096 causal 282–370 → 248–304 ms, S = 1024 within the noise (30.9–40.3
 *       against 32.1–38.1 ms). Disassembled (PrintAssembly bytes through objdump, the blocks
 *       compiled on their own): 16 FMAs per iteration, no vector spills and no bounds checks in
 *       either loop; the PV block reloads its two strip offsets from the stack.</li>
 *   <li><b>Constant strides.</b> {@code BQ} is a compile-time constant and V is stored in column
 *       strips, so every inner-loop index is {@code constant · j + invariant}: C2 then removes the
 *       array bounds checks from the loops (with {@code j · d} or {@code j · bq} for a variable it
 *       does not).</li>
 *   <li><b>Tile sizes.</b> {@code qt} and {@code acc} are {@code 64·D} floats (32 KiB at D = 128)
 *       and the K and V tiles {@code BK·D = 4096} floats (16 KiB) each, so what each inner loop
 *       sweeps stays in L1/L2: the QKᵀ loop re-reads {@code qt} for every 4 keys, the PV loop
 *       re-reads one strip of {@code vt} (BK · 2L floats) for every 4 rows. In prefill each
 *       decoded K or V element feeds 64 multiply-adds, so the decode (about 9 vector ops per 8
 *       elements) stays a small share. In a decode step (G·Sq rows, often ≤ 8) it does not: a
 *       profile of Sq = 1, G = 4, Skv = 4096 put about 40 % of the time in the fp8 decode and
 *       most of the rest in the score loop, whose query vectors were 4 of 16 lanes full. Work
 *       items of at most {@link #FUSED_ROWS} rows therefore compute QKᵀ straight from the fp8 K
 *       rows with D in the lanes ({@link #scoresFused4}, {@link #scoresFused8}: each decoded
 *       vector feeds 4 or 8 FMAs, one lane sum per key and row, folded four keys at a time
 *       with AVX-512), and items of at most 4 rows
 *       also accumulate PV straight from the fp8 V rows ({@link #pvFused4}; AVX-512 only until
 *       the fifth session, see {@code pvFused4Halves} for 16 registers). That
 *       case went from 886 to 536 µs on one AVX-512 core with the fused QKᵀ and to 455 µs with
 *       the fused PV too (16 → 31 % of the FMA peak); before the PV fusion its profile was fused
 *       QKᵀ 37 %, V decode into {@code vt} 31 %, PV 15 %, softmax 13 %. Then (third session,
 *       1 thread, same machine): the 3-op raw decode with the NaN scan (no change alone: the
 *       fused QKᵀ was bound by its 4 qn loads per decoded vector), two keys per QKᵀ pass
 *       (450 → 385 µs), one 4L-byte load widened in quarters instead of four loads (segment
 *       checks, no net change), key-major scores with {@link #softmaxRows} (→ 361 µs, 39.5 %), the NaN flag
 *       taken from the bytes the kernels load instead of a scan per tile (→ 322–328 µs, 44 %).
 *       Fourth session: the quad layout below (→ 271–280 µs, 51–53 %), the scratch kept per
 *       thread, and 64-key tiles for the fused-PV items (→ 254–257 µs, 56 %). Fifth session:
 *       up to {@link #SPLIT_ROWS} rows are cut into 4-row items, so a G = 8 decode step runs two
 *       fused 4-row items instead of the fused 8-row QKᵀ and the blocked PV (40 → 56 %); and
 *       with 16 vector registers (AVX2 width) items of at most 4 rows take the fused PV in two
 *       passes ({@code pvFused4Halves}): the G = 4 decode step 586–606 → 407 µs (27 → 40 % of
 *       that width's FMA peak, one thread on the Zen 4 at {@code -XX:UseAVX=2}). On Zen 5
 *       (twice Zen 4's FMAs per cycle) the G = 4 step ran 171–208 µs, 35–43 % of the peak;
 *       twelfth session: the four rows' softmax steps together ({@link #softmaxRows}), the
 *       fused QKᵀ with the chunks outside and the keys inside ({@link #scoresFused4}) and its
 *       lane sums folded ({@link #foldScores4}): 144–180 µs (typically 150, 47–50 %), G = 8
 *       343–376 → 300–326 µs (best of three per JVM, six rounds). The step's time per key is
 *       the same from L2 (Skv = 512) to L3 (Skv = 16384): it is bound in the core, not by
 *       memory.
 *       Rejected on the way: four keys per QKᵀ pass (459 µs; 16 accumulators, C2's register
 *       allocation fell apart) and copying each K/V tile into a {@code byte[]} for check-free
 *       loads (the loops got ~25 % faster, the copy, a burst of cache misses with no compute
 *       to hide them, ate it: 410–443 µs).</li>
 *   <li><b>K, then V.</b> Since the bench reads K and V from memory (its runs rotate through
 *       128 MiB of copies), the G = 4 decode step took about 350 µs on one Zen 5 thread against
 *       about 150 µs with K and V in the caches, though 2 MiB of keys and values take 60–100 µs
 *       to read. Each tile's QKᵀ read its K rows and its PV then its V rows, so the reads
 *       alternated between two streams every 8 KiB; a throw-away loop with the same arithmetic
 *       per line hid DRAM completely when it read one stream in order and ran 2× slower with two
 *       streams interleaved (docs/results/2026-12-07j-cpu-dram-stalls-zen5.md; no PMU in that VM,
 *       so the prefetcher's part is inferred, not counted). The fused decode-step path now makes
 *       two passes per {@link #PASS_KEYS} keys ({@code Job.fusedInPasses}): the QKᵀ of all their
 *       tiles, keeping each tile's scores, then each tile's softmax and PV in the same order as
 *       before (same bits). Zen 5, interleaved JVMs (each one's median), K and V from memory, one
 *       thread: G = 4 307–421 → 214–247 µs (two noisy JVMs of ten: 307, 506), G = 8 486–688 →
 *       384–431 µs; two threads: G = 4 166–184 → 113–129 µs, G = 8 339–402 → 235–254 µs
 *       (docs/results/2026-12-08-cpu-decode-k-then-v.md). It replaced a read-ahead (the QKᵀ also
 *       read one int of each line of the next tile's K and V rows, 2 misses per iteration: G = 4
 *       348–375 → 301–363 µs); the read-ahead of the next tile's K rows in the K pass made it
 *       slower again (267–439 against 244–356 µs). Tried before and not kept: the same reads spread over
 *       both kernels, all the next tile's lines in the first chunk's pass, transparent huge pages
 *       (docs/results/2026-12-07i-cpu-hadamard-fp32-pipeline-zen5.md).</li>
 *   <li><b>Scales folded in.</b> The Q, K and softmax scales and {@code log2 e} are one factor on
 *       Q; the V scale is one factor on the output. The K tiles are pure fp8 decodes, the V
 *       tiles raw ones (× 2^−120, cancelled by the softmax's p × 2^120).</li>
 *   <li><b>exp2 without {@code Math.exp}.</b> Scores are in log2 units, so the softmax needs
 *       {@code 2^x} for {@code x ≤ 0}: round-to-nearest by the {@code 1.5·2^23} trick, a degree-6
 *       polynomial on {@code [−½, ½]} (relative error 2.2e-7 at worst over 16 M samples; the test bounds it by 4e-7), and the exponent built
 *       in the integer lanes. Inputs below −127 (masked −∞ included) give exactly 0.</li>
 *   <li><b>FP8 decode in the vector lanes.</b> 8 bytes → sign-extended ints ({@code B2I}); the
 *       float with bits {@code sign | (exp·mant) << 20} is the fp8 value times 2<sup>−120</sup>
 *       for normal and subnormal codes alike (fp8 subnormals land on float subnormals), so one
 *       multiply by 2<sup>120</sup> makes it exact; {@code S.1111.111} is blended to NaN. The
 *       V strips use {@code (code << 20) & 0x87F00000} (the sign-extension puts the sign in bit
 *       31) and no NaN blend, 3 ops per vector instead of 7–8, and the fused decode-step kernels
 *       the same raw value from int loads (the quad layout below),
 *       the 2<sup>120</sup> folded into Q (2<sup>60</sup>, the other 2<sup>60</sup> on the lane
 *       sums) or into p (the softmax stores p × 2<sup>120</sup>); the loops flag NaN codes from the
 *       bytes they load, and a scalar fix-up writes the NaNs into the rows that see the key.</li>
 *   <li><b>The quad layout of the fused decode-step kernels.</b> They load 4L codes as L ints
 *       and decode byte k of every int into one vector: {@code (w << (24 − 8k)) >> 4} (arithmetic;
 *       k = 3 needs no left shift) {@code & 0x87F00000} is the same raw value as above, the
 *       sign landing in bit 31 and the exponent and mantissa in bits 20–26. That vector holds
 *       columns {@code g + 4i + k} of the 4L-column group g, not consecutive ones, so qn and the
 *       fused PV's accumulators keep each group in that order ({@link #quad}); a dot product does
 *       not care, and {@code finish} and {@link #nanColumns} map the columns back. Per 4L codes
 *       that is 11 lane-wise ops where the {@code B2I} widening took 15 (three of its four parts
 *       need an extract before the cross-lane sign extension): 322–328 → 271–280 µs for the
 *       decode case on one core, 167–171 → 144 µs on two.</li>
 * </ul>
 *
 * <h2>Rejected alternatives</h2>
 * <ul>
 *   <li><i>D in the lanes for QKᵀ</i> (dot products per (i, j) pair): every score needs a
 *       horizontal reduction, roughly a quarter to a third more vector ops at D = 128 (16 FMAs
 *       per score against a 3-level shuffle-and-add reduction).</li>
 *   <li><i>Transposing each K tile</i> instead of Q: a transpose per key tile, not per item.</li>
 *   <li><i>Decoding K/V once per head into fp32</i>: shares the decode across query tiles and
 *       GQA heads but needs {@code Skv·D·8} bytes per head (K and V in fp32), four times the fp8 data;
 *       the per-tile decode is cheap enough (above).</li>
 *   <li><i>A 256-entry lookup table for the decode</i>: scalar per element, or a gather.</li>
 *   <li><i>The fused QKᵀ's four lane sums at once</i> (halves and quarters of the four rows
 *       side by side with two-source shuffles, then pairs: about 11 vector ops per key against
 *       4 × ~8 for {@code reduceLanes}): 467–475 against 455 µs for the decode case, and the
 *       tests ran 20× longer before C2 compiled it; not adopted. Tried again on the quad layout
 *       (fourth session) with one-source swaps and blends, four keys × four rows folded into one
 *       vector in 15 steps of 2 blends, a swap and an add, stored with four masked stores:
 *       290–296 against 271–275 µs, interleaved; not adopted either; and a third time on Zen 5
 *       (eleventh session) with {@code FloatVector.selectFrom(v1, v2)}, whose float indices C2
 *       converts on every use. What finally paid (twelfth session, {@link #foldScores4}) is
 *       the same fold out of the key loop: the sums stored, then folded from memory with
 *       {@code IntVector} two-source selects (one {@code vpermi2d} each), with no accumulators
 *       competing for registers.</li>
 *   <li><i>{@code VectorOperators.EXP}</i>: fast only where the JDK ships a vector math stub
 *       for the platform (otherwise every lane goes through {@code Math.exp}); the polynomial
 *       is accurate enough, inlines and is the same everywhere. (Not timed against EXP here.)</li>
 * </ul>
 *
 * <h2>Assumptions</h2>
 * {@code D} is a multiple of {@code 2L} (a V strip) and of the fp8 load width: true for
 * D ∈ {64, 128, 256} with vectors of up to 512 bits (16 floats), i.e. every x86 and current Arm
 * machine. Arguments were validated by the facade.
 *
 * <h2>Causal tiles</h2>
 * Key tiles beyond the largest {@code last[r]} of a work item are never touched (not decoded,
 * not multiplied). Only tiles that cross some row's diagonal pay for the mask.
 */
final class VectorAttentionKernel implements AttentionKernel {
    static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Bytes per fp8 load: one float vector's worth, at least 8 (the narrowest byte vector). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));
    private static final int BYTE_PARTS = B.length() / L;

    /**
     * Query rows per work item. A compile-time constant on purpose: every inner-loop index is
     * then {@code constant · loopVariable + invariant}, the form C2's range-check elimination
     * recognizes, so the inner loops carry no bounds checks.
     */
    static final int BQ = 64;
    /** Score block: query vectors × keys. */
    private static final int QK_QVECS = 2;
    private static final int QK_KEYS = 4;
    /** PV block: query rows × vectors of D (a V strip is PV_DVECS vectors wide). */
    private static final int PV_ROWS = 4;
    private static final int PV_DVECS = 2;
    private static final int STRIP = PV_DVECS * L;
    /**
     * With 32 vector registers (16-float vectors) the score and PV blocks are 4 × 4 vectors (16
     * accumulators; {@link #scoreBlock4x4}, {@link #pvBlock4x4}) instead of the 8-accumulator blocks
     * sized for AVX2's 16 registers.
     */
    static final boolean WIDE_BLOCKS = L >= 16;
    private static final int KV_TILE_FLOATS = 4096;
    /**
     * Work items with at most this many query rows (a decode step: G·Sq rows) take the fused
     * QKᵀ of {@link #scoresFused4}/{@link #scoresFused8} instead of decoding K into a tile.
     */
    static final int FUSED_ROWS = 8;
    /** Keys per tile of the fused PV path (see {@code Job.fusedInPasses}); the scratch's st holds 4 rows of BQ keys whatever bk is. */
    static final int FUSED_TILE = BQ;
    /**
     * Keys per pass of the fused decode-step path ({@code Job.fusedInPasses}): the QKᵀ reads this
     * many keys' K rows, then the PV their V rows, so that each pass reads one stream (512 KiB at
     * D = 128). Zen 5, one thread, interleaved JVMs: 2048–8192 keys ran alike, and 4096 did best
     * on two threads for G = 8 (251–314 against 352–442 µs at 2048); its scores take 64 KiB. A
     * multiple of {@link #FUSED_TILE}, so that passes cut no tile (the tiles, and so the bits, are
     * those of one pass over all keys).
     */
    static final int PASS_KEYS = 4096;

    static {
        if (PASS_KEYS % FUSED_TILE != 0) {
            throw new AssertionError("PASS_KEYS must be a multiple of FUSED_TILE");
        }
    }
    /**
     * Whether a group of at most {@link #SPLIT_ROWS} rows is cut into 4-row items: with 32 vector
     * registers (AVX-512), where {@link #pvFused4} keeps 16 accumulators and decodes each int once.
     * With 16 registers it takes two passes per column group ({@code pvFused4Halves}) and the cut
     * does not pay (AVX2 width, one thread: 8 rows 785–855 µs either way, 12 rows 560–599 against
     * 610–613, 16 rows 608–649 against 811–824).
     */
    private static final boolean SPLIT = L >= 16;
    /**
     * With AVX-512, a (b, KV head) with at most this many stacked query rows is split into
     * work items of 4 rows, each a whole decode step in the fused kernels, rather than one item
     * of up to 8 rows (fused QKᵀ, then V decoded into a tile for the blocked PV) or of up to 16
     * (the blocked path). K and V are then decoded once per 4 rows instead of once, and that still
     * pays: one AVX-512 core, Skv = 4096, D = 128, interleaved, 8 rows (G = 8 decode) 702–719 →
     * 506–512 µs (40–41 → 56 % of the FMA peak), 12 rows 514–522 → 387–401 µs, 16 rows (G = 8,
     * Sq = 2) 552–558 → 515–529 µs; at 24 rows it is even, and at 32 and 48 the blocked path is
     * 15–20 % faster.
     */
    static final int SPLIT_ROWS = 16;

    /** Query rows per work item for a (batch, KV head) of {@code groupRows} stacked rows: 4 (see {@link #SPLIT_ROWS}) or BQ. */
    static int itemRows(long groupRows, int d) {
        return SPLIT && groupRows <= SPLIT_ROWS && d % QUAD_CODES == 0 ? 4 : BQ;
    }

    /** log2(e): scores are kept in log2 units so that the softmax needs only {@link #exp2}. */
    static final float LOG2E = (float) (1.0 / Math.log(2.0));
    private static final double LN2 = Math.log(2.0);
    private static final float TWO_POW_120 = 0x1p120f;
    /**
     * Sign-extended fp8 code {@code << 20}, masked with this: the sign and the 7 exponent and
     * mantissa bits in place, i.e. the fp8 value × 2^−120 read as a float (NaN codes excepted).
     */
    private static final int E4M3_BITS = 0x87F00000;
    /**
     * The fused QKᵀ's split of the 2^120 that its raw decode leaves out: Q rows carry 2^60, the lane
     * sums are multiplied by the other 2^60 (see {@link #scoresFused4}).
     */
    private static final float QK_HALF_SCALE = 0x1p60f;
    /** The NaN flag of four codes in an int: {@code (w & LOW7) + ONES} sets a byte's top bit (SIGNS) for a NaN code only. */
    private static final int LOW7 = 0x7F7F7F7F;
    private static final int ONES = 0x01010101;
    private static final int SIGNS = 0x80808080;
    /**
     * fp8 codes per load of the fused decode-step loops: one vector of L ints (the quad layout,
     * see the class comment). Every load from a segment re-runs about 12 instructions of access
     * checks (the session's liveness among them, which C2 may not hoist), so one wide load
     * instead of four narrow ones cuts those loops' scalar work by 3/4.
     */
    static final int QUAD_CODES = 4 * L;
    /**
     * Whether {@link #scoresFused4} ends with {@link #foldScores4} instead of 4 {@link LaneSums#sum}
     * per key: with 16-float vectors, where 4 keys × 4 rows fill one vector and the two-source
     * selects are one {@code vpermi2d} each.
     */
    static final boolean FOLD = L == 16;
    /** foldScores4's level k: lanes of the pair (u, v) whose sum lands in each output lane (see there). */
    private static final IntVector FOLD_LO0 = foldIndex(8, false);
    private static final IntVector FOLD_HI0 = foldIndex(8, true);
    private static final IntVector FOLD_LO1 = foldIndex(4, false);
    private static final IntVector FOLD_HI1 = foldIndex(4, true);
    private static final IntVector FOLD_LO2 = foldIndex(2, false);
    private static final IntVector FOLD_HI2 = foldIndex(2, true);
    private static final IntVector FOLD_LO3 = foldIndex(1, false);
    private static final IntVector FOLD_HI3 = foldIndex(1, true);
    private static final VectorMask<Float> ROW_LANES0 = rowLanes(0);
    private static final VectorMask<Float> ROW_LANES1 = rowLanes(1);
    private static final VectorMask<Float> ROW_LANES2 = rowLanes(2);
    private static final VectorMask<Float> ROW_LANES3 = rowLanes(3);
    private static final float ROUND_MAGIC = 0x1.8p23f;
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);
    /** Taylor coefficients of 2^f = e^(f·ln2): C[k] = ln2^k / k!. */
    private static final float C1 = (float) LN2;
    private static final float C2 = (float) (Math.pow(LN2, 2) / 2);
    private static final float C3 = (float) (Math.pow(LN2, 3) / 6);
    private static final float C4 = (float) (Math.pow(LN2, 4) / 24);
    private static final float C5 = (float) (Math.pow(LN2, 5) / 120);
    private static final float C6 = (float) (Math.pow(LN2, 6) / 720);

    /**
     * The select indices of one fold level with halves of {@code h} lanes, for 16 lanes: output
     * unit k (h lanes) is the sum of units 2⌊k/2⌋ and 2⌊k/2⌋+1 ({@code upper} picks the second)
     * of u (k even) or of v (k odd); indices ≥ 16 pick from v. After the levels h = 8, 4, 2, 1
     * over inputs paired in order, input i's sum is in lane bitrev₄(i)
     * ({@code foldLevelsPutInputIInLaneBitrevI} in the tests).
     */
    static int[] foldLanes(int h, boolean upper) {
        int[] index = new int[16];
        for (int lane = 0; lane < 16; lane++) {
            int k = lane / h;
            int unit = (k / 2) * 2 + (upper ? 1 : 0);
            index[lane] = (k % 2 == 0 ? 0 : 16) + unit * h + lane % h;
        }
        return index;
    }

    /** {@link #foldLanes} as the select vector; only meaningful for 16 lanes ({@link #FOLD}), narrower species get its first lanes, unused. */
    private static IntVector foldIndex(int h, boolean upper) {
        return IntVector.fromArray(I, foldLanes(h, upper), 0);
    }

    /** Lanes 4r … 4r+3 (row r of a folded vector, {@link #foldScores4}). */
    private static VectorMask<Float> rowLanes(int r) {
        return VectorMask.fromLong(F, 0xFL << (4 * r));
    }

    /** Keys per tile for head dimension {@code d}: 64, 32, 16 for D = 64, 128, 256 (a multiple of 8, see {@link #scores}). */
    static int keyTile(int d) {
        return Math.max(2 * QK_KEYS, KV_TILE_FLOATS / d / (2 * QK_KEYS) * (2 * QK_KEYS));
    }

    @Override
    public void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal, float softmaxScale,
                        Tensor out, Tensor lse) {
        Job job = new Job(shape, q, k, v, causal, softmaxScale, out, lse);
        CpuThreads.RangeBody body = (from, to) -> {
            Scratch s = Scratch.forThread(shape.headDim(), job.bk);
            for (long item = from; item < to; item++) {
                job.run(item, s);
            }
        };
        CpuThreads.onTensors(() -> CpuThreads.forRange(job.items, 1, body),
                q.data(), k.data(), v.data(), out, lse);
    }

    /** Per-thread working memory (see the class description for the layouts). */
    static final class Scratch {
        final float[] qt;    // [D][BQ]  Q tile, transposed, × the row's qf
        final float[] qn;    // [FUSED_ROWS][D]  the same rows row-major, columns in the quad layout, for the fused QKᵀ
        final float[] kt;    // [BK][D]  K tile
        final float[] vt;    // [D/STRIP][BK][STRIP]  V tile in column strips
        final float[] st;    // [BK][BQ] scores, then probabilities × 2^120 (see softmax); key-major [rows][BQ] in the fused PV path
        final float[] acc;   // [BQ][D]  unnormalized output (columns in the quad layout in the fused PV path)
        final float[] m;     // [BQ]     running max (log2 units)
        final float[] l;     // [BQ]     running sum of 2^(s − m)
        final float[] alpha; // [BQ]     rescale factor of the current key tile
        final int[] head;    // [BQ]     query head of each tile row
        final int[] pos;     // [BQ]     query position i of each tile row
        final int[] last;    // [BQ]     last key the row may see (−1: none); padding rows: Skv − 1
        final float[] rowBase; // [4]      softmaxRows: each row's max (0 for a row that saw no key yet)
        final float[] part;    // [BQ][4][L] scoresFused4, [BK][8][L] scoresFused8: each key's row sums, lanes not yet summed
        final float[] rowSums; // [4][L]   softmaxRows: each row's Σp, lanes not yet summed
        final float[] tileScores; // [PASS_KEYS / FUSED_TILE][4][BQ]  fusedInPasses: each tile's st between the passes

        /**
         * This thread's scratch for head dimension d (key tile {@code bk = keyTile(d)}), its arrays
         * made on first use and kept: a call allocates one small object, not ~195 KB of arrays (at D = 128)
         * (whose allocation and zeroing showed up at 1.4 % of a decode step's profile). One set per
         * head dimension, so a draft model at D = 64 beside a target at D = 128 does not make them
         * anew on every switch. The thread-local holds only JDK types (a map of arrays), so a
         * caller's thread does not keep this library's classes alive. Every work item initializes
         * what its results depend on ({@code Job.run}; {@link #foldScores4} also reads stale
         * {@code part} entries, into lanes that are overwritten), so what an earlier call left
         * behind does not matter.
         */
        static Scratch forThread(int d, int bk) {
            return new Scratch(KEPT.get().computeIfAbsent(d, key -> arrays(d, bk)));
        }

        private static final ThreadLocal<Map<Integer, Object[]>> KEPT = ThreadLocal.withInitial(HashMap::new);

        /** The arrays of a scratch, in field order. */
        private static Object[] arrays(int d, int bk) {
            int bq = BQ;
            return new Object[] {
                new float[d * bq], new float[FUSED_ROWS * d], new float[bk * d], new float[bk * d],
                new float[bk * bq], new float[bq * d], new float[bq], new float[bq], new float[bq],
                new int[bq], new int[bq], new int[bq], new float[4], new float[Math.max(bq * 4, bk * 8) * L], new float[4 * L],
                new float[PASS_KEYS / FUSED_TILE * 4 * bq]};
        }

        Scratch(int d, int bk) {
            this(arrays(d, bk));
        }

        private Scratch(Object[] a) {
            qt = (float[]) a[0];
            qn = (float[]) a[1];
            kt = (float[]) a[2];
            vt = (float[]) a[3];
            st = (float[]) a[4];
            acc = (float[]) a[5];
            m = (float[]) a[6];
            l = (float[]) a[7];
            alpha = (float[]) a[8];
            head = (int[]) a[9];
            pos = (int[]) a[10];
            last = (int[]) a[11];
            rowBase = (float[]) a[12];
            part = (float[]) a[13];
            rowSums = (float[]) a[14];
            tileScores = (float[]) a[15];
        }
    }

    /** One call: the inputs resolved to segments, byte strides and scale arrays, read once. */
    private static final class Job {
        final int batch, qHeads, kvHeads, group, qLen, kvLen, kvCapacity, d, bk, tileRows, tiles, keyOffset;
        final long groupRows, items;
        final boolean causal;
        final float softmaxScale;
        final MemorySegment qSeg, kSeg, vSeg, outSeg, lseSeg;
        final long qRowBytes, kRowBytes, vRowBytes, outRowBytes, lseRowBytes;
        final float[] qScale, kScale, vScale; // one per (b, h), per-tensor scales repeated

        Job(AttentionShape s, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal, float softmaxScale, Tensor out, Tensor lse) {
            batch = s.batch();
            qHeads = s.qHeads();
            kvHeads = s.kvHeads();
            group = s.groupSize();
            qLen = s.qLen();
            kvLen = s.kvLen();
            kvCapacity = s.kvCapacity(); // keys per head in memory: a KV cache may hold more than take part
            d = s.headDim();
            keyOffset = s.keyOffset();
            bk = keyTile(d);
            groupRows = (long) group * qLen;
            tileRows = itemRows(groupRows, d);
            tiles = Math.toIntExact((groupRows + tileRows - 1) / tileRows);
            items = (long) batch * kvHeads * tiles;
            this.causal = causal;
            this.softmaxScale = softmaxScale;
            qSeg = q.data().segment();
            kSeg = k.data().segment();
            vSeg = v.data().segment();
            outSeg = out.segment();
            lseSeg = lse == null ? null : lse.segment();
            qRowBytes = q.data().rowByteOffset(1);
            kRowBytes = k.data().rowByteOffset(1);
            vRowBytes = v.data().rowByteOffset(1);
            outRowBytes = out.rowByteOffset(1);
            lseRowBytes = lse == null ? 0 : lse.rowByteOffset(1);
            qScale = scales(q, batch, qHeads);
            kScale = scales(k, batch, kvHeads);
            vScale = scales(v, batch, kvHeads);
        }

        private static float[] scales(Fp8Tensor t, int batch, int heads) {
            float[] s = new float[batch * heads];
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    s[b * heads + h] = t.scale(b, h);
                }
            }
            return s;
        }

        /**
         * Work item {@code item}: tile {@code item % tiles} ({@code tileRows} rows: BQ, or 4, see
         * {@link #SPLIT_ROWS}) of the stacked query rows of
         * (b, KV head g) = {@code item / tiles}. The G = Hq/Hkv query heads that read KV head g are
         * stacked, head after head: stacked row {@code r} is query position {@code r % Sq} of
         * head {@code g·G + r / Sq}. So every query row that reads the same K and V shares the
         * decoded tiles, and a decode step (Sq = 1) fills G lanes instead of one.
         */
        void run(long item, Scratch s) {
            int tile = (int) (item % tiles);
            int bg = (int) (item / tiles);
            int b = bg / kvHeads;
            int g = bg % kvHeads;
            long r0 = (long) tile * tileRows;
            int rows = (int) Math.min(tileRows, groupRows - r0);
            int qvecs = (rows + L - 1) / L;
            long kvRow0 = (long) bg * kvCapacity;

            // Rows, their heads and positions, and how far each may look.
            int keyEnd = 0;
            int minLast = Integer.MAX_VALUE;
            for (int r = 0; r < BQ; r++) {
                if (r < rows) {
                    long stacked = r0 + r;
                    s.head[r] = g * group + (int) (stacked / qLen);
                    s.pos[r] = (int) (stacked % qLen);
                    s.last[r] = causal ? (int) Math.clamp((long) s.pos[r] + keyOffset, -1, kvLen - 1) : kvLen - 1;
                    keyEnd = Math.max(keyEnd, s.last[r] + 1);
                    minLast = Math.min(minLast, s.last[r]);
                } else {
                    s.last[r] = kvLen - 1; // padding: sees everything, output discarded
                }
            }

            // The fused kernels load 4L codes at a time (QUAD_CODES): true for D ∈ {64, 128, 256} up to 16 lanes.
            boolean fused = rows <= FUSED_ROWS && d % QUAD_CODES == 0 && loadQRows(s, b, bg, rows);
            // Whole decode step in the fused kernels: scores key-major (st[r][j], see softmaxRows).
            boolean fusedPv = fused && rows <= 4;
            if (fused && !fusedPv) {
                // The fused 8-row QKᵀ writes the first 8 lanes of each score row; the softmax reads
                // qvecs·L. The rest start at 0, like padding rows in qt, and stay finite after.
                for (int j = 0; j < bk; j++) {
                    Arrays.fill(s.st, j * BQ + 8, j * BQ + qvecs * L, 0f);
                }
            } else if (!fused) {
                loadQ(s, b, bg, rows, qvecs * L);
            }
            Arrays.fill(s.m, Float.NEGATIVE_INFINITY);
            Arrays.fill(s.l, 0f);
            Arrays.fill(s.acc, 0, rows * d, 0f);

            if (fusedPv) {
                fusedInPasses(s, kvRow0, keyEnd, minLast, d, rows);
            } else {
                for (int j0 = 0; j0 < keyEnd; j0 += bk) {
                    int n = Math.min(bk, keyEnd - j0);
                    long kOff = (kvRow0 + j0) * kRowBytes;
                    long vOff = (kvRow0 + j0) * vRowBytes;
                    if (fused) {
                        if (scoresFused8(s, kSeg, kOff, kRowBytes, n, d, rows)) {
                            nanScores(s, kSeg, kOff, kRowBytes, n, d, rows, BQ, 1);
                        }
                    } else {
                        decodeRows(kSeg, kOff, kRowBytes, n, d, s.kt);
                        scores(s, n, qvecs, d);
                    }
                    boolean vNan = decodeStrips(vSeg, vOff, vRowBytes, n, d, bk, s.vt);
                    if (j0 + n - 1 > minLast) {
                        mask(s, j0, n, qvecs);
                    }
                    softmax(s, n, qvecs);
                    accumulate(s, n, rows, d, bk);
                    if (vNan) {
                        nanColumns(s, vSeg, vOff, vRowBytes, j0, n, d, rows, false);
                    }
                }
            }
            finish(s, b, rows, vScale[bg], fusedPv);
        }

        /**
         * The fused decode-step kernels over keys {@code [0, keyEnd)} of KV rows from {@code kvRow0}
         * on, in tiles of {@link #FUSED_TILE} keys and in two passes per {@link #PASS_KEYS} keys
         * (class comment, "K, then V"): the QKᵀ of every tile, each tile's scores kept in
         * {@code tileScores}; then, tile after tile, its scores back into {@code st}, the mask, the
         * online softmax and the PV. The softmax and PV see the same scores in the same order as
         * when each tile's PV followed its QKᵀ, so the results are the same bits.
         * <p>
         * Tiles of BQ keys: the key-major scores (st[r·BQ + j], 4 rows) fit BQ keys, and tiles that
         * size halved the per-tile work at D = 128 against the blocked path's (reductions, exp2 of
         * α, calls): decode case 268–271 → 255–262 µs on one core, K and V in the caches.
         */
        private void fusedInPasses(Scratch s, long kvRow0, int keyEnd, int minLast, int d, int rows) {
            int tileFloats = 4 * BQ;
            for (int a0 = 0; a0 < keyEnd; a0 += PASS_KEYS) {
                int a1 = Math.min(keyEnd, a0 + PASS_KEYS);
                for (int j0 = a0, at = 0; j0 < a1; j0 += FUSED_TILE, at += tileFloats) {
                    int n = Math.min(FUSED_TILE, a1 - j0);
                    long kOff = (kvRow0 + j0) * kRowBytes;
                    if (scoresFused4(s, kSeg, kOff, kRowBytes, n, d, rows)) {
                        nanScores(s, kSeg, kOff, kRowBytes, n, d, rows, 1, BQ);
                    }
                    System.arraycopy(s.st, 0, s.tileScores, at, tileFloats);
                }
                for (int j0 = a0, at = 0; j0 < a1; j0 += FUSED_TILE, at += tileFloats) {
                    int n = Math.min(FUSED_TILE, a1 - j0);
                    long vOff = (kvRow0 + j0) * vRowBytes;
                    System.arraycopy(s.tileScores, at, s.st, 0, tileFloats);
                    if (j0 + n - 1 > minLast) {
                        maskRows(s, j0, n, rows);
                    }
                    softmaxRows(s, n, rows);
                    boolean vNan = L >= 16 ? pvFused4(s, vSeg, vOff, vRowBytes, n, d, rows)
                            : pvFused4Halves(s, vSeg, vOff, vRowBytes, n, d, rows);
                    if (vNan) {
                        nanColumns(s, vSeg, vOff, vRowBytes, j0, n, d, rows, true);
                    }
                }
            }
        }

        /**
         * qt[c][r] = e4m3(q[row r][c]) · qf(row), qf = qScale(b, head) · kScale(b, g) · softmaxScale
         * · log2 e; the padding rows up to {@code padded} are 0.
         */
        private void loadQ(Scratch s, int b, int bg, int rows, int padded) {
            float[] qt = s.qt;
            double kf = (double) kScale[bg] * softmaxScale * LOG2E;
            for (int r = 0; r < rows; r++) {
                int bh = b * qHeads + s.head[r];
                float qf = (float) (qScale[bh] * kf);
                long off = ((long) bh * qLen + s.pos[r]) * qRowBytes;
                for (int c = 0; c < d; c++) {
                    qt[c * BQ + r] = Fp8.e4m3ToFloat(qSeg.get(ValueLayout.JAVA_BYTE, off + c)) * qf;
                }
            }
            if (padded > rows) {
                for (int c = 0; c < d; c++) {
                    Arrays.fill(qt, c * BQ + rows, c * BQ + padded, 0f);
                }
            }
        }

        /**
         * qn[r][quad(c)] = e4m3(q[row r][c]) · qf(row) · 2^60, as {@link #loadQ} but row-major, in the quad layout and with
         * half of the fused QKᵀ's 2^120 ({@link #QK_HALF_SCALE}). False, with qn unusable, when a
         * row's largest value (448 · qf · 2^60) would overflow: the item then takes the unfused path.
         */
        private boolean loadQRows(Scratch s, int b, int bg, int rows) {
            double kf = (double) kScale[bg] * softmaxScale * LOG2E * QK_HALF_SCALE;
            for (int r = 0; r < rows; r++) {
                int bh = b * qHeads + s.head[r];
                float qf = (float) (qScale[bh] * kf);
                if (!Float.isFinite(qf * Fp8.E4M3_MAX)) {
                    return false;
                }
                long off = ((long) bh * qLen + s.pos[r]) * qRowBytes;
                for (int c = 0; c < d; c++) {
                    s.qn[r * d + quad(c)] = Fp8.e4m3ToFloat(qSeg.get(ValueLayout.JAVA_BYTE, off + c)) * qf;
                }
            }
            return true;
        }

        /** The causal mask of a tile that some row may not fully see: st[j][r] = −∞ where key j0 + j &gt; last[r]. */
        private void mask(Scratch s, int j0, int n, int qvecs) {
            FloatVector minusInf = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int qv = 0; qv < qvecs; qv++) {
                IntVector last = IntVector.fromArray(I, s.last, qv * L);
                for (int j = 0; j < n; j++) {
                    int o = j * BQ + qv * L;
                    VectorMask<Float> hidden = last.lt(j0 + j).cast(F);
                    FloatVector.fromArray(F, s.st, o).blend(minusInf, hidden).intoArray(s.st, o);
                }
            }
        }

        /** {@link #mask} for key-major scores (st[r][j], see {@link #softmaxRows}). */
        private void maskRows(Scratch s, int j0, int n, int rows) {
            for (int r = 0; r < rows; r++) {
                int from = Math.max(0, s.last[r] + 1 - j0);
                if (from < n) {
                    Arrays.fill(s.st, r * BQ + from, r * BQ + n, Float.NEGATIVE_INFINITY);
                }
            }
        }

        /** Writes out = acc · vScale / l (bf16) and lse = ln2 · m + ln l; rows that saw no key get 0 and −∞. */
        private void finish(Scratch s, int b, int rows, float vs, boolean quadAcc) {
            for (int r = 0; r < rows; r++) {
                int bh = b * qHeads + s.head[r];
                long off = ((long) bh * qLen + s.pos[r]) * outRowBytes;
                float lr = s.l[r];
                float lseValue;
                if (lr == 0f) {
                    for (int c = 0; c < d; c++) {
                        outSeg.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * c, (short) 0);
                    }
                    lseValue = Float.NEGATIVE_INFINITY;
                } else {
                    float f = vs / lr;
                    int a = r * d;
                    for (int c = 0; c < d; c++) {
                        outSeg.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * c, Bf16.fromFloat(s.acc[a + (quadAcc ? quad(c) : c)] * f));
                    }
                    lseValue = (float) (LN2 * s.m[r] + Math.log(lr));
                }
                if (lseSeg != null) {
                    lseSeg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, bh * lseRowBytes + 4L * s.pos[r], lseValue);
                }
            }
        }
    }

    // ---------------------------------------------------------------- fp8 decode

    /** Decodes {@code n} fp8 rows of {@code d} bytes (row {@code j} at {@code off + j·rowBytes}) into {@code dst[j·d + c]}. */
    static void decodeRows(MemorySegment seg, long off, long rowBytes, int n, int d, float[] dst) {
        for (int j = 0; j < n; j++) {
            long base = off + j * rowBytes;
            int o = j * d;
            for (int c = 0; c < d; c += B.length()) {
                ByteVector bytes = ByteVector.fromMemorySegment(B, seg, base + c, ByteOrder.LITTLE_ENDIAN);
                for (int p = 0; p < BYTE_PARTS; p++) {
                    IntVector ints = (IntVector) bytes.convertShape(VectorOperators.B2I, I, p);
                    decode(ints).intoArray(dst, o + c + p * L);
                }
            }
        }
    }

    /**
     * Decodes {@code n} fp8 rows of {@code d} bytes into column strips of {@link #STRIP} floats:
     * element (j, c) goes to {@code dst[(c / STRIP)·bk·STRIP + j·STRIP + c % STRIP]}, so the PV
     * loop walks one strip with a constant stride. Raw: the values are the fp8 values × 2^−120
     * (the softmax leaves p × 2^120 in {@code st}). NaN codes decode to a finite value (480 · 2^−120):
     * {@link #nanColumns} puts the NaN where it belongs afterwards, into the rows that see the key
     * only (a NaN decoded here would reach the tile's other rows through p = 0).
     */
    static boolean decodeStrips(MemorySegment seg, long off, long rowBytes, int n, int d, int bk, float[] dst) {
        ByteVector nan = ByteVector.zero(B);
        for (int j = 0; j < n; j++) {
            long base = off + j * rowBytes;
            for (int c = 0; c < d; c += B.length()) {
                ByteVector bytes = ByteVector.fromMemorySegment(B, seg, base + c, ByteOrder.LITTLE_ENDIAN);
                nan = nan.or(bytes.and((byte) 0x7F).add((byte) 1));
                for (int p = 0; p < BYTE_PARTS; p++) {
                    int col = c + p * L;
                    IntVector ints = (IntVector) bytes.convertShape(VectorOperators.B2I, I, p);
                    ints.lanewise(VectorOperators.LSHL, 20).and(E4M3_BITS).reinterpretAsFloats()
                            .intoArray(dst, (col / STRIP) * bk * STRIP + j * STRIP + col % STRIP);
                }
            }
        }
        return nan.lt((byte) 0).anyTrue();
    }

    /**
     * The E4M3FN values of sign-extended fp8 codes: {@code sign | (code & 0x7F) << 20} read as a
     * float is the fp8 value × 2^−120 exactly (normal fp8 codes become normal floats, subnormal
     * codes float subnormals); × 2^120 restores it. {@code S.1111.111} is NaN.
     */
    static FloatVector decode(IntVector codes) {
        IntVector magnitude = codes.and(0x7F);
        IntVector bits = magnitude.lanewise(VectorOperators.LSHL, 20).or(codes.and(0x80000000));
        FloatVector f = bits.reinterpretAsFloats().mul(TWO_POW_120);
        return f.blend(Float.NaN, magnitude.eq(0x7F).cast(F));
    }

    /**
     * Where column {@code c} of a row sits in the quad layout of the fused decode-step kernels: an
     * int load of 4L codes holds columns {@code g + 4i + k} (group g, lane i, byte k), and byte k of
     * every lane is decoded into one vector, so that vector holds columns {@code g + 4i + k},
     * i &lt; L, and goes to {@code g + k·L + i}.
     */
    static int quad(int c) {
        int g = c - c % QUAD_CODES;
        int e = c - g;
        return g + (e % 4) * L + e / 4;
    }

    // ---------------------------------------------------------------- NaN codes

    /*
     * The fused QKᵀ and PV and the V strips decode without a NaN test (3 vector ops instead of
     * 7–8 per vector: E4M3_BITS); a NaN code decodes to a finite value. Those loops also OR
     * together {@code (code & 0x7F) + 1} over every byte they load, which sets a byte's sign bit
     * for NaN codes ({@code S.1111.111}) only, and return whether the tile held one (3 byte-vector
     * ops per load; a separate scan of the tile, re-reading it from the segment, cost 10 % of a
     * decode step). Only then do the fix-ups below write the NaNs that IEEE arithmetic would have
     * produced, restricted to the rows that see the key (as the float64 reference and the CUDA
     * kernel do: a masked key is skipped, not multiplied by 0).
     */

    private static boolean isNanCode(byte code) {
        return (code & 0x7F) == 0x7F;
    }

    /**
     * st[j·keyStride + r·rowStride] = NaN for every key j &lt; n of the tile whose K row holds a NaN
     * code, r &lt; rows (the mask comes after).
     */
    static void nanScores(Scratch s, MemorySegment seg, long off, long rowBytes, int n, int d, int rows,
                          int keyStride, int rowStride) {
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < d; c++) {
                if (isNanCode(seg.get(ValueLayout.JAVA_BYTE, off + j * rowBytes + c))) {
                    for (int r = 0; r < rows; r++) {
                        s.st[j * keyStride + r * rowStride] = Float.NaN;
                    }
                    break;
                }
            }
        }
    }

    /** acc[r][c] = NaN where V (key j0 + j, column c) is a NaN code and row r sees key j0 + j; after the tile's PV. */
    static void nanColumns(Scratch s, MemorySegment seg, long off, long rowBytes, int j0, int n, int d, int rows, boolean quadAcc) {
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < d; c++) {
                if (isNanCode(seg.get(ValueLayout.JAVA_BYTE, off + j * rowBytes + c))) {
                    for (int r = 0; r < rows; r++) {
                        if (j0 + j <= s.last[r]) {
                            s.acc[r * d + (quadAcc ? quad(c) : c)] = Float.NaN;
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- QKᵀ

    /**
     * st[j][i] = Σ_c kt[j][c] · qt[c][i] for j &lt; n and the first qvecs vectors of i. Keys are
     * taken in blocks of 4 (8 for a lone query vector), so up to 7 rows past n are computed from
     * stale kt rows; they are never read.
     *
     * <p>Not on {@link Brgemm}, by a small margin: one {@code Brgemm.fp32(n, qvecs·L, d, …)} call
     * (6 keys × 4 query vectors with AVX-512) ran this tile (32 keys × 64 rows × D = 128) in
     * 4.94 µs (106 GFLOP/s) against 4.68 µs (112 GFLOP/s) for the blocks below, interleaved in one
     * JVM on the quiet AVX-512 EPYC. (A first comparison had Brgemm 1.8× slower; that was a defect
     * of Brgemm's tiles at the time, since fixed, see {@link Brgemm#fp32}.) Both were timed with a
     * throwaway harness, the Brgemm call being
     * {@code Brgemm.fp32(n, qvecs·L, d, 1, kt, {0}, d, qt, {0}, BQ, st, 0, BQ, false)}.
     * Measured again against the 4 × 4 blocks on Zen 5 (eleventh session; that call for full
     * 64-row items, switched by a property in one build, three interleaved rounds, Hq = 8, Hkv = 2,
     * D = 128, S = 4096 causal): one thread 267–322 against 248–257 ms, two threads 167–170
     * against 152–163 ms; so {@link #scoreBlock4x4} stays, though its loop has the shape of
     * Brgemm's tiles.
     */
    static void scores(Scratch s, int n, int qvecs, int d) {
        int quads = WIDE_BLOCKS ? qvecs / 4 * 4 : 0;
        int pairs = quads + (qvecs - quads) / QK_QVECS * QK_QVECS;
        if (pairs > 0) {
            int keys = (n + QK_KEYS - 1) / QK_KEYS * QK_KEYS;
            for (int j = 0; j < keys; j += QK_KEYS) {
                for (int qv = 0; qv < quads; qv += 4) {
                    scoreBlock4x4(s.qt, s.kt, s.st, j, qv * L, d);
                }
                for (int qv = quads; qv < pairs; qv += QK_QVECS) {
                    scoreBlock2x4(s.qt, s.kt, s.st, j, qv * L, d);
                }
            }
        }
        if (pairs < qvecs) { // the odd vector: 8 keys at a time, so 8 FMA chains cover the latency
            int keys = (n + 2 * QK_KEYS - 1) / (2 * QK_KEYS) * (2 * QK_KEYS);
            for (int j = 0; j < keys; j += 2 * QK_KEYS) {
                scoreBlock1x8(s.qt, s.kt, s.st, j, pairs * L, d);
            }
        }
    }

    /**
     * st[r·BQ + j] = Σ_c e4m3(k[j][c]) · qn[r][quad(c)] for j &lt; n and the first 4 rows (rows
     * past {@code rows} alias the last), key-major (see {@link #softmaxRows}), straight from the
     * fp8 K rows: the decode step's QKᵀ. Chunk by chunk of 4L codes: the chunk's 16 query
     * vectors (4 rows × the 4 bytes of an int) stay in registers while every key of the tile
     * goes by, each key's int vector decoded into 4 vectors that feed 4 FMAs each; the four
     * per-row sums of a key go to {@code part} between chunks, and after the last chunk they
     * are folded four keys at a time ({@link #foldScores4}, with 16-float vectors) or end in
     * one lane sum each.
     *
     * <p>Why chunks outside and keys inside: with the keys outside (two at a time, the chunks
     * an inner loop of D/4L trips, the query vectors loaded per use), C2 compiled each pair of
     * keys into about 360 instructions, a hundred of them the inner loop's set-up (pre-loop,
     * range checks of the segment loads, spilled induction variables), beside 64 FMAs. Here a
     * key's chunk is about 40 instructions with 16 FMAs, the last chunk's 75 with the lane sums.
     * Zen 5, one thread, the kernel alone on a 64-key tile: 20.7 → 11.7 ns per key (the old
     * loop compiled worse there than inside the attention call); the G = 4 decode step 171–208
     * → 166–177 µs (best of three per JVM, six interleaved rounds), G = 8 343–376 → 333–372 µs. Tried here and not kept, one thread, kernel alone: the two chunks of D = 128
     * written out (C2 hoisted all 32 query vectors and spilled them; the step got slower), and
     * keys in the lanes: four keys' ints transposed in 128-bit blocks with two-source
     * {@code IntVector.selectFrom} ({@code vpermi2d}), so that the lane sums become one
     * in-block transpose-add per 16 keys and row instead of 16 {@code reduceLanes}: 14–17
     * against 11.6–14.3 ns per key, because each decoded vector then needs its own query
     * pattern (4 columns × 4 keys), one load per FMA instead of 16 registers per chunk. Left
     * out of this kernel one at a time (before the fold), the lane sums were worth about 4.5 ns
     * per key, the decode 2.5, the NaN flags 1; with the fold the sums cost about 2.
     *
     * <p>K is decoded raw, in the quad layout (class comment; qn is in it too): the fp8 value ×
     * 2^−120, with no multiply and no NaN test (NaN codes: {@link #nanScores}). qn carries 2^60
     * ({@link Job#loadQRows}) and each lane sum is multiplied by the other 2^60, both exact; the
     * products sit 2^60 below the true ones, so nothing overflows, and only scores below about
     * 2^−66 in magnitude could lose bits to the subnormal range.
     *
     */
    static boolean scoresFused4(Scratch s, MemorySegment seg, long off, long rowBytes, int n, int d, int rows) {
        float[] qn = s.qn;
        float[] st = s.st;
        float[] part = s.part;
        int q0 = 0;
        int q1 = Math.min(1, rows - 1) * d;
        int q2 = Math.min(2, rows - 1) * d;
        int q3 = Math.min(3, rows - 1) * d;
        IntVector nan = IntVector.zero(I);
        for (int c = 0; c < d; c += QUAD_CODES) {
            boolean first = c == 0;
            FloatVector x00 = FloatVector.fromArray(F, qn, q0 + c + 0 * L);
            FloatVector x10 = FloatVector.fromArray(F, qn, q1 + c + 0 * L);
            FloatVector x20 = FloatVector.fromArray(F, qn, q2 + c + 0 * L);
            FloatVector x30 = FloatVector.fromArray(F, qn, q3 + c + 0 * L);
            FloatVector x01 = FloatVector.fromArray(F, qn, q0 + c + 1 * L);
            FloatVector x11 = FloatVector.fromArray(F, qn, q1 + c + 1 * L);
            FloatVector x21 = FloatVector.fromArray(F, qn, q2 + c + 1 * L);
            FloatVector x31 = FloatVector.fromArray(F, qn, q3 + c + 1 * L);
            FloatVector x02 = FloatVector.fromArray(F, qn, q0 + c + 2 * L);
            FloatVector x12 = FloatVector.fromArray(F, qn, q1 + c + 2 * L);
            FloatVector x22 = FloatVector.fromArray(F, qn, q2 + c + 2 * L);
            FloatVector x32 = FloatVector.fromArray(F, qn, q3 + c + 2 * L);
            FloatVector x03 = FloatVector.fromArray(F, qn, q0 + c + 3 * L);
            FloatVector x13 = FloatVector.fromArray(F, qn, q1 + c + 3 * L);
            FloatVector x23 = FloatVector.fromArray(F, qn, q2 + c + 3 * L);
            FloatVector x33 = FloatVector.fromArray(F, qn, q3 + c + 3 * L);
            for (int j = 0; j < n; j++) {
                IntVector w = IntVector.fromMemorySegment(I, seg, off + j * rowBytes + c, ByteOrder.LITTLE_ENDIAN);
                nan = nan.or(w.and(LOW7).add(ONES));
                int p = j * 4 * L;
                FloatVector a0;
                FloatVector a1;
                FloatVector a2;
                FloatVector a3;
                if (first) {
                    a0 = FloatVector.zero(F);
                    a1 = a0;
                    a2 = a0;
                    a3 = a0;
                } else {
                    a0 = FloatVector.fromArray(F, part, p);
                    a1 = FloatVector.fromArray(F, part, p + L);
                    a2 = FloatVector.fromArray(F, part, p + 2 * L);
                    a3 = FloatVector.fromArray(F, part, p + 3 * L);
                }
                FloatVector k0 = w.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                a0 = k0.fma(x00, a0);
                a1 = k0.fma(x10, a1);
                a2 = k0.fma(x20, a2);
                a3 = k0.fma(x30, a3);
                FloatVector k1 = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                a0 = k1.fma(x01, a0);
                a1 = k1.fma(x11, a1);
                a2 = k1.fma(x21, a2);
                a3 = k1.fma(x31, a3);
                FloatVector k2 = w.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                a0 = k2.fma(x02, a0);
                a1 = k2.fma(x12, a1);
                a2 = k2.fma(x22, a2);
                a3 = k2.fma(x32, a3);
                FloatVector k3 = w.lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                a0 = k3.fma(x03, a0);
                a1 = k3.fma(x13, a1);
                a2 = k3.fma(x23, a2);
                a3 = k3.fma(x33, a3);
                a0.intoArray(part, p);
                a1.intoArray(part, p + L);
                a2.intoArray(part, p + 2 * L);
                a3.intoArray(part, p + 3 * L);
            }
        }
        if (FOLD) {
            foldScores4(s, n);
        } else {
            sumScores4(s, n);
        }
        return nan.and(SIGNS).compare(VectorOperators.NE, 0).anyTrue();
    }

    /** {@link #sumScores} for {@link #scoresFused4} with 8- or 4-float vectors: 4 rows, row-major st[r·BQ + j]. */
    static void sumScores4(Scratch s, int n) {
        sumScores(s, n, 4, 1, BQ);
    }

    /** {@link #sumScores} for {@link #scoresFused8}: 8 rows, key-major st[j·BQ + r]. */
    static void sumScores8(Scratch s, int n) {
        sumScores(s, n, 8, BQ, 1);
    }

    /**
     * The lane sums that end the fused QKᵀ kernels: st[j·keyStride + r·rowStride] = Σ lanes of
     * key j's row-r sums in {@code part} (at (j·rows + r)·L), × 2^60, for keys j &lt; n and rows
     * r &lt; {@code rows}. Out of those kernels so that {@link LaneSums#sum} inlines (see there);
     * the two wrappers are small enough that C2 inlines this into them with a constant row count,
     * so the row loop unrolls.
     */
    static void sumScores(Scratch s, int n, int rows, int keyStride, int rowStride) {
        float[] part = s.part;
        float[] st = s.st;
        for (int j = 0; j < n; j++) {
            for (int r = 0; r < rows; r++) {
                st[j * keyStride + r * rowStride] = LaneSums.sum(part, (j * rows + r) * L) * QK_HALF_SCALE;
            }
        }
    }

    /**
     * The lane sums that end {@link #scoresFused4} with 16-float vectors ({@link #FOLD}): for
     * each 4 keys j … j+3, the 16 per-row sums left in {@code part} (4 keys × 4 rows, 16 lanes
     * each) are folded into one vector in four levels, each pairing two vectors and adding their
     * lower and upper halves (256-bit halves, then 128, 64, 32) side by side, two
     * {@code vpermi2d} and an add per pair: 45 vector ops, where 16 {@code reduceLanes} take
     * about 10 each. The level-by-level pairing leaves input i's sum in output lane
     * bitrev₄(i), so input i is loaded as the sums of (row r, key j + a) with 4r + a =
     * bitrev₄(i); then row r's four keys sit in lanes 4r … 4r+3, stored with four masked stores
     * at {@code st[r·BQ + j]}. Lanes
     * of keys past {@code n} are written below {@code ⌈n/4⌉·4} and overwritten by
     * {@link #softmaxRows} (so this reads {@code part} entries no call of this tile wrote;
     * their sums land only in those lanes). Zen 5, one thread, the QKᵀ kernel alone: 10.9–13.6
     * → 9.2–10.6 ns per key (without any lane sums it would take 7.4); the G = 4 decode step
     * 166–177 → 144–180 µs.
     */
    static void foldScores4(Scratch s, int n) {
        float[] part = s.part;
        float[] st = s.st;
        for (int j = 0; j < n; j += 4) {
            int p = j * 4 * L;
            IntVector x0 = FloatVector.fromArray(F, part, p + (4 * 0 + 0) * L).reinterpretAsInts(); // row 0, key j + 0
            IntVector x1 = FloatVector.fromArray(F, part, p + (4 * 0 + 2) * L).reinterpretAsInts(); // row 2, key j + 0
            IntVector x2 = FloatVector.fromArray(F, part, p + (4 * 0 + 1) * L).reinterpretAsInts(); // row 1, key j + 0
            IntVector x3 = FloatVector.fromArray(F, part, p + (4 * 0 + 3) * L).reinterpretAsInts(); // row 3, key j + 0
            IntVector x4 = FloatVector.fromArray(F, part, p + (4 * 2 + 0) * L).reinterpretAsInts(); // row 0, key j + 2
            IntVector x5 = FloatVector.fromArray(F, part, p + (4 * 2 + 2) * L).reinterpretAsInts(); // row 2, key j + 2
            IntVector x6 = FloatVector.fromArray(F, part, p + (4 * 2 + 1) * L).reinterpretAsInts(); // row 1, key j + 2
            IntVector x7 = FloatVector.fromArray(F, part, p + (4 * 2 + 3) * L).reinterpretAsInts(); // row 3, key j + 2
            IntVector x8 = FloatVector.fromArray(F, part, p + (4 * 1 + 0) * L).reinterpretAsInts(); // row 0, key j + 1
            IntVector x9 = FloatVector.fromArray(F, part, p + (4 * 1 + 2) * L).reinterpretAsInts(); // row 2, key j + 1
            IntVector x10 = FloatVector.fromArray(F, part, p + (4 * 1 + 1) * L).reinterpretAsInts(); // row 1, key j + 1
            IntVector x11 = FloatVector.fromArray(F, part, p + (4 * 1 + 3) * L).reinterpretAsInts(); // row 3, key j + 1
            IntVector x12 = FloatVector.fromArray(F, part, p + (4 * 3 + 0) * L).reinterpretAsInts(); // row 0, key j + 3
            IntVector x13 = FloatVector.fromArray(F, part, p + (4 * 3 + 2) * L).reinterpretAsInts(); // row 2, key j + 3
            IntVector x14 = FloatVector.fromArray(F, part, p + (4 * 3 + 1) * L).reinterpretAsInts(); // row 1, key j + 3
            IntVector x15 = FloatVector.fromArray(F, part, p + (4 * 3 + 3) * L).reinterpretAsInts(); // row 3, key j + 3
            IntVector y00 = FOLD_LO0.selectFrom(x0, x1).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x0, x1).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y01 = FOLD_LO0.selectFrom(x2, x3).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x2, x3).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y02 = FOLD_LO0.selectFrom(x4, x5).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x4, x5).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y03 = FOLD_LO0.selectFrom(x6, x7).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x6, x7).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y04 = FOLD_LO0.selectFrom(x8, x9).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x8, x9).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y05 = FOLD_LO0.selectFrom(x10, x11).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x10, x11).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y06 = FOLD_LO0.selectFrom(x12, x13).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x12, x13).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y07 = FOLD_LO0.selectFrom(x14, x15).reinterpretAsFloats().add(FOLD_HI0.selectFrom(x14, x15).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y10 = FOLD_LO1.selectFrom(y00, y01).reinterpretAsFloats().add(FOLD_HI1.selectFrom(y00, y01).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y11 = FOLD_LO1.selectFrom(y02, y03).reinterpretAsFloats().add(FOLD_HI1.selectFrom(y02, y03).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y12 = FOLD_LO1.selectFrom(y04, y05).reinterpretAsFloats().add(FOLD_HI1.selectFrom(y04, y05).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y13 = FOLD_LO1.selectFrom(y06, y07).reinterpretAsFloats().add(FOLD_HI1.selectFrom(y06, y07).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y20 = FOLD_LO2.selectFrom(y10, y11).reinterpretAsFloats().add(FOLD_HI2.selectFrom(y10, y11).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y21 = FOLD_LO2.selectFrom(y12, y13).reinterpretAsFloats().add(FOLD_HI2.selectFrom(y12, y13).reinterpretAsFloats()).reinterpretAsInts();
            IntVector y30 = FOLD_LO3.selectFrom(y20, y21).reinterpretAsFloats().add(FOLD_HI3.selectFrom(y20, y21).reinterpretAsFloats()).reinterpretAsInts();
            FloatVector sum = y30.reinterpretAsFloats().mul(QK_HALF_SCALE);
            sum.intoArray(st, j, ROW_LANES0);
            sum.intoArray(st, BQ + j - 4, ROW_LANES1);
            sum.intoArray(st, 2 * BQ + j - 8, ROW_LANES2);
            sum.intoArray(st, 3 * BQ + j - 12, ROW_LANES3);
        }
    }

    /**
     * st[j][r] = Σ_c e4m3(k[j][c]) · qn[r][quad(c)] for j &lt; n and the first 8 rows (rows past
     * {@code rows} alias the last), straight from the fp8 K rows: each decoded vector of a key
     * feeds 8 FMAs, and one lane sum per (key, row) ends it. For a decode step (G·Sq ≤ 8) this
     * replaces decoding K into {@code kt} and the score blocks, whose query vectors would be
     * mostly padding (4 of 16 lanes at G = 4 with AVX-512). K is decoded raw, as in
     * {@link #scoresFused4}.
     */
    static boolean scoresFused8(Scratch s, MemorySegment seg, long off, long rowBytes, int n, int d, int rows) {
        IntVector nan = IntVector.zero(I);
        float[] qn = s.qn;
        float[] sums = s.part; // each key's 8 row sums, lanes not yet summed
        int q1 = Math.min(1, rows - 1) * d;
        int q2 = Math.min(2, rows - 1) * d;
        int q3 = Math.min(3, rows - 1) * d;
        int q4 = Math.min(4, rows - 1) * d;
        int q5 = Math.min(5, rows - 1) * d;
        int q6 = Math.min(6, rows - 1) * d;
        int q7 = Math.min(7, rows - 1) * d;
        for (int j = 0; j < n; j++) {
            long base = off + j * rowBytes;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            FloatVector a2 = FloatVector.zero(F);
            FloatVector a3 = FloatVector.zero(F);
            FloatVector a4 = FloatVector.zero(F);
            FloatVector a5 = FloatVector.zero(F);
            FloatVector a6 = FloatVector.zero(F);
            FloatVector a7 = FloatVector.zero(F);
            for (int c = 0; c < d; c += QUAD_CODES) {
                IntVector w = IntVector.fromMemorySegment(I, seg, base + c, ByteOrder.LITTLE_ENDIAN);
                nan = nan.or(w.and(LOW7).add(ONES));
                // Byte `part` of each int to the top, then >> 4. A loop here (unlike scoresFused4):
                // the G = 8 decode step ran 355–360 µs against 384–393 µs written out.
                for (int part = 0; part < 4; part++) {
                    FloatVector k = w.lanewise(VectorOperators.LSHL, 24 - 8 * part).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                    int cc = c + part * L;
                    a0 = k.fma(FloatVector.fromArray(F, qn, cc), a0);
                    a1 = k.fma(FloatVector.fromArray(F, qn, q1 + cc), a1);
                    a2 = k.fma(FloatVector.fromArray(F, qn, q2 + cc), a2);
                    a3 = k.fma(FloatVector.fromArray(F, qn, q3 + cc), a3);
                    a4 = k.fma(FloatVector.fromArray(F, qn, q4 + cc), a4);
                    a5 = k.fma(FloatVector.fromArray(F, qn, q5 + cc), a5);
                    a6 = k.fma(FloatVector.fromArray(F, qn, q6 + cc), a6);
                    a7 = k.fma(FloatVector.fromArray(F, qn, q7 + cc), a7);
                }
            }
            int p = j * 8 * L;
            a0.intoArray(sums, p);
            a1.intoArray(sums, p + L);
            a2.intoArray(sums, p + 2 * L);
            a3.intoArray(sums, p + 3 * L);
            a4.intoArray(sums, p + 4 * L);
            a5.intoArray(sums, p + 5 * L);
            a6.intoArray(sums, p + 6 * L);
            a7.intoArray(sums, p + 7 * L);
        }
        sumScores8(s, n);
        return nan.and(SIGNS).compare(VectorOperators.NE, 0).anyTrue();
    }

    /**
     * acc[r][quad(c)] = α_r · acc[r][quad(c)] + Σ_{j &lt; n} p[j][r] · e4m3(v[j][c]) for the first 4 rows (rows
     * past {@code rows} alias the last: they load, compute and store the same values), straight
     * from the fp8 V rows, 4 vectors of D at a time: each decoded vector feeds 4 FMAs, with no
     * {@code vt} tile written and read back. The decode step's counterpart of {@link #scoresFused4}
     * (see there); with 16 vector registers, {@code pvFused4Halves}. V is decoded raw (× 2^−120) and st holds
     * p × 2^120, so each product is exactly the one of the true values and the sums are bit for
     * bit those of a full decode (the accumulators hold the columns in the quad layout, see the
     * class comment); NaN codes: {@link #nanColumns}.
     */
    static boolean pvFused4(Scratch s, MemorySegment seg, long off, long rowBytes, int n, int d, int rows) {
        IntVector nan = IntVector.zero(I);
        float[] acc = s.acc;
        float[] st = s.st;
        float[] alpha = s.alpha;
        int r0 = 0;
        int r1 = Math.min(1, rows - 1);
        int r2 = Math.min(2, rows - 1);
        int r3 = Math.min(3, rows - 1);
        for (int c = 0; c < d; c += QUAD_CODES) {
            int a0 = c;
            int a1 = r1 * d + c;
            int a2 = r2 * d + c;
            int a3 = r3 * d + c;
            FloatVector c00 = FloatVector.fromArray(F, acc, a0).mul(alpha[r0]);
            FloatVector c01 = FloatVector.fromArray(F, acc, a0 + 1 * L).mul(alpha[r0]);
            FloatVector c02 = FloatVector.fromArray(F, acc, a0 + 2 * L).mul(alpha[r0]);
            FloatVector c03 = FloatVector.fromArray(F, acc, a0 + 3 * L).mul(alpha[r0]);
            FloatVector c10 = FloatVector.fromArray(F, acc, a1 ).mul(alpha[r1]);
            FloatVector c11 = FloatVector.fromArray(F, acc, a1 + 1 * L).mul(alpha[r1]);
            FloatVector c12 = FloatVector.fromArray(F, acc, a1 + 2 * L).mul(alpha[r1]);
            FloatVector c13 = FloatVector.fromArray(F, acc, a1 + 3 * L).mul(alpha[r1]);
            FloatVector c20 = FloatVector.fromArray(F, acc, a2 ).mul(alpha[r2]);
            FloatVector c21 = FloatVector.fromArray(F, acc, a2 + 1 * L).mul(alpha[r2]);
            FloatVector c22 = FloatVector.fromArray(F, acc, a2 + 2 * L).mul(alpha[r2]);
            FloatVector c23 = FloatVector.fromArray(F, acc, a2 + 3 * L).mul(alpha[r2]);
            FloatVector c30 = FloatVector.fromArray(F, acc, a3 ).mul(alpha[r3]);
            FloatVector c31 = FloatVector.fromArray(F, acc, a3 + 1 * L).mul(alpha[r3]);
            FloatVector c32 = FloatVector.fromArray(F, acc, a3 + 2 * L).mul(alpha[r3]);
            FloatVector c33 = FloatVector.fromArray(F, acc, a3 + 3 * L).mul(alpha[r3]);
            for (int j = 0; j < n; j++) {
                IntVector w = IntVector.fromMemorySegment(I, seg, off + j * rowBytes + c, ByteOrder.LITTLE_ENDIAN);
                nan = nan.or(w.and(LOW7).add(ONES));
                FloatVector v0 = w.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                FloatVector v1 = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                FloatVector v2 = w.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                FloatVector v3 = w.lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                FloatVector p;
                p = FloatVector.broadcast(F, st[r0 * BQ + j]);
                c00 = v0.fma(p, c00);
                c01 = v1.fma(p, c01);
                c02 = v2.fma(p, c02);
                c03 = v3.fma(p, c03);
                p = FloatVector.broadcast(F, st[r1 * BQ + j]);
                c10 = v0.fma(p, c10);
                c11 = v1.fma(p, c11);
                c12 = v2.fma(p, c12);
                c13 = v3.fma(p, c13);
                p = FloatVector.broadcast(F, st[r2 * BQ + j]);
                c20 = v0.fma(p, c20);
                c21 = v1.fma(p, c21);
                c22 = v2.fma(p, c22);
                c23 = v3.fma(p, c23);
                p = FloatVector.broadcast(F, st[r3 * BQ + j]);
                c30 = v0.fma(p, c30);
                c31 = v1.fma(p, c31);
                c32 = v2.fma(p, c32);
                c33 = v3.fma(p, c33);
            }
            c00.intoArray(acc, a0 );
            c01.intoArray(acc, a0 + 1 * L);
            c02.intoArray(acc, a0 + 2 * L);
            c03.intoArray(acc, a0 + 3 * L);
            c10.intoArray(acc, a1 );
            c11.intoArray(acc, a1 + 1 * L);
            c12.intoArray(acc, a1 + 2 * L);
            c13.intoArray(acc, a1 + 3 * L);
            c20.intoArray(acc, a2 );
            c21.intoArray(acc, a2 + 1 * L);
            c22.intoArray(acc, a2 + 2 * L);
            c23.intoArray(acc, a2 + 3 * L);
            c30.intoArray(acc, a3 );
            c31.intoArray(acc, a3 + 1 * L);
            c32.intoArray(acc, a3 + 2 * L);
            c33.intoArray(acc, a3 + 3 * L);
        }
        return nan.and(SIGNS).compare(VectorOperators.NE, 0).anyTrue();
    }


    /**
     * {@link #pvFused4} for 16 vector registers (AVX2, SSE, NEON): 4 rows × 4 decoded vectors would
     * need 16 accumulators and 4 operands, so each 4L-column group takes two passes over the keys,
     * parts {0, 1} of the quad layout and then {2, 3}: 8 accumulators, one int load and two
     * decodes per key and pass. The int load is repeated in the second pass (from L1: the tile's
     * keys × 4L bytes), and the NaN flag is taken in the first. Same sums, bit for bit, as
     * {@link #pvFused4}.
     */
    static boolean pvFused4Halves(Scratch s, MemorySegment seg, long off, long rowBytes, int n, int d, int rows) {
        IntVector nan = IntVector.zero(I);
        float[] acc = s.acc;
        float[] st = s.st;
        float[] alpha = s.alpha;
        int r0 = 0;
        int r1 = Math.min(1, rows - 1);
        int r2 = Math.min(2, rows - 1);
        int r3 = Math.min(3, rows - 1);
        for (int c = 0; c < d; c += QUAD_CODES) {
            for (int h = 0; h < 2; h++) {
                // Part k of an int is ((w << (24 − 8k)) >> 4) & E4M3_BITS: parts 2h and 2h + 1.
                int shiftA = 24 - 16 * h;
                int shiftB = 16 - 16 * h;
                int a0 = c + 2 * h * L;
                int a1 = r1 * d + a0;
                int a2 = r2 * d + a0;
                int a3 = r3 * d + a0;
                FloatVector c00 = FloatVector.fromArray(F, acc, a0).mul(alpha[r0]);
                FloatVector c01 = FloatVector.fromArray(F, acc, a0 + L).mul(alpha[r0]);
                FloatVector c10 = FloatVector.fromArray(F, acc, a1).mul(alpha[r1]);
                FloatVector c11 = FloatVector.fromArray(F, acc, a1 + L).mul(alpha[r1]);
                FloatVector c20 = FloatVector.fromArray(F, acc, a2).mul(alpha[r2]);
                FloatVector c21 = FloatVector.fromArray(F, acc, a2 + L).mul(alpha[r2]);
                FloatVector c30 = FloatVector.fromArray(F, acc, a3).mul(alpha[r3]);
                FloatVector c31 = FloatVector.fromArray(F, acc, a3 + L).mul(alpha[r3]);
                for (int j = 0; j < n; j++) {
                    IntVector w = IntVector.fromMemorySegment(I, seg, off + j * rowBytes + c, ByteOrder.LITTLE_ENDIAN);
                    if (h == 0) {
                        nan = nan.or(w.and(LOW7).add(ONES));
                    }
                    FloatVector v0 = w.lanewise(VectorOperators.LSHL, shiftA).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                    FloatVector v1 = w.lanewise(VectorOperators.LSHL, shiftB).lanewise(VectorOperators.ASHR, 4).and(E4M3_BITS).reinterpretAsFloats();
                    FloatVector p;
                    p = FloatVector.broadcast(F, st[r0 * BQ + j]);
                    c00 = v0.fma(p, c00);
                    c01 = v1.fma(p, c01);
                    p = FloatVector.broadcast(F, st[r1 * BQ + j]);
                    c10 = v0.fma(p, c10);
                    c11 = v1.fma(p, c11);
                    p = FloatVector.broadcast(F, st[r2 * BQ + j]);
                    c20 = v0.fma(p, c20);
                    c21 = v1.fma(p, c21);
                    p = FloatVector.broadcast(F, st[r3 * BQ + j]);
                    c30 = v0.fma(p, c30);
                    c31 = v1.fma(p, c31);
                }
                c00.intoArray(acc, a0);
                c01.intoArray(acc, a0 + L);
                c10.intoArray(acc, a1);
                c11.intoArray(acc, a1 + L);
                c20.intoArray(acc, a2);
                c21.intoArray(acc, a2 + L);
                c30.intoArray(acc, a3);
                c31.intoArray(acc, a3 + L);
            }
        }
        return nan.and(SIGNS).compare(VectorOperators.NE, 0).anyTrue();
    }

    /**
     * Four query vectors (from lane {@code i}) × four keys (from {@code j}): 16 accumulators, for
     * 32 vector registers ({@link #WIDE_BLOCKS}). Per c: 4 loads of qt, 4 broadcasts, 16 FMAs.
     */
    static void scoreBlock4x4(float[] qt, float[] kt, float[] st, int j, int i, int d) {
        FloatVector s00 = FloatVector.zero(F), s01 = FloatVector.zero(F), s02 = FloatVector.zero(F), s03 = FloatVector.zero(F);
        FloatVector s10 = FloatVector.zero(F), s11 = FloatVector.zero(F), s12 = FloatVector.zero(F), s13 = FloatVector.zero(F);
        FloatVector s20 = FloatVector.zero(F), s21 = FloatVector.zero(F), s22 = FloatVector.zero(F), s23 = FloatVector.zero(F);
        FloatVector s30 = FloatVector.zero(F), s31 = FloatVector.zero(F), s32 = FloatVector.zero(F), s33 = FloatVector.zero(F);
        int k0 = j * d;
        int k1 = k0 + d;
        int k2 = k1 + d;
        int k3 = k2 + d;
        for (int c = 0; c < d; c++) {
            FloatVector q0 = FloatVector.fromArray(F, qt, c * BQ + i);
            FloatVector q1 = FloatVector.fromArray(F, qt, c * BQ + i + L);
            FloatVector q2 = FloatVector.fromArray(F, qt, c * BQ + i + 2 * L);
            FloatVector q3 = FloatVector.fromArray(F, qt, c * BQ + i + 3 * L);
            FloatVector kv = FloatVector.broadcast(F, kt[k0 + c]);
            s00 = q0.fma(kv, s00);
            s10 = q1.fma(kv, s10);
            s20 = q2.fma(kv, s20);
            s30 = q3.fma(kv, s30);
            kv = FloatVector.broadcast(F, kt[k1 + c]);
            s01 = q0.fma(kv, s01);
            s11 = q1.fma(kv, s11);
            s21 = q2.fma(kv, s21);
            s31 = q3.fma(kv, s31);
            kv = FloatVector.broadcast(F, kt[k2 + c]);
            s02 = q0.fma(kv, s02);
            s12 = q1.fma(kv, s12);
            s22 = q2.fma(kv, s22);
            s32 = q3.fma(kv, s32);
            kv = FloatVector.broadcast(F, kt[k3 + c]);
            s03 = q0.fma(kv, s03);
            s13 = q1.fma(kv, s13);
            s23 = q2.fma(kv, s23);
            s33 = q3.fma(kv, s33);
        }
        int o = j * BQ + i;
        s00.intoArray(st, o);
        s10.intoArray(st, o + L);
        s20.intoArray(st, o + 2 * L);
        s30.intoArray(st, o + 3 * L);
        s01.intoArray(st, o + BQ);
        s11.intoArray(st, o + BQ + L);
        s21.intoArray(st, o + BQ + 2 * L);
        s31.intoArray(st, o + BQ + 3 * L);
        s02.intoArray(st, o + 2 * BQ);
        s12.intoArray(st, o + 2 * BQ + L);
        s22.intoArray(st, o + 2 * BQ + 2 * L);
        s32.intoArray(st, o + 2 * BQ + 3 * L);
        s03.intoArray(st, o + 3 * BQ);
        s13.intoArray(st, o + 3 * BQ + L);
        s23.intoArray(st, o + 3 * BQ + 2 * L);
        s33.intoArray(st, o + 3 * BQ + 3 * L);
    }

    /**
     * Two query vectors (from lane {@code i}) × four keys (from {@code j}): 8 accumulators.
     * (Three vectors, 12 accumulators, make C2 spill on AVX2's 16 registers.)
     */
    static void scoreBlock2x4(float[] qt, float[] kt, float[] st, int j, int i, int d) {
        FloatVector s00 = FloatVector.zero(F), s01 = FloatVector.zero(F), s02 = FloatVector.zero(F), s03 = FloatVector.zero(F);
        FloatVector s10 = FloatVector.zero(F), s11 = FloatVector.zero(F), s12 = FloatVector.zero(F), s13 = FloatVector.zero(F);
        int k0 = j * d;
        int k1 = k0 + d;
        int k2 = k1 + d;
        int k3 = k2 + d;
        for (int c = 0; c < d; c++) {
            FloatVector q0 = FloatVector.fromArray(F, qt, c * BQ + i);
            FloatVector q1 = FloatVector.fromArray(F, qt, c * BQ + i + L);
            FloatVector kv = FloatVector.broadcast(F, kt[k0 + c]);
            s00 = q0.fma(kv, s00);
            s10 = q1.fma(kv, s10);
            kv = FloatVector.broadcast(F, kt[k1 + c]);
            s01 = q0.fma(kv, s01);
            s11 = q1.fma(kv, s11);
            kv = FloatVector.broadcast(F, kt[k2 + c]);
            s02 = q0.fma(kv, s02);
            s12 = q1.fma(kv, s12);
            kv = FloatVector.broadcast(F, kt[k3 + c]);
            s03 = q0.fma(kv, s03);
            s13 = q1.fma(kv, s13);
        }
        int o = j * BQ + i;
        s00.intoArray(st, o);
        s10.intoArray(st, o + L);
        s01.intoArray(st, o + BQ);
        s11.intoArray(st, o + BQ + L);
        s02.intoArray(st, o + 2 * BQ);
        s12.intoArray(st, o + 2 * BQ + L);
        s03.intoArray(st, o + 3 * BQ);
        s13.intoArray(st, o + 3 * BQ + L);
    }

    /**
     * One query vector × eight keys: the odd vector of {@link #scores} (short tiles, decode steps).
     * Eight keys rather than four: with four, the four FMA chains wait on the FMA latency.
     */
    private static void scoreBlock1x8(float[] qt, float[] kt, float[] st, int j, int i, int d) {
        FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
        FloatVector s4 = FloatVector.zero(F), s5 = FloatVector.zero(F), s6 = FloatVector.zero(F), s7 = FloatVector.zero(F);
        int k0 = j * d;
        int k1 = k0 + d;
        int k2 = k1 + d;
        int k3 = k2 + d;
        int k4 = k3 + d;
        int k5 = k4 + d;
        int k6 = k5 + d;
        int k7 = k6 + d;
        for (int c = 0; c < d; c++) {
            FloatVector q0 = FloatVector.fromArray(F, qt, c * BQ + i);
            s0 = q0.fma(FloatVector.broadcast(F, kt[k0 + c]), s0);
            s1 = q0.fma(FloatVector.broadcast(F, kt[k1 + c]), s1);
            s2 = q0.fma(FloatVector.broadcast(F, kt[k2 + c]), s2);
            s3 = q0.fma(FloatVector.broadcast(F, kt[k3 + c]), s3);
            s4 = q0.fma(FloatVector.broadcast(F, kt[k4 + c]), s4);
            s5 = q0.fma(FloatVector.broadcast(F, kt[k5 + c]), s5);
            s6 = q0.fma(FloatVector.broadcast(F, kt[k6 + c]), s6);
            s7 = q0.fma(FloatVector.broadcast(F, kt[k7 + c]), s7);
        }
        int o = j * BQ + i;
        s0.intoArray(st, o);
        s1.intoArray(st, o + BQ);
        s2.intoArray(st, o + 2 * BQ);
        s3.intoArray(st, o + 3 * BQ);
        s4.intoArray(st, o + 4 * BQ);
        s5.intoArray(st, o + 5 * BQ);
        s6.intoArray(st, o + 6 * BQ);
        s7.intoArray(st, o + 7 * BQ);
    }

    // ---------------------------------------------------------------- online softmax

    /**
     * For each query vector: the new running max, α = 2^(m_old − m_new), the probabilities
     * 2^(s − m_new) in place in st, times 2^120 (exact: V tiles are decoded raw, × 2^−120, so
     * each PV product is that of the true values), and l = α·l + Σ p. A row with no visible key so far keeps
     * m = −∞ and l = 0 (its exponent base is taken as 0, so no −∞ − (−∞)).
     */
    static void softmax(Scratch s, int n, int qvecs) {
        float[] st = s.st;
        for (int qv = 0; qv < qvecs; qv++) {
            int i = qv * L;
            FloatVector mOld = FloatVector.fromArray(F, s.m, i);
            FloatVector max = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < n; j++) {
                max = max.max(FloatVector.fromArray(F, st, j * BQ + i));
            }
            FloatVector mNew = mOld.max(max);
            FloatVector base = mNew.blend(0f, mNew.eq(Float.NEGATIVE_INFINITY));
            FloatVector alpha = exp2(mOld.sub(base));
            FloatVector sum = FloatVector.zero(F);
            for (int j = 0; j < n; j++) {
                int o = j * BQ + i;
                FloatVector p = exp2(FloatVector.fromArray(F, st, o).sub(base));
                p.mul(TWO_POW_120).intoArray(st, o); // for the raw (× 2^−120) V decode of the PV products
                sum = sum.add(p);
            }
            FloatVector.fromArray(F, s.l, i).fma(alpha, sum).intoArray(s.l, i);
            mNew.intoArray(s.m, i);
            alpha.intoArray(s.alpha, i);
        }
    }

    /**
     * {@link #softmax} for key-major scores, {@code st[r·BQ + j]}: keys in the lanes, for
     * {@code 1 ≤ rows ≤ 4} rows (rows past {@code rows}, up to 4, alias the last: they read,
     * compute and write the same values). A decode step has 4 query rows, so with rows in the
     * lanes 12 of 16 lanes of every exp2 were padding (the softmax was 18 % of the step); here
     * each row's keys fill whole vectors, and the row's max, α and l are scalars. Leaves
     * p × 2^120 in st for {@link #pvFused4}.
     *
     * <p>The four rows go through each step together: one row alone is a dependency chain (max,
     * lane max, exp2, sum, lane sum, α), and one row after another left the core waiting on it.
     * Zen 5, one call on a 64-key tile of 4 rows: 170–190 → 114–130 ns; the G = 4 decode step
     * (128 calls) about 4 % faster (medians of five interleaved rounds 185–194 → 175–187 µs);
     * the sums and the × 2^120 in one pass over the tile (they were two): 109–113 → 97–101 ns.
     * The exp2 loop has one exp2 in its body (over the rows inside the vectors), and the α come
     * from the scalar {@link #exp2(float)}: a second vector exp2 pushed the method past C2's
     * inlining budget, the call's vectors were boxed, and the method took 620 ns. Each row's
     * operations and their order are those of one row at a time, so are its bits
     * ({@code rowSoftmaxGivesEachRowTheBitsOfOneRowAlone}).
     */
    static void softmaxRows(Scratch s, int n, int rows) {
        float[] st = s.st;
        float[] base = s.rowBase;
        int vecs = (n + L - 1) / L;
        int r1 = Math.min(1, rows - 1);
        int r2 = Math.min(2, rows - 1);
        int r3 = Math.min(3, rows - 1);
        int o1 = r1 * BQ;
        int o2 = r2 * BQ;
        int o3 = r3 * BQ;
        for (int r = 0; r < rows; r++) {
            Arrays.fill(st, r * BQ + n, r * BQ + vecs * L, Float.NEGATIVE_INFINITY); // lanes past the tile: p = 0
        }
        FloatVector max0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        FloatVector max1 = max0;
        FloatVector max2 = max0;
        FloatVector max3 = max0;
        for (int v = 0; v < vecs; v++) {
            int at = v * L;
            max0 = max0.max(FloatVector.fromArray(F, st, at));
            max1 = max1.max(FloatVector.fromArray(F, st, o1 + at));
            max2 = max2.max(FloatVector.fromArray(F, st, o2 + at));
            max3 = max3.max(FloatVector.fromArray(F, st, o3 + at));
        }
        // Rows past `rows` alias the last one's state: computed from the old values, written last.
        float mNew0 = Math.max(s.m[0], max0.reduceLanes(VectorOperators.MAX));
        float mNew1 = Math.max(s.m[r1], max1.reduceLanes(VectorOperators.MAX));
        float mNew2 = Math.max(s.m[r2], max2.reduceLanes(VectorOperators.MAX));
        float mNew3 = Math.max(s.m[r3], max3.reduceLanes(VectorOperators.MAX));
        base[0] = mNew0 == Float.NEGATIVE_INFINITY ? 0f : mNew0;
        base[1] = mNew1 == Float.NEGATIVE_INFINITY ? 0f : mNew1;
        base[2] = mNew2 == Float.NEGATIVE_INFINITY ? 0f : mNew2;
        base[3] = mNew3 == Float.NEGATIVE_INFINITY ? 0f : mNew3;
        // p = 2^(st − base) of the four rows, p in st for now; the rows' offsets are r·BQ
        // (distinct rows only: an aliased row's p is its original row's).
        for (int v = 0; v < vecs; v++) {
            for (int r = 0; r < rows; r++) {
                int at = r * BQ + v * L;
                exp2(FloatVector.fromArray(F, st, at).sub(base[r])).intoArray(st, at);
            }
        }
        FloatVector sum0 = FloatVector.zero(F);
        FloatVector sum1 = sum0;
        FloatVector sum2 = sum0;
        FloatVector sum3 = sum0;
        for (int v = 0; v < vecs; v++) {
            int at = v * L;
            FloatVector p0 = FloatVector.fromArray(F, st, at);
            FloatVector p1 = FloatVector.fromArray(F, st, o1 + at);
            FloatVector p2 = FloatVector.fromArray(F, st, o2 + at);
            FloatVector p3 = FloatVector.fromArray(F, st, o3 + at);
            sum0 = sum0.add(p0);
            sum1 = sum1.add(p1);
            sum2 = sum2.add(p2);
            sum3 = sum3.add(p3);
            // After all four loads: an aliased row stores the same p × 2^120 as its original.
            p0.mul(TWO_POW_120).intoArray(st, at);
            p1.mul(TWO_POW_120).intoArray(st, o1 + at);
            p2.mul(TWO_POW_120).intoArray(st, o2 + at);
            p3.mul(TWO_POW_120).intoArray(st, o3 + at);
        }
        float alpha0 = exp2(s.m[0] - base[0]);
        float alpha1 = exp2(s.m[r1] - base[1]);
        float alpha2 = exp2(s.m[r2] - base[2]);
        float alpha3 = exp2(s.m[r3] - base[3]);
        float[] rowSums = s.rowSums;
        sum0.intoArray(rowSums, 0);
        sum1.intoArray(rowSums, L);
        sum2.intoArray(rowSums, 2 * L);
        sum3.intoArray(rowSums, 3 * L);
        float l0 = Math.fma(s.l[0], alpha0, LaneSums.sum(rowSums, 0));
        float l1 = Math.fma(s.l[r1], alpha1, LaneSums.sum(rowSums, L));
        float l2 = Math.fma(s.l[r2], alpha2, LaneSums.sum(rowSums, 2 * L));
        float l3 = Math.fma(s.l[r3], alpha3, LaneSums.sum(rowSums, 3 * L));
        s.l[0] = l0;
        s.l[r1] = l1;
        s.l[r2] = l2;
        s.l[r3] = l3;
        s.m[0] = mNew0;
        s.m[r1] = mNew1;
        s.m[r2] = mNew2;
        s.m[r3] = mNew3;
        s.alpha[0] = alpha0;
        s.alpha[r1] = alpha1;
        s.alpha[r2] = alpha2;
        s.alpha[r3] = alpha3;
    }

    /**
     * 2^x for x ≤ 0 (x &lt; −127, −∞ included, gives 0). x = n + f with n = round(x) and
     * f ∈ [−½, ½]; 2^f by its degree-6 Taylor polynomial in f·ln2 (truncation error
     * (½·ln2)^7/7! ≈ 1.2e-7), 2^n from the integer lanes.
     */
    static FloatVector exp2(FloatVector x) {
        // x < −127 → −127 by a compare and a blend: MAX follows Math.max (NaN and ±0 rules), which
        // C2 compiles into five instructions (vmaxps, vcmpunordps, two blends); here a NaN x stays
        // NaN and ±0 cannot arise, so the result is Math.max's, bit for bit.
        FloatVector xc = x.blend(-127f, x.lt(-127f));
        FloatVector t = xc.add(ROUND_MAGIC); // round to nearest integer in the low mantissa bits
        FloatVector f = xc.sub(t.sub(ROUND_MAGIC));
        IntVector n = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS - 127); // n + 127, in [0, 127]
        FloatVector pow2n = n.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats(); // 0 when n = −127
        FloatVector p = f.fma(C6, C5);
        p = p.fma(f, FloatVector.broadcast(F, C4));
        p = p.fma(f, FloatVector.broadcast(F, C3));
        p = p.fma(f, FloatVector.broadcast(F, C2));
        p = p.fma(f, FloatVector.broadcast(F, C1));
        p = p.fma(f, FloatVector.broadcast(F, 1f));
        return p.mul(pow2n);
    }

    /** {@link #exp2(FloatVector)} for one value, bit for bit the same (the same IEEE operations in the same order). */
    static float exp2(float x) {
        float xc = Math.max(x, -127f);
        float t = xc + ROUND_MAGIC;
        float f = xc - (t - ROUND_MAGIC);
        float pow2n = Float.intBitsToFloat((Float.floatToRawIntBits(t) - (ROUND_MAGIC_BITS - 127)) << 23);
        float p = Math.fma(f, C6, C5);
        p = Math.fma(p, f, C4);
        p = Math.fma(p, f, C3);
        p = Math.fma(p, f, C2);
        p = Math.fma(p, f, C1);
        p = Math.fma(p, f, 1f);
        return p * pow2n;
    }

    // ---------------------------------------------------------------- PV

    /** acc[i][:] = α_i · acc[i][:] + Σ_{j &lt; n} p[j][i] · vt[j][:] for the tile's {@code rows} rows. */
    static void accumulate(Scratch s, int n, int rows, int d, int bk) {
        int c0 = 0;
        if (WIDE_BLOCKS && rows >= PV_ROWS) {
            for (; c0 + 2 * STRIP <= d; c0 += 2 * STRIP) {
                int strip = c0 / STRIP * bk * STRIP;
                int strip2 = strip + bk * STRIP;
                int i = 0;
                for (; i + PV_ROWS <= rows; i += PV_ROWS) {
                    pvBlock4x4(s.acc, s.vt, s.st, s.alpha, i, c0, strip, strip2, n, d);
                }
                for (; i < rows; i++) {
                    pvBlock1x2(s.acc, s.vt, s.st, s.alpha, i, c0, strip, n, d);
                    pvBlock1x2(s.acc, s.vt, s.st, s.alpha, i, c0 + STRIP, strip2, n, d);
                }
            }
        }
        for (int c = c0; c < d; c += STRIP) {
            int strip = c / STRIP * bk * STRIP;
            int i = 0;
            for (; i + PV_ROWS <= rows; i += PV_ROWS) {
                pvBlock4x2(s.acc, s.vt, s.st, s.alpha, i, c, strip, n, d);
            }
            for (; i < rows; i++) {
                pvBlock1x2(s.acc, s.vt, s.st, s.alpha, i, c, strip, n, d);
            }
        }
    }

    /**
     * Four rows (from {@code i}) × two strips of two vectors (columns from {@code c}, strip data
     * from {@code strip} and {@code strip2}): 16 accumulators, for 32 vector registers
     * ({@link #WIDE_BLOCKS}). Per key: 4 loads of vt, 4 broadcasts, 16 FMAs.
     */
    static void pvBlock4x4(float[] acc, float[] vt, float[] st, float[] alpha, int i, int c, int strip, int strip2,
                           int n, int d) {
        int a0 = i * d + c;
        int a1 = a0 + d;
        int a2 = a1 + d;
        int a3 = a2 + d;
        FloatVector c00 = FloatVector.fromArray(F, acc, a0).mul(alpha[i]);
        FloatVector c01 = FloatVector.fromArray(F, acc, a0 + L).mul(alpha[i]);
        FloatVector c02 = FloatVector.fromArray(F, acc, a0 + 2 * L).mul(alpha[i]);
        FloatVector c03 = FloatVector.fromArray(F, acc, a0 + 3 * L).mul(alpha[i]);
        FloatVector c10 = FloatVector.fromArray(F, acc, a1).mul(alpha[i + 1]);
        FloatVector c11 = FloatVector.fromArray(F, acc, a1 + L).mul(alpha[i + 1]);
        FloatVector c12 = FloatVector.fromArray(F, acc, a1 + 2 * L).mul(alpha[i + 1]);
        FloatVector c13 = FloatVector.fromArray(F, acc, a1 + 3 * L).mul(alpha[i + 1]);
        FloatVector c20 = FloatVector.fromArray(F, acc, a2).mul(alpha[i + 2]);
        FloatVector c21 = FloatVector.fromArray(F, acc, a2 + L).mul(alpha[i + 2]);
        FloatVector c22 = FloatVector.fromArray(F, acc, a2 + 2 * L).mul(alpha[i + 2]);
        FloatVector c23 = FloatVector.fromArray(F, acc, a2 + 3 * L).mul(alpha[i + 2]);
        FloatVector c30 = FloatVector.fromArray(F, acc, a3).mul(alpha[i + 3]);
        FloatVector c31 = FloatVector.fromArray(F, acc, a3 + L).mul(alpha[i + 3]);
        FloatVector c32 = FloatVector.fromArray(F, acc, a3 + 2 * L).mul(alpha[i + 3]);
        FloatVector c33 = FloatVector.fromArray(F, acc, a3 + 3 * L).mul(alpha[i + 3]);
        for (int j = 0; j < n; j++) {
            FloatVector v0 = FloatVector.fromArray(F, vt, strip + j * STRIP);
            FloatVector v1 = FloatVector.fromArray(F, vt, strip + j * STRIP + L);
            FloatVector v2 = FloatVector.fromArray(F, vt, strip2 + j * STRIP);
            FloatVector v3 = FloatVector.fromArray(F, vt, strip2 + j * STRIP + L);
            FloatVector p = FloatVector.broadcast(F, st[j * BQ + i]);
            c00 = v0.fma(p, c00);
            c01 = v1.fma(p, c01);
            c02 = v2.fma(p, c02);
            c03 = v3.fma(p, c03);
            p = FloatVector.broadcast(F, st[j * BQ + i + 1]);
            c10 = v0.fma(p, c10);
            c11 = v1.fma(p, c11);
            c12 = v2.fma(p, c12);
            c13 = v3.fma(p, c13);
            p = FloatVector.broadcast(F, st[j * BQ + i + 2]);
            c20 = v0.fma(p, c20);
            c21 = v1.fma(p, c21);
            c22 = v2.fma(p, c22);
            c23 = v3.fma(p, c23);
            p = FloatVector.broadcast(F, st[j * BQ + i + 3]);
            c30 = v0.fma(p, c30);
            c31 = v1.fma(p, c31);
            c32 = v2.fma(p, c32);
            c33 = v3.fma(p, c33);
        }
        c00.intoArray(acc, a0);
        c01.intoArray(acc, a0 + L);
        c02.intoArray(acc, a0 + 2 * L);
        c03.intoArray(acc, a0 + 3 * L);
        c10.intoArray(acc, a1);
        c11.intoArray(acc, a1 + L);
        c12.intoArray(acc, a1 + 2 * L);
        c13.intoArray(acc, a1 + 3 * L);
        c20.intoArray(acc, a2);
        c21.intoArray(acc, a2 + L);
        c22.intoArray(acc, a2 + 2 * L);
        c23.intoArray(acc, a2 + 3 * L);
        c30.intoArray(acc, a3);
        c31.intoArray(acc, a3 + L);
        c32.intoArray(acc, a3 + 2 * L);
        c33.intoArray(acc, a3 + 3 * L);
    }

    /**
     * Four rows (from {@code i}) × one strip of two vectors (columns from {@code c}, strip data from
     * {@code strip}): 8 accumulators. (Six rows, 12 accumulators, spill on AVX2.)
     */
    static void pvBlock4x2(float[] acc, float[] vt, float[] st, float[] alpha, int i, int c, int strip, int n, int d) {
        int a0 = i * d + c;
        int a1 = a0 + d;
        int a2 = a1 + d;
        int a3 = a2 + d;
        FloatVector c00 = FloatVector.fromArray(F, acc, a0).mul(alpha[i]);
        FloatVector c01 = FloatVector.fromArray(F, acc, a0 + L).mul(alpha[i]);
        FloatVector c10 = FloatVector.fromArray(F, acc, a1).mul(alpha[i + 1]);
        FloatVector c11 = FloatVector.fromArray(F, acc, a1 + L).mul(alpha[i + 1]);
        FloatVector c20 = FloatVector.fromArray(F, acc, a2).mul(alpha[i + 2]);
        FloatVector c21 = FloatVector.fromArray(F, acc, a2 + L).mul(alpha[i + 2]);
        FloatVector c30 = FloatVector.fromArray(F, acc, a3).mul(alpha[i + 3]);
        FloatVector c31 = FloatVector.fromArray(F, acc, a3 + L).mul(alpha[i + 3]);
        for (int j = 0; j < n; j++) {
            FloatVector v0 = FloatVector.fromArray(F, vt, strip + j * STRIP);
            FloatVector v1 = FloatVector.fromArray(F, vt, strip + j * STRIP + L);
            FloatVector p = FloatVector.broadcast(F, st[j * BQ + i]);
            c00 = v0.fma(p, c00);
            c01 = v1.fma(p, c01);
            p = FloatVector.broadcast(F, st[j * BQ + i + 1]);
            c10 = v0.fma(p, c10);
            c11 = v1.fma(p, c11);
            p = FloatVector.broadcast(F, st[j * BQ + i + 2]);
            c20 = v0.fma(p, c20);
            c21 = v1.fma(p, c21);
            p = FloatVector.broadcast(F, st[j * BQ + i + 3]);
            c30 = v0.fma(p, c30);
            c31 = v1.fma(p, c31);
        }
        c00.intoArray(acc, a0);
        c01.intoArray(acc, a0 + L);
        c10.intoArray(acc, a1);
        c11.intoArray(acc, a1 + L);
        c20.intoArray(acc, a2);
        c21.intoArray(acc, a2 + L);
        c30.intoArray(acc, a3);
        c31.intoArray(acc, a3 + L);
    }

    /** One row × one strip: the tail of {@link #pvBlock4x2}. */
    private static void pvBlock1x2(float[] acc, float[] vt, float[] st, float[] alpha, int i, int c, int strip, int n, int d) {
        int a0 = i * d + c;
        FloatVector c0 = FloatVector.fromArray(F, acc, a0).mul(alpha[i]);
        FloatVector c1 = FloatVector.fromArray(F, acc, a0 + L).mul(alpha[i]);
        for (int j = 0; j < n; j++) {
            FloatVector p = FloatVector.broadcast(F, st[j * BQ + i]);
            c0 = FloatVector.fromArray(F, vt, strip + j * STRIP).fma(p, c0);
            c1 = FloatVector.fromArray(F, vt, strip + j * STRIP + L).fma(p, c1);
        }
        c0.intoArray(acc, a0);
        c1.intoArray(acc, a0 + L);
    }
}
