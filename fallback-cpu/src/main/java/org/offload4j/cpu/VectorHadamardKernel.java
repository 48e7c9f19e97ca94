package org.offload4j.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;

/**
 * The Hadamard transform on the CPU: rows spread over {@link CpuThreads}, transformed in a
 * per-thread fp32 scratch (long fp32 rows: in the output rows themselves) with
 * {@link FloatVector} butterflies at the preferred width.
 *
 * <h2>Data flow ({@code d = m·n}, {@code n = 2^k}, V floats per vector, {@code s = log2(n/V)} vector bits per block)</h2>
 * Rows go through in batches of up to {@value #BATCH_FLOATS} floats (short rows share every pass; a
 * long row is its own batch; pipelined fp32 rows, {@link Plan#pipelinedRowsF32}: {@value #PIPELINE_ROWS}
 * rows). With {@code z} the scratch ({@code float[2 · batch]}, reused):
 * <pre>
 *  rows (fp32 | bf16, back to back)                   z: batch in the scratch layout
 *  ────────────────────────────────                   ──────────────────────────────
 *  LOAD   8 consecutive vectors: widen, ⊙ preSigns,    vector bits 0–2 of each block
 *         the log2(V) lane stages, up to 3 vector
 *         stages in registers ───────────────────────▶ z[0, batch)
 *  MID    3 vector stages per pass (radix 8, 8        in place; bits 3, 4, 5, … of each block;
 *         vectors in registers), counted loops         the ones whose groups fit in 16 KiB run
 *                                                      right after LOAD on the same sub-range (L1)
 *  m = 1: STORE  the top 3 vector bits, × scale (⊙ postSigns), round once ─────────▶ out rows
 *                (bf16, d ≥ 8192: also reads ahead into the next row, "Touching the next row")
 *  m > 1: MIX    y[a'] = Σ_a ±z[a] across the m blocks, × scale (⊙ postSigns) ──▶ z[batch, 2·batch)
 *         EMIT   round once ───────────────────────────────────────────────────▶ out rows
 *  m > 1, bf16: MIX with the pair-bit butterfly, scale, rounding and packing fused in ──▶ out rows
 * </pre>
 * fp32 rows of at least {@link #IN_ROWS_MIN_FLOATS} floats with {@code m = 1} use no scratch: z is the
 * output rows themselves (see "Working in the rows").
 * A block of {@code 2^k} floats makes {@code ⌈(k − log2 V) / 3⌉} trips through L1 (3 for
 * {@code d = 4096} at V = 8, 2 up to {@code d = 512}), the first fused with the load and the last
 * with the store. Butterflies of different index bits commute, so any pass may take any bits;
 * {@link Plan} gives each pass contiguous bits, so that every pass is a plain counted loop over
 * linear indices and C2 hoists its range checks (the masked-increment loop over arbitrary bits it
 * replaced ran 30–40 % slower), and gives STORE exactly three bits and LOAD the rest of its three.
 *
 * <h2>One pass for n = 8V (d = 128 with AVX-512, 64 with AVX2)</h2>
 * With {@code m = 1} and eight vectors per row (fp32 or bf16, any row stride; fp16 through the
 * stage, see "fp16, staged"), a row makes one
 * pass: it is loaded (bf16: four int chunks split into even and odd halves, as in the paired
 * layout below), goes through the lane stages and the three vector stages in registers, is
 * scaled, rounded and stored ({@link Plan#rowF32}, {@link Plan#rowBf16}) straight into the output
 * rows (staged fp16 rows: in place in the stage, copied back into the scratch, then narrowed). The two passes through
 * L1 of the other paths were half the work of such a row: on Zen 4, 2^24 elements out of place,
 * one thread, bf16 went from 10.9 to 4.3–4.9 ms and fp32 from 11.2 to 6.4–7.7 ms (together with
 * the smaller batches below). On Zen 4, fp32 rows went through the scratch and one bulk copy per
 * batch (see "Stores"); on Zen 5 (family 26, the issue's machine kind; 2026-12-05, ninth session)
 * storing straight into the rows took d = 128, 2^24 elements, one thread, from 4.65 to 3.00 ms in
 * place and from 7.20 to 3.63 ms out of place (medians of four interleaved runs; L2-resident
 * 20.2 → 20.7 µs), so fp32 rows are stored directly now.
 *
 * <h2>Stores</h2>
 * This section is about fp32 rows shorter than {@link #IN_ROWS_MIN_FLOATS} floats and those with
 * m &gt; 1 (the longer ones, see the next section), and about bf16 rows; it was measured on Zen 4,
 * where it held for fp32 d ≤ 1024 (with AVX-512 the rows path below now starts at 256, and rows
 * of 8V are stored directly). A vector store into a {@code MemorySegment} cost C2 about 20 scalar
 * instructions of checks (liveness, read-only, bounds, the segment's class, re-read after every
 * store); the row's arithmetic is fewer. (Measured before the slices of "Segment access", which
 * took those checks out of the loops; the staging choices below have not been re-measured since.)
 * fp32 results
 * therefore went back into the scratch (or, for {@code n = 8V}, into it for the first time) and left in bulk, one
 * {@code MemorySegment.copy} per batch (per row when the output rows are not back to back). With
 * the smaller batches ({@link #BATCH_FLOATS}) that took fp32 d = 1024 from 17.7 to 7.5–9.7 ms;
 * staging alone, measured with 1024-float batches in place from DRAM, was worth 18.5 against
 * 19.9 cycles per vector at d = 1024 and 29.5–34.7 against 38.5 at d = 4096. bf16 stores half as
 * many vectors, and the extra copy cost more than it saved there (measured both ways), so bf16
 * stores go straight to the tensor.
 *
 * <h2>Segment access: the hot passes work on a slice taken in their own method</h2>
 * The vector passes of the F32, BF16 and ROW kinds ({@code rowF32},
 * {@code loadF32}, {@code loadF32Rows}, {@code loadBf16}, the {@code mid} passes on rows, {@code storeF32Block}, {@code storeBf16},
 * {@code storeBf16Ahead}, {@code mix}, {@code mix40Bf16}), but not {@code rowBf16} (below), first take {@code asSlice} of the
 * caller's segment over exactly the bytes they touch and address that slice from 0 ({@code widen},
 * {@code narrow} and the fp16 staging loops keep the caller's segment). Disassembled (hsdis, C2 of
 * JDK 25, Zen 4): on the caller's segment, {@code storeBf16}'s loop re-read the segment's class
 * word, read-only flag, length, scope and base and re-checked them before each of its four vector
 * stores, about 25 instructions a store and 100 per 8 vectors beside 70 vector operations; on the
 * slice the loop has no check at all (most likely because the slice is an object created in the
 * method, whose fields C2 knows; a method that sliced only on some calls, {@code t == null ? null :
 * t.asSlice(…)}, lost this once C2 had compiled both cases, see {@link Plan#loadF32}). Compiled sizes, for example: {@code rowF32} 4241 → 958
 * instructions, {@code loadF32} 3771 → 1346, {@code storeBf16} 2213 → 932. On Zen 4, 2^24 elements
 * in place, one thread, three interleaved rounds: fp32 d = 128 / 1024 / 4096 / 16384 3.90–4.07 /
 * 5.02–5.10 / 5.79–5.94 / 7.44–7.58 → 2.84–2.88 / 4.27–4.30 / 4.97–5.02 / 6.85–6.96 ms; bf16
 * d = 1024 5.22–5.42 → 4.76–4.97 ms, 16384 9.1–11.7 → 8.6–9.0 ms, d = 12288 (MIX) 14.1–15.0 →
 * 11.6–13.9 ms; bf16 d = 4096 from DRAM did not move (6.90–7.67 → 7.31–7.49 ms; in L2 45.1–46.9 →
 * 37.3–37.8 µs). {@link Plan#rowBf16}, one call per 128-value row and bound by its dependent
 * chain, keeps the caller's segment: with a slice it compiled to 622 instead of 1384 instructions
 * but ran only 2–3 % faster (4.28–4.30 → 4.17–4.19 ms), and one of 50 two-thread JVMs with it had a
 * median of 90 instead of 4.3–4.7 ms, which looks like the rare slow compile described at its
 * packing (not confirmed with a compile log, and 1 of 50 against 0 of 80 without the slice is too
 * few to show a difference); a 2–3 % gain was not worth that risk.
 *
 * <h2>Working in the rows (fp32, m = 1, d ≥ 256 with AVX-512, ≥ 4096 with narrower vectors)</h2>
 * LOAD reads the input rows and writes the output rows; MID and STORE then run in place there, so a
 * batch touches only its own rows' lines, as an in-place C kernel does. Through the scratch, these
 * rows ran 1.6–2× slower from DRAM than the same passes on L2-resident data (2^24 against 128 ×
 * 2^17 elements), most likely because the tensor's lines and the scratch's push each other out of
 * L1 (d = 4096: 16 KiB each) and L2. A C kernel built both ways for this measurement (AVX-512
 * intrinsics, gcc 12 -O3, not part of the project) showed the same on Zen 4: 2^24 elements in
 * place, one thread, 5.3–5.5 against 8.2–9.6 ms at d = 4096 and 7.0–7.5 against 11.4–12.4 ms at
 * d = 16384; prefetching the next row during the later passes won back only part of it, and
 * moving the scratch by 0–4 KiB (4K aliasing) changed nothing. Here, one thread: d = 4096 in place
 * 8.3–9.4 → 6.0–6.4 ms, d = 16384 11.0–12.5 → 7.4–7.9 ms, out of place d = 4096 14.6–16.0 →
 * 8.6–9.5 ms; two threads: d = 4096 4.6 → 3.0–3.1 ms. d = 2048 gains on two threads (3.8–4.1 →
 * 3.2–3.4 ms) and is even on one (6.3 → 6.4 ms); with AVX2 (8-float vectors, twice the stores per
 * row) d = 2048 lost 10 % on one thread, so there the rows path starts at 4096 (d = 4096 9.0–9.4 →
 * 7.8–7.9 ms, 16384 12.0–12.3 → 9.7–9.8 ms, one thread, {@code -XX:UseAVX=2}). On Zen 4 shorter
 * rows stayed on the scratch: every segment store repeated its checks then (see "Stores"), and at
 * d ≤ 1024 that outweighed what it saved (d = 1024, one thread, 4.5 → 5.2 ms; a wash on two). On
 * Zen 5 the rows path wins from d = 256 on ({@link #IN_ROWS_MIN_FLOATS}), so with AVX-512 it now
 * takes every fp32 row of 256 and more (m = 1); those of at most 1024 (no MID pass) run as a pipeline
 * over batches of rows ({@link Plan#pipelinedRowsF32}). bf16 and fp16 rows are too narrow to hold their fp32
 * intermediates, and fp16 rows are transformed in a per-thread stage that the widening loop has
 * just written.
 *
 * <h2>Touching the next row (bf16, m = 1, 16-float vectors, batches of more than {@value #L1_FLOATS} floats: d ≥ 8192)</h2>
 * Otherwise a row's reads all fall in LOAD; MID and STORE read nothing from memory. Timed pass by
 * pass on Zen 4 (d = 4096, 2^24 elements in place, one thread, the other passes skipped), LOAD alone
 * took 3.8–4.3 ms from DRAM against 2.9–3.5 ms on L2-resident rows, and from DRAM the three passes
 * timed alone added up to the whole transform (in L2 their sum exceeds it): the memory system idles
 * while a row is stored. Java has no prefetch instruction, and a load that misses holds up
 * retirement, so reads cannot simply be issued early; but a slow, steady sequential stream of them
 * is one the hardware prefetcher can run ahead of. With {@link Plan#touchesNext}, STORE
 * ({@link Plan#storeBf16Ahead}) reads one int of each line of the next row at the offsets it is
 * storing, 4 lines per iteration, so that row is (most likely; no counters were read) in L2 when
 * its LOAD comes. At these sizes the scratch (32 KiB and more) no longer fits in L1 beside the row,
 * STORE reads it from L2 and is slow enough for the prefetcher. 2^24 elements in place, one thread,
 * medians of 6–8 interleaved runs of a plain driver calling {@code Hadamard.transform}: d = 8192
 * 8.5 → 7.6 ms, 16384 8.8–9.2 → 6.9–7.7 ms (two sets), 32768 9.2 → 7.8 ms; in the bench, two
 * threads, medians of three: d = 8192 / 16384 / 32768 4.8 / 4.9 / 4.8 → 3.6 / 3.8 / 3.9 ms and 16384
 * out of place 5.2 → 4.2 ms. d = 16384 in place on one thread is bimodal per JVM with or without
 * this (about 1 JVM in 6 takes 10–12 ms). Measured with AVX-512 only, so narrower vectors (whose
 * four touches per iteration would fall twice or four times on each line) do not read ahead.
 * Details: docs/results/2026-12-06h-cpu-hadamard-touch.md. Tried and not kept:
 * <ul>
 *   <li>Touching at d ≤ 4096, where STORE runs from L1 and each touch's miss stalls it: d = 1024
 *       5.2 → 5.5 ms, 2048 6.5 → 8.8 ms, 4096 7.2 → 7.7 ms. A branch on the plan inside
 *       {@link Plan#storeBf16}'s loop instead of a second method cost d = 1024 and 256 3 % (4.80 →
 *       4.96 and 5.04 → 5.20 ms, five interleaved runs).</li>
 *   <li>Touching two rows ahead: no better than one. Touching the first half of the next row in LOAD
 *       and the second half in STORE: less than STORE alone gives at 16384 (two runs: 8.5–9.0 against
 *       9.4–9.6 ms), 6.9–7.6 against 7.6–8.0 ms at d = 4096, slower at 1024 (5.9 against 5.2–5.8 ms).</li>
 *   <li>The same in fp32's STORE on the rows ({@link Plan#inRows}): 8 lines per iteration, too dense;
 *       slower at every d from 2048 to 32768 (16384: 7.4 → 8.9 ms). Half of them (4 of the 8 lines
 *       of each iteration, the same streams or alternating ones): no change (7.3 → 7.3–7.5 ms). The
 *       same in the bf16 MIX (m &gt; 1, 4 lines per group of four outputs): no change at d = 14336 to
 *       28672, d = 12288 14.9 → 15.5 ms; those sizes lose less to DRAM (12288: 12.6 ms in L2, 15.5 from
 *       DRAM).</li>
 *   <li>Smaller LOAD sub-ranges (as small as the local MID passes allow), to interleave the reads with
 *       MID: slower (more calls), d = 4096 7.3 → 7.7 ms.</li>
 *   <li>Lane stages moved out of LOAD into their own pass over the sub-range in L1 (they are about
 *       half of LOAD's time: without them LOAD took 1.3 instead of 2.9 ms in L2): slower, d = 4096
 *       5.0 → 6.0–7.0 ms in L2. Transparent huge pages for the tensor ({@code madvise}): no change.
 *       The lane stages of LOAD as {@code (x ^ signBits) + partner} instead of an fma for s = 1, 2
 *       (an add pipe instead of an FMA pipe; alone, the four lane stages ran 7.0 → 5.7 cycles per
 *       vector): in LOAD no consistent gain, d = 1024 in L2 4.93 → 4.64–4.82 ms, d = 4096 in L2
 *       5.04 → 5.52–5.76 ms (LOAD is bound by its chains' latency, not its pipes).</li>
 * </ul>
 *
 * <h2>Lane stages</h2>
 * Lane {@code i} becomes {@code x[i ^ s] ± x[i]}: one fma with a ±1 sign vector per stage. The
 * partner is a {@code rearrange} ({@code vpermps} on AVX2) for {@code s ≥ 2}; for {@code s = 1} it
 * is a 32-bit rotation of each 64-bit lane (two shifts and an or), which made the load pass 12 %
 * faster on Zen 3: there {@code vpermps} issues only about once per 1.25 cycles, and the three lane
 * stages were ~70 % of the load pass.
 *
 * <h2>Layouts</h2>
 * <ul>
 *   <li><b>fp32</b>: scratch position = element index within the batch.</li>
 *   <li><b>bf16, "paired"</b>: one {@link IntVector} load takes 2V bf16 values (a chunk); its even
 *       elements are {@code int << 16} and its odd ones {@code int & 0xFFFF0000} (little-endian),
 *       two lane-wise ops instead of a cross-lane widening. The scratch keeps them as they fall:
 *       the even halves of all chunks of the batch fill {@code z[0, batch/2)} in order, the odd
 *       halves {@code z[batch/2, batch)} ({@code ho} in the code). Within a block this is a
 *       permutation {@code π} of the index bits (the pair bit moves to the top), and
 *       {@code H_n[π(i)][π(j)] = H_n[i][j]}, so the transform of the permuted row is the permuted
 *       transform; STORE (m = 1) or MIX (m &gt; 1) stages the pair bit last and packs the two halves
 *       of each chunk back into one int store, which undoes {@code π} for free. LOAD reads each group of 8 chunks twice,
 *       once per half and back to back (the second read hits L1), to keep 8 vectors in registers. Sign vectors are laid out once per
 *       call. Used when a half block holds at least 8 vectors ({@code n ≥ 16V}).</li>
 *   <li><b>fp16, staged</b> ({@code n ≥ 8V}): the fp32 kinds (ROW, F32) on an fp32 copy. A loop
 *       of {@code Float.float16ToFloat} widens the batch into the scratch (C2 vectorizes it into
 *       {@code vcvtph2ps}), one bulk copy puts it into a per-thread native stage the vector loads
 *       read, and the results leave the scratch through a loop of {@code Float.floatToFloat16}
 *       ({@code vcvtps2ph}, rounding once). ROW rows are transformed in place in the stage by
 *       {@code rowF32} and copied back into the scratch in bulk (one 4 KiB copy per batch, in L1)
 *       rather than by a copy of {@code rowF32} that writes the scratch. The Vector API has no fp16 conversion, and the same
 *       loops between two segments stay scalar (C2 cannot tell the segments apart): 0.83 against
 *       0.2 ns per element there and back. Against the scratch path below, 2^24 elements in
 *       place, one thread: d = 128 13.1 → 7.2 ms, 1024 10.0 → 7.1 ms, 4096 10.0 → 8.8 ms.</li>
 *   <li><b>fp16</b> rows with {@code n < 8V}, bf16 rows with {@code n < 16V}, and fp32 and bf16
 *       rows in memory the Vector API
 *       cannot address (a heap segment not backed by {@code byte[]}): each row is widened into the
 *       scratch and narrowed back; the butterflies in between are the same vector passes. bf16 rows
 *       in addressable memory are widened and narrowed with vectors ({@code short → int} convert
 *       and shift; round, {@code int → short} convert): with AVX-512 ({@code V = 16}) that covers
 *       d = 32 and 64 (128 now takes the one-pass row kernel), which the paired path cannot take,
 *       and which the scalar loops ran at 2.7× (d = 128, measured before the row kernel) and 3.5×
 *       (d = 64) the time (2^24 elements, one thread, interleaved A/B in one
 *       JVM on the shared AVX-512 EPYC: 16.3 against 43.1 ms at d = 128; identical outputs). fp16
 *       and other memory keep element loops ({@code Float.float16ToFloat}, HotSpot's F16C
 *       intrinsic). Below {@code n = 2V} the whole transform is scalar.</li>
 * </ul>
 *
 * <h2>Rounding to bf16 without a NaN test</h2>
 * The store computes {@code (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16}, which is
 * {@code Bf16.fromFloat} for every non-NaN value. For NaN it is too, here: every NaN in a bf16 row
 * is either widened from a bf16 NaN or made by an invalid operation (the default NaN), and
 * arithmetic only quiets and passes on payloads, so its low 16 bits are zero, the bias cannot
 * carry, and the result is the quiet NaN {@code Bf16.fromFloat} gives. This saves a compare and a
 * blend per vector; {@code roundsOnceToNearestEven} in the tests pins NaN, ties and overflow.
 * The row kernel and the store and MIX passes write it {@code (bits + 0x7FFF) + ((bits >>> 16) & 1)}:
 * the bias add runs beside the shift and the mask, so the dependent chain is three integer
 * operations, not four. On Zen 5 each costs 2 cycles at 512 bits, and the one-pass row kernel is
 * bound by its chain's latency (a bf16 row of 128, before this change: about 65 cycles of dependent
 * operations, 73 measured per row; its FMA-pipe work alone needs 32): d = 128 in place, 2^24
 * elements, one thread, 2.78–2.84 → 2.60–2.69 ms (four interleaved runs each; L2-resident
 * 20.0–20.4 → 18.9–19.7 µs per 1024 rows). Other sizes did not move (their passes are loops whose
 * iterations overlap), so the narrowing loop of short rows ({@code narrow}) keeps the old order.
 *
 * <h2>The m-point stage</h2>
 * For {@code m ∈ {12, 20, 28}} MIX computes, for each pair of column vectors, every output block
 * as a ±1 combination of the {@code m} input blocks: an fma with a broadcast ±1, no branch on the
 * sign, {@code m} fmas per output vector. {@code H_40 = H_2 ⊗ H_20} is done as a 20-point stage on
 * both halves and one butterfly between them: 21 instead of 40 operations per output.
 * With bf16 (paired layout) MIX also does the pair bit's stage and writes the rows: MIX acts alike on
 * a block's even and odd halves, so it commutes with their butterfly, which then costs two adds
 * where MIX holds both halves anyway; the separate pair pass and EMIT (a load and a store of the
 * whole batch each) are gone. 2^24 elements in place, one thread, medians of four interleaved
 * runs: d = 12288 16.2 → 14.9 ms, 14336 19.5 → 18.4 ms (L2-resident 120 → 112 µs), 10240 20.4 →
 * 18.6 ms: 6–9 %, so MIX's FMAs, not its passes, are most of what these sizes pay for.
 *
 * <h2>Why the code is written out</h2>
 * The hot methods call no helper of their own: once a method passes C2's node-count inlining
 * cutoff, calls to ordinary methods stay calls, their {@code FloatVector} arguments get boxed
 * and the Vector API falls back to its allocating Java code (measured: 10× slower, with GCs).
 * Only the Vector API's own force-inlined methods get past the cutoff, so the lane stages and the
 * rounding are spelled out in each pass.
 *
 * <h2>Rejected alternatives (measured on the 2-core Zen 3 development VM)</h2>
 * <ul>
 *   <li>Widening bf16 with a {@code ShortVector → IntVector} conversion and narrowing with I2S:
 *       cross-lane shuffles on both sides, where the paired layout needs shifts and masks.</li>
 *   <li>One pass per stage over the scratch: 12 trips through L1 for {@code d = 4096} instead of
 *       3, load/store bound.</li>
 *   <li>A native, 64-byte aligned scratch segment instead of the (16-byte aligned) {@code float[]}:
 *       the segment access checks cost more than the split cache lines; the store pass ran ~20 %
 *       slower (before the slices of "Segment access"; not re-measured).</li>
 *   <li>{@code DoubleVector}/{@code LongVector} permutes for the stride-2 and stride-4 lane stages:
 *       5 % slower than {@code vpermps}. Packing bf16 pairs with a blend of 16-bit lanes
 *       ({@code ShortVector}) instead of a 32-bit shift and a bitwise op: 50 % slower store pass.</li>
 *   <li>An 8×8 transpose so that the lane stages become vector stages: through the Vector API
 *       every shuffle is a {@code vpermps}, and the transpose there and back costs more than the
 *       lane stages it removes.</li>
 *   <li>Staging the lone MID bit of bf16 {@code d = 1024} inside the store pass (two loads and an
 *       fma per vector instead of a one-bit trip through L1): no measurable gain, 27.1–28.1 ms
 *       against 27.3–28.6 ms on one thread, 14.2–14.7 against 14.2–15.0 ms on two. That pass is
 *       nearly free; the 20 % that {@code d = 1024} costs over {@code d = 128} per vector is elsewhere
 *       (not the batch size either: batches of 1024, 2048 and 8192 floats were within the noise on that AVX2 machine; on
 *       AVX-512 Zen 4, 4096-float batches ran 1.4–1.8× slower than 1024 from DRAM, see {@link #BATCH_FLOATS}).</li>
 *   <li>(Zen 4, seventh session.) bf16 rows of 1024 and more in the natural layout ({@code ShortVector → IntVector} S2I on
 *       load, I2S on store, as {@code Plan.widen} does for short rows), to escape what the paired
 *       layout loses from DRAM: a C kernel written both ways (see "Working in the rows") ran the
 *       paired one 20–30 % slower from DRAM at d ≥ 4096 (7.0–8.0 against 5.7–5.9 ms at d = 4096;
 *       cause not found: not the two sweeps, not the store width, not 4K aliasing). Here the
 *       conversions inside the unrolled passes compiled into spills and calls: L2-resident
 *       d = 4096, 2^17 elements, 45.8 → 64.4 µs; from DRAM 7.9 → 9.1 ms. Narrowing into a
 *       {@code short[]} with one bulk copy per row instead: 48.5 → 51.7 µs, 7.9 → 8.4 ms.</li>
 *   <li>(Zen 4; overturned on Zen 5, see "Working in the rows".) Writing STORE's results straight
 *       into the rows for fp32 rows shorter than 2048 (no bulk copy): d = 256 and 1024 in place no
 *       faster, out of place 2× slower (strided stores into cold lines).</li>
 *   <li>(Zen 4, seventh session.) MIX by groups of four inputs: a ±1 row restricted to four inputs is,
 *       up to its first sign, one of eight patterns, so each group's eight combos
 *       {@code z0 ± z1 ± z2 ± z3} can be formed once (12 adds) and each output takes m/4 FMAs
 *       instead of m (7 instead of 28 for m = 28). Correct, and no faster: d = 14336 bf16 19.7 →
 *       19.1 ms, d = 12288 15.5 → 17.0 ms (2^24 elements in place, one thread). So MIX is not
 *       bound by its FMAs. Nor by its m input blocks falling into one or two L1 sets (they sit
 *       2–4 KiB apart): copying them into a layout padded by 64 bytes per block first left MIX
 *       as slow (L2-resident d = 12288: 96–99 against 95–99 µs). What binds it is not found.</li>
 *   <li>(Zen 4, eighth session.) MIX by index lists: with {@code T = Σ_a z[a]} per column, each
 *       output is {@code 2·Σ_{+} z − T} or {@code T − 2·Σ_{−} z}, whichever list is shorter (at most
 *       m/2 − 1 loads and adds instead of m FMAs: 13 against 28 for m = 28). Four outputs at a
 *       time, lists padded with a zero block. Slower: d = 14336 bf16 18.9 → 22.6 ms from DRAM,
 *       113 → 138 µs L2-resident; d = 12288 even from DRAM, 90 → 104 µs L2-resident. C2 compiled
 *       each list step (8 vector adds) into about 60 instructions: index loads, a bounds check per
 *       vector load, GPRs spilled to vector registers. It also broke the infinities' contract
 *       ({@code T − 2·Σ} is ∞ − ∞ where one input is infinite) and would have needed a dense
 *       fallback per column.</li>
 *   <li>(Zen 4, eighth session.) Half of MIX's FMAs as a sign flip ({@code xor} with a broadcast
 *       mask) and an add, to use the add pipes beside the FMA pipes: one early run showed
 *       d = 14336 bf16 19 → 16 ms, five interleaved rounds then 18.2 → 17.7 ms and d = 12288
 *       14.6 → 15.5 ms, L2-resident 109 → 113 µs. No gain.</li>
 *   <li>(Zen 4, eighth session.) Two bf16 rows per call of the one-pass row kernel, statement by
 *       statement interleaved, to overlap one row's ~70-cycle dependency chain (lane stages, vector
 *       stages, rounding) with the other's: 16 data vectors live at once, and C2's code for it was
 *       much slower (L2-resident d = 128: 32.4 → 49 µs; from DRAM 4.2 → 5.7 ms, some runs 160 ms,
 *       the signature of vectors boxed in the interpreter or in calls).</li>
 *   <li>(Zen 4, sixteenth session.) A radix-16 MID pass (four vector stages, 16 vectors in
 *       registers, AVX-512 only) where it makes fewer passes than radix 8, which for m = 1 is
 *       d = 16384 alone (MID bits 3–6 in one pass instead of {@code mid8} + {@code mid2}). 2^24
 *       elements in place, one thread, two interleaved rounds: fp32 (rows path) 6.74–6.81 → 9.48–9.71 ms,
 *       L2-resident (2^17) 43.1–43.7 → 60.3–61.0 µs; bf16 9.3–12.6 → 8.4–9.1 ms with L2-resident
 *       unchanged (47–52 against 45–53 µs); fp16 10.9–11.1 → 10.4–10.5 ms. As with the two-row
 *       kernel above, 16 live vectors and their 16 addresses made C2's loop slower than the pass it
 *       saved (not disassembled).</li>
 *   <li>Branching on each ±1 of the m-point stage: the pattern is too long for the branch
 *       predictor; an fma with a broadcast sign costs the same as an add.</li>
 * </ul>
 *
 * <p>Each call allocates only its plan and, when signs are given, their laid-out copies; rows
 * allocate nothing. Arguments are assumed valid ({@link org.offload4j.hadamard.Hadamard} checks them).
 */
final class VectorHadamardKernel implements HadamardKernel {
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final int V = F.length();
    /** V shorts: the bf16 halves of one float vector, for the widening and narrowing of short rows. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** Whether the first of two bf16 values is the low half of the int that holds both. */
    private static final boolean LITTLE = NATIVE == ByteOrder.LITTLE_ENDIAN;
    private static final int HI = 0xFFFF0000;

    /** Lane-stage shuffles ({@code i ↦ i ^ s}; s = 1 uses a 64-bit rotation) and signs ({@code −1} where bit s of the lane is set). */
    private static final VectorShuffle<Float> SH2 = swap(2);
    private static final VectorShuffle<Float> SH4 = swap(4);
    private static final VectorShuffle<Float> SH8 = swap(8);
    private static final FloatVector SG1 = laneSigns(1);
    /**
     * The high half of every int lane: the mask of the blend that packs two rounded bf16 values into
     * one int, {@code (lo >>> 16) | (hi & 0xFFFF0000)}, at every packing site (why a blend, not
     * {@code and} + {@code or}: {@link Plan#rowBf16}).
     */
    private static final IntVector HI_BITS = IntVector.broadcast(I, HI);
    private static final FloatVector SG2 = laneSigns(2);
    private static final FloatVector SG4 = laneSigns(4);
    private static final FloatVector SG8 = laneSigns(8);

    /** The lane stages are written for 4 to 16 lanes (SSE/NEON, AVX2, AVX-512); wider shapes run scalar. */
    private static final boolean VECTOR_LANES_OK = V >= 4 && V <= 16;

    /**
     * In rows longer than a batch, the load pass and the passes whose groups fit in this many floats
     * (16 KiB, half an L1) run sub-range by sub-range.
     */
    private static final int L1_FLOATS = 4096;

    /**
     * Rows of up to this many floats go through together (4 KiB of fp32): the batch and its scratch
     * together stay well inside a 32 KiB L1. With 16 KiB batches, scratch and tensor lines evicted
     * each other: d = 128 and 1024 ran 1.4–1.8× slower from DRAM on Zen 4 (2^24 elements, one
     * thread), while the same passes on L2-resident data were unchanged.
     */
    private static final int BATCH_FLOATS = 1024;

    /**
     * fp32 rows of at least this many floats are transformed in the output rows, see "Working in the
     * rows". With 8-float vectors a row takes twice the segment stores, and (before the slices of
     * "Segment access", so a candidate to re-measure) d = 2048 ran 10 % slower
     * in the rows on one thread (7.0–7.3 → 8.0 ms; even on two), d = 4096 still 16 % faster (Zen 4).
     * With 16-float vectors every row of 256 and more: on Zen 5 (the issue's machine kind) d = 256
     * in place 5.25 → 3.62 ms and d = 1024 out of place 7.29 → 4.35 ms, d = 1024 in place even
     * (3.78 against 4.00 ms, within the noise); on Zen 4 d = 1024 in place had lost 15 % (4.5 → 5.2 ms).
     */
    private static final int IN_ROWS_MIN_FLOATS = V >= 16 ? 256 : 4096;

    /**
     * Rows per batch of a {@link Plan#pipelined} plan: each batch starts its pipeline with a LOAD
     * alone and ends it with a STORE alone. Zen 5, d = 1024, 2^24 elements in place, one thread,
     * one set of three interleaved rounds: 8 rows 3.4–4.1 ms, 16 rows 3.6–4.0 ms, 32 rows 3.5–5.9 ms
     * (the unpipelined plan 5.1–6.3 ms); 64 rows at d = 256 and 512 no better than 16.
     */
    private static final int PIPELINE_ROWS = 16;

    /** At least this many elements per task, so that small calls do not pay for a fork. */
    private static final long MIN_TASK_ELEMENTS = 1 << 15;

    /** Floats between the batch and MIX's output region in the scratch: 256 bytes, see {@code Plan.mixOut}. */
    private static final int MIX_PAD = 64;

    /** Per-thread scratch ({@link ThreadArrays}, one slot): at most 2 · (40 · 32768) floats + pad, always under its bound. */
    private static final ThreadArrays SCRATCH = new ThreadArrays(1, ThreadArrays.KEEP_BYTES);
    /** Per-thread native fp32 stage of the fp16 rows ({@code Plan.staged}). */
    private static final ThreadLocal<MemorySegment> STAGE = new ThreadLocal<>();

    /** ±1 tables of the m-point stages, {@code [m][transpose ? 1 : 0][ao·m + a]}: input block a's factor in output block ao. */
    private static final float[][][] MIX = new float[41][][];

    static {
        for (int m : new int[] {12, 20, 28, 40}) {
            int[][] h = HadamardMatrices.of(m);
            MIX[m] = new float[][] {coefficients(h, false), coefficients(h, true)};
        }
    }

    private static VectorShuffle<Float> swap(int s) {
        return s < V ? VectorShuffle.fromOp(F, i -> i ^ s) : null;
    }

    private static FloatVector laneSigns(int s) {
        float[] v = new float[V];
        for (int i = 0; i < V; i++) {
            v[i] = (i & s) == 0 ? 1f : -1f;
        }
        return FloatVector.fromArray(F, v, 0);
    }

    private static float[] coefficients(int[][] h, boolean transpose) {
        int m = h.length;
        float[] c = new float[m * m];
        for (int ao = 0; ao < m; ao++) {
            for (int a = 0; a < m; a++) {
                c[ao * m + a] = transpose ? h[ao][a] : h[a][ao];
            }
        }
        return c;
    }

    @Override
    public void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                          float[] preSigns, float[] postSigns) {
        CpuThreads.onTensors(() -> run(in, out, size, scale, transpose, preSigns, postSigns), in, out);
    }

    private void run(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                     float[] preSigns, float[] postSigns) {
        Plan plan = new Plan(in, out, size, scale, transpose, preSigns, postSigns);
        MemorySegment src = in.segment();
        MemorySegment dst = out.segment();
        long srcRow = in.rowByteOffset(1);
        long dstRow = out.rowByteOffset(1);
        // Vector loads and stores run across the rows of a batch, so those need rows back to back.
        int batch = plan.kind >= KIND_BUF || (in.isContiguous() && out.isContiguous()) ? (plan.pipelined ? PIPELINE_ROWS : plan.batchRows) : 1;
        long grain = Math.max(batch, MIN_TASK_ELEMENTS / size.d());
        CpuThreads.forRange(in.rows(), grain, (from, to) -> {
            float[] buf = plan.inRows ? null : scratch(2 * plan.batchFloats + MIX_PAD); // in-rows plans need none
            MemorySegment stage = plan.stageFor();
            for (long r = from; r < to; r += batch) {
                int rows = (int) Math.min(batch, to - r);
                long srcAt = in.rowByteOffset(r);
                // The batch STORE reads ahead into ("Touching the next row"): the task's next one, a full batch
                // (the slice is one batch long); its last batch reads itself, since the rows after it are
                // another task's (or past the tensor).
                long next = plan.touchesNext && r + 2L * batch <= to ? in.rowByteOffset(r + batch) : srcAt;
                plan.batch(src, srcAt, srcRow, dst, out.rowByteOffset(r), dstRow, rows, buf, stage, next);
            }
        });
    }

    /** Whether a transform of {@code in} into {@code out} runs as a pipeline ({@link Plan#pipelinedRowsF32}); for tests. */
    static boolean pipelines(Tensor in, Tensor out, HadamardSize size) {
        return new Plan(in, out, size, 1f, false, null, null).pipelined;
    }

    private static float[] scratch(int floats) {
        return SCRATCH.floats(0, Math.max(floats, 2 * L1_FLOATS));
    }

    /** True when the Vector API can load from and store to the segment. */
    private static boolean vectorAddressable(MemorySegment s) {
        return s.isNative() || s.heapBase().map(o -> o instanceof byte[]).orElse(false);
    }

    /** Vectors load fp32 tensor memory (or the fp32 stage of fp16 rows); results leave the scratch in bulk, or never enter it ({@link Plan#inRows}). */
    private static final int KIND_F32 = 0;
    /** Vectors load from / store to bf16 tensor memory, scratch in the paired layout. */
    private static final int KIND_BF16 = 1;
    /** Scalar loops convert between the tensor and the scratch; vector passes run on the scratch. */
    private static final int KIND_BUF = 2;
    /** No vector passes at all: {@code n < 2V}. */
    private static final int KIND_SCALAR = 3;
    /** {@code m = 1}, {@code n = 8V}, fp32, bf16 or staged fp16: each row in one pass, in registers ({@link Plan#rowF32}, {@link Plan#rowBf16}). */
    private static final int KIND_ROW = 4;

    /** The plan of one call: kind, layout, passes, signs. Immutable, shared by the worker threads. */
    private static final class Plan {
        final DType dtype;
        final int d;
        final int m;
        final int n;
        final int nv;
        final int kind;
        /** Rows widened and narrowed by the scratch path may use vector loads and stores (bf16 rows, n &lt; 16V). */
        final boolean vectorIo;
        /**
         * fp16 rows run the fp32 kinds (ROW, F32): widened into the scratch by a loop C2 vectorizes
         * ({@code Float.float16ToFloat}), copied into a native stage the vector loads read, and
         * narrowed from the scratch by another such loop (see "fp16" in the class comment).
         */
        final boolean staged;
        final float scale;
        /** Rows per batch and the scratch floats they take (the scratch holds twice that). */
        final int batchRows;
        final int batchFloats;
        /**
         * Where MIX writes its output in the scratch (natural layout; the paired one writes the rows):
         * just past the batch, plus {@link #MIX_PAD}. MIX reads m blocks n floats apart and writes the
         * same offsets in the output region; were that region exactly batchFloats (a multiple of 4 KiB)
         * further on, every store would alias the following loads in the low 12 address bits (4K
         * aliasing: the loads wait on the stores), which measured 5× slower for d = 12·1024 (then
         * with bf16 in the paired layout, which no longer writes here).
         */
        final int mixOut;
        /** Paired layout: where the odd halves start in the scratch (batchFloats / 2). */
        final int ho;
        /** Pre-signs, and post-signs times scale, laid out like a full batch in the scratch; or null. */
        final float[] pre;
        final float[] postScaled;
        /** The caller's sign arrays, natural layout, for the scalar path. */
        final float[] preNatural;
        final float[] postNatural;
        /** m-point stage: base order (20 when m = 40, then an outer H_2 follows) and ±1 tables. */
        final int mi;
        final float[] mix;
        final float[] mixFull;
        /** How many of the load pass's vector bits {0, 1, 2} it stages (0–3). */
        final int loadStages;
        /** The store pass (m = 1) stages the top three bits of each block; its lowest offset, n/8 floats. */
        final int storeA;
        /** MID passes as {lowest offset in floats, bit count}; the local ones run per L1-sized sub-range. */
        final int[][] midLocal;
        final int[][] midGlobal;
        /** fp32 rows, m = 1, at least {@link #IN_ROWS_MIN_FLOATS} long: every pass works in the output rows ({@link #inRowsF32}). */
        final boolean inRows;
        /** bf16, m = 1, batches larger than an L1 sub-range: STORE reads one int of each line of the next batch ("Touching the next row"). */
        final boolean touchesNext;
        /**
         * An {@link #inRows} plan with no MID pass (16-float vectors, d = 256, 512, 1024): a batch of
         * rows runs as a pipeline, the LOAD of each row interleaved with the STORE of the row before
         * ({@link #pipelinedRowsF32}).
         */
        final boolean pipelined;

        Plan(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose, float[] preSigns, float[] postSigns) {
            this.dtype = in.dtype();
            this.d = size.d();
            this.m = size.m();
            this.n = size.n();
            this.nv = n / V;
            this.scale = scale;
            this.batchRows = Math.max(1, BATCH_FLOATS / d);
            this.batchFloats = batchRows * d;
            this.ho = batchFloats / 2;
            this.mixOut = batchFloats + MIX_PAD;
            int s = Integer.numberOfTrailingZeros(Math.max(1, nv));
            boolean addressable = vectorAddressable(in.segment()) && vectorAddressable(out.segment());
            // fp16 rows with at least 8 vectors per block take the fp32 kinds through a staging segment.
            this.staged = dtype == DType.FP16 && VECTOR_LANES_OK && s >= 3;
            // The vector loads and stores reach the rows (fp32, bf16) or the stage (fp16).
            boolean direct = staged || (dtype != DType.FP16 && addressable);
            // F32 needs 8 vectors per block for a load group, BF16 8 per half block.
            boolean io = VECTOR_LANES_OK && s >= (dtype == DType.BF16 ? 4 : 3) && direct;
            this.vectorIo = VECTOR_LANES_OK && S.length() == V && addressable;
            if (VECTOR_LANES_OK && m == 1 && nv == 8 && direct) {
                kind = KIND_ROW;
            } else if (io) {
                kind = dtype == DType.BF16 ? KIND_BF16 : KIND_F32;
            } else {
                kind = VECTOR_LANES_OK && nv >= 2 ? KIND_BUF : KIND_SCALAR;
            }
            boolean scalar = kind == KIND_SCALAR;
            this.preNatural = preSigns;
            this.postNatural = postSigns;
            this.pre = preSigns == null || scalar ? null : kind == KIND_ROW ? rowLayout(preSigns, 1f) : layout(preSigns, 1f);
            this.postScaled = postSigns == null || scalar ? null
                    : kind == KIND_ROW ? rowLayout(postSigns, scale) : layout(postSigns, scale);
            this.mi = m == 40 ? 20 : m;
            this.mix = m == 1 ? null : MIX[mi][transpose ? 1 : 0];
            this.mixFull = m == 1 ? null : MIX[m][transpose ? 1 : 0];
            this.storeA = n / 8;

            // Vector-index bits of a block: s of them; in the paired layout the top one is the pair bit.
            int firstMid = 0;
            int endMid = 0;
            int stages = 0;
            if (kind == KIND_F32 || kind == KIND_BF16) {
                int inHalf = kind == KIND_BF16 ? s - 1 : s; // bits below the pair bit
                // With m = 1 the store pass always stages three bits and the load pass what is left of its own three.
                stages = m == 1 ? Math.min(3, s - 3) : 3;
                firstMid = 3;
                endMid = m == 1 ? s - 3 : inHalf; // paired, m > 1: MIX stages the pair bit as it emits
            } else if (kind == KIND_BUF) {
                endMid = s;
            }
            this.loadStages = stages;
            List<int[]> local = new ArrayList<>();
            List<int[]> global = new ArrayList<>();
            for (int b = firstMid; b < endMid; b += 3) {
                int bits = Math.min(3, endMid - b);
                ((V << (b + bits)) <= L1_FLOATS ? local : global).add(new int[] {V << b, bits});
            }
            this.inRows = kind == KIND_F32 && m == 1 && !staged && d >= IN_ROWS_MIN_FLOATS;
            this.touchesNext = kind == KIND_BF16 && m == 1 && batchFloats > L1_FLOATS && V == 16;
            this.pipelined = inRows && local.isEmpty();
            this.midLocal = local.toArray(new int[0][]);
            this.midGlobal = global.toArray(new int[0][]);
            if (inRows && midGlobal.length > 0) {
                throw new IllegalStateException("d = " + d + ": a MID pass spans more than one sub-range; inRowsF32 runs local passes only");
            }
        }

        /**
         * {@code signs} times {@code factor} at the register positions of one {@link #KIND_ROW} row:
         * position {@code i·V + j} is lane j of register i. fp32: element {@code i·V + j}; bf16: the
         * registers 0–3 hold the even elements of the four int chunks, 4–7 the odd ones, so position
         * {@code (4h + c)·V + j} is element {@code 2V·c + 2j + h}.
         */
        private float[] rowLayout(float[] signs, float factor) {
            float[] p = new float[d];
            for (int x = 0; x < d; x++) {
                // bf16: registers 0–3 are the row's first half of the paired layout, 4–7 its second.
                int element = dtype == DType.BF16 ? pairedElement(x, d / 2) : x;
                p[x] = signs[element] * factor;
            }
            return p;
        }

        /** {@code signs} (d values) times {@code factor}, at every scratch position of a full batch. */
        private float[] layout(float[] signs, float factor) {
            float[] p = new float[batchFloats];
            for (int x = 0; x < p.length; x++) {
                int element = x;
                if (kind == KIND_BF16) {
                    element = pairedElement(x, ho);
                }
                p[x] = signs[element % d] * factor;
            }
            return p;
        }

        /**
         * The element at position {@code x} of the paired layout whose odd halves start at
         * {@code ho}: {@code 2V·chunk + 2·lane + half} (see the class comment).
         */
        private static int pairedElement(int x, int ho) {
            int half = x >= ho ? 1 : 0;
            int y = x - half * ho;
            return 2 * V * (y / V) + 2 * (y % V) + half;
        }

        /**
         * {@code rows} rows starting {@code srcOff}/{@code dstOff} bytes into the segments, row
         * strides {@code srcRow}/{@code dstRow} bytes; for F32 and BF16 the rows must be back to back
         * (or {@code rows = 1}; staged fp16 needs that of the output rows only). {@code buf} holds
         * {@code 2 · batchFloats + MIX_PAD} floats; {@code stage} is this thread's stage when
         * {@link #staged} ({@link #stageFor}), else null. {@code nextSrcOff}: where in {@code src} the
         * next batch of as many rows starts, or {@code srcOff}; with {@link #touchesNext}, STORE reads
         * {@code 2 · count} bytes of {@code src} from there and writes {@code buf[batchFloats]}.
         */
        void batch(MemorySegment src, long srcOff, long srcRow, MemorySegment dst, long dstOff, long dstRow, int rows, float[] buf,
                   MemorySegment stage, long nextSrcOff) {
            int count = rows * d;
            if (staged) {
                src = stage(src, srcOff, srcRow, rows, buf, stage);
                srcOff = 0;
                srcRow = 4L * d;
            }
            switch (kind) {
                case KIND_ROW -> {
                    // Straight into the rows (see "One pass for n = 8V"); staged fp16 through the scratch.
                    if (dtype != DType.BF16) {
                        if (staged) {
                            // In place in the stage, then back into the scratch, whose loop narrows to fp16.
                            rowF32(src, srcOff, srcRow, rows, src, srcOff, srcRow);
                            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, srcOff, buf, 0, rows * d);
                            copyRows(buf, dst, dstOff, dstRow, rows);
                        } else {
                            rowF32(src, srcOff, srcRow, rows, dst, dstOff, dstRow);
                        }
                    } else {
                        for (int r = 0; r < rows; r++) {
                            rowBf16(src, srcOff + r * srcRow, dst, dstOff + r * dstRow);
                        }
                    }
                    return;
                }
                case KIND_SCALAR -> {
                    for (int r = 0; r < rows; r++) {
                        widen(src, srcOff + r * srcRow, buf, 0);
                        scalarRow(buf);
                        narrow(buf, 0, dst, dstOff + r * dstRow, false);
                    }
                    return;
                }
                case KIND_BUF -> {
                    for (int r = 0; r < rows; r++) {
                        widen(src, srcOff + r * srcRow, buf, r * d);
                    }
                    lanesBuf(buf, count);
                    for (int sub = 0; sub < count; sub += L1_FLOATS) {
                        localMids(buf, sub, Math.min(L1_FLOATS, count - sub));
                    }
                    globalMids(buf, 0, count);
                }
                // Load and the local passes run sub-range by sub-range, so a long row is transformed in L1
                // as it arrives (blocked stages) before the global passes and the store go through L2.
                case KIND_F32 -> {
                    if (pipelined && rows > 1) {
                        pipelinedRowsF32(src, srcOff, dst, dstOff, rows);
                        return;
                    }
                    if (inRows) {
                        inRowsF32(src, srcOff, dst, dstOff, count);
                        return;
                    }
                    for (int sub = 0; sub < count; sub += L1_FLOATS) {
                        int len = Math.min(L1_FLOATS, count - sub);
                        loadF32(src, srcOff + 4L * sub, buf, sub, len);
                        localMids(buf, sub, len);
                    }
                    globalMids(buf, 0, count);
                }
                default -> {
                    int half = count / 2;
                    for (int sub = 0; sub < half; sub += L1_FLOATS) {
                        int len = Math.min(L1_FLOATS, half - sub);
                        loadBf16(src, srcOff + 4L * sub, buf, sub, len);
                        localMids(buf, sub, len);
                        localMids(buf, ho + sub, len);
                    }
                    globalMids(buf, 0, half);
                    globalMids(buf, ho, half);
                }
            }
            if (m == 1) {
                switch (kind) {
                    case KIND_F32 -> storeF32(buf, dst, dstOff, count);
                    case KIND_BF16 -> {
                        if (touchesNext) {
                            storeBf16Ahead(buf, dst, dstOff, count / 2, src, nextSrcOff);
                        } else {
                            storeBf16(buf, dst, dstOff, count / 2);
                        }
                    }
                    default -> {
                        for (int r = 0; r < rows; r++) {
                            narrow(buf, r * d, dst, dstOff + r * dstRow, true);
                        }
                    }
                }
                return;
            }
            // bf16 (paired): MIX does the pair butterfly, rounding and packing and writes the rows itself.
            if (m == 40 && kind == KIND_BF16) {
                mix40Bf16(buf, rows, dst, dstOff);
            } else if (m == 40) {
                mix40(buf, rows);
            } else {
                mix(buf, rows, dst, dstOff);
            }
            if (kind == KIND_BF16) {
                return;
            }
            switch (kind) {
                case KIND_F32 -> writeF32(buf, mixOut, dst, dstOff, count);
                default -> {
                    for (int r = 0; r < rows; r++) {
                        narrow(buf, mixOut + r * d, dst, dstOff + r * dstRow, false);
                    }
                }
            }
        }

        /** {@code rows} rows of d fp32 values, back to back in {@code buf}, to rows {@code dstRow} bytes apart. */
        private void copyRows(float[] buf, MemorySegment dst, long dstOff, long dstRow, int rows) {
            if (dstRow == dtype.byteSize(d)) {
                writeF32(buf, 0, dst, dstOff, rows * d);
                return;
            }
            for (int r = 0; r < rows; r++) {
                writeF32(buf, r * d, dst, dstOff + r * dstRow, d);
            }
        }

        /**
         * {@code count} fp32 results {@code buf[from, from + count)} to back-to-back elements at
         * {@code dstOff}: one bulk copy, or, staged, rounded once to fp16 by a loop C2 vectorizes.
         */
        private void writeF32(float[] buf, int from, MemorySegment dst, long dstOff, int count) {
            if (!staged) {
                MemorySegment.copy(buf, from, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, dstOff, count);
                return;
            }
            for (int i = 0; i < count; i++) {
                dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Fp16.fromFloat(buf[from + i]));
            }
        }

        /**
         * Widens {@code rows} fp16 rows into the MIX output region of the scratch (free until MIX
         * runs, after the load pass) and copies them into this thread's native stage, back to back;
         * returns the stage. Widening straight into a segment is a loop C2 does not vectorize (it
         * cannot tell the two segments apart): 0.83 against 0.2 ns per element there and back.
         * The loops here and in {@link #writeF32} repeat the fp16 branches of {@link #widen} and
         * {@link #narrow} on purpose: calling those per row (their dtype switch and checks each
         * time) measured 7.1 → 8.6 ms at d = 1024 and 8.0 → 10.5 ms at d = 128.
         */
        private MemorySegment stage(MemorySegment src, long srcOff, long srcRow, int rows, float[] buf, MemorySegment stage) {
            for (int r = 0; r < rows; r++) {
                long off = srcOff + r * srcRow;
                int at = mixOut + r * d;
                for (int i = 0; i < d; i++) {
                    buf[at + i] = Fp16.toFloat(src.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2L * i));
                }
            }
            MemorySegment.copy(buf, mixOut, stage, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, rows * d);
            return stage;
        }

        /** This thread's native stage for {@link #staged} plans (grown to a batch), else null. */
        MemorySegment stageFor() {
            if (!staged) {
                return null;
            }
            MemorySegment stage = STAGE.get();
            if (stage == null || stage.byteSize() < 4L * batchFloats) {
                stage = Arena.ofAuto().allocate(Math.max(4L * batchFloats, 4L * L1_FLOATS), 64);
                STAGE.set(stage);
            }
            return stage;
        }

        /**
         * fp32, m = 1: {@code count} floats of back-to-back rows from byte {@code srcOff} of
         * {@code src}, transformed in the output rows ({@code work} from byte {@code workOff} on):
         * LOAD writes there, the MID passes and STORE work there in place. With m = 1 every MID
         * group spans at most n/8 ≤ 4096 floats ({@code HadamardSize.MAX_D} = 32768), so all MID
         * passes are local to a sub-range (the constructor checks this).
         */
        private void inRowsF32(MemorySegment src, long srcOff, MemorySegment work, long workOff, int count) {
            for (int sub = 0; sub < count; sub += L1_FLOATS) {
                int len = Math.min(L1_FLOATS, count - sub);
                loadF32Rows(src, srcOff + 4L * sub, work, workOff + 4L * sub, sub, len);
                for (int[] o : midLocal) {
                    mid(work, workOff + 4L * sub, len, o);
                }
            }
            for (int blk = 0; blk < count; blk += n) {
                storeF32Block(work, workOff + 4L * blk, 0, storeA);
            }
        }

        /**
         * A {@link #pipelined} plan's batch: {@code rows} back-to-back fp32 rows from byte {@code srcOff}
         * of {@code src}, transformed in the output rows ({@code work} from byte {@code workOff} on).
         * Unpipelined, LOAD and STORE alternate batch by batch (a batch: one row at d = 1024, two at 512,
         * four at 256), and while a batch's STORE runs from L1 no read goes to memory: these rows ran
         * 1.6–1.8× slower from DRAM than on L2-resident data (Zen 5, d = 1024, one thread: 5.1–5.5 ms for
         * 2^24 elements against 128 × 22 µs for 2^17). Here the STORE of row r − 1 runs in the LOAD of
         * row r, group by group: LOAD group g (vectors 8g … 8g + 7 of row r, from memory) then STORE
         * group g (vectors g + k·d/8V, k = 0 … 7, of row r − 1, in L1), so the reads go out at an even
         * pace. Both passes have d/8V groups. Both take positions within the row ({@code at} of LOAD,
         * {@code from} of STORE), which is what the sign layouts ({@link #pre}, {@link #postScaled}:
         * period d) need: a batch of {@value #PIPELINE_ROWS} rows is longer than they are. Same results
         * bit for bit. 2^24 elements in place, one thread, Zen 5, interleaved runs (each JVM's median):
         * d = 256 5.0–6.6 → 3.3–4.0 ms (three JVMs of sixteen 5.7–6.0 ms), 512 4.9–7.8 → 3.4–4.2 ms (one of
         * twelve 5.6 ms), 1024 4.9–6.6 → 3.5–4.0 ms (two of twelve 5.9–6.1 ms), the slow ones all in one
         * noisy quarter hour; two threads d = 1024 2.7–3.6 → 2.4–2.6 ms.
         * On L2-resident rows it costs (d = 1024: 20 → 25 µs for 2^17 elements; a call per group). Tried
         * and not kept: the two groups in one loop of one method (7.0 ms: C2's code for it was slower,
         * not examined), two or four groups per call (4.1–6.6 ms), and the same pipeline for rows with
         * MID passes (d = 2048 even, 4096 6.2 → 7.1–8.8 ms).
         */
        private void pipelinedRowsF32(MemorySegment src, long srcOff, MemorySegment work, long workOff, int rows) {
            long rb = 4L * d;
            int groups = d / (8 * V);
            int loadGroup = 8 * V;
            int storeGroup = V;
            loadF32Rows(src, srcOff, work, workOff, 0, d);
            for (int r = 1; r < rows; r++) {
                long row = workOff + r * rb;
                for (int g = 0; g < groups; g++) {
                    loadF32Rows(src, srcOff + r * rb + 4L * g * loadGroup, work, row + 4L * g * loadGroup, g * loadGroup, loadGroup);
                    storeF32Block(work, row - rb, g * storeGroup, (g + 1) * storeGroup);
                }
            }
            storeF32Block(work, workOff + (rows - 1) * rb, 0, storeA);
        }

        /** The MID passes whose groups fit in an L1 sub-range, over {@code buf[from, from + count)} (at most one sub-range). */
        private void localMids(float[] buf, int from, int count) {
            for (int[] o : midLocal) {
                mid(buf, from, count, o);
            }
        }

        /** The other MID passes, over {@code buf[from, from + count)}. */
        private void globalMids(float[] buf, int from, int count) {
            for (int[] o : midGlobal) {
                mid(buf, from, count, o);
            }
        }

        private static void mid(float[] buf, int from, int floats, int[] o) {
            switch (o[1]) {
                case 1 -> mid2(buf, from, floats, o[0]);
                case 2 -> mid4(buf, from, floats, o[0]);
                default -> mid8(buf, from, floats, o[0]);
            }
        }

        /** As {@link #mid(float[], int, int, int[])} on fp32 rows in memory, from byte {@code base} on. */
        private static void mid(MemorySegment work, long base, int floats, int[] o) {
            switch (o[1]) {
                case 1 -> mid2(work, base, floats, o[0]);
                case 2 -> mid4(work, base, floats, o[0]);
                default -> mid8(work, base, floats, o[0]);
            }
        }

        // ---- ROW (m = 1, n = 8V): one pass per row, in registers ----
        //
        // The row's 8 vectors are loaded, go through the lane stages and the three vector stages,
        // are scaled and stored: one read and one write of each element, straight into the output
        // rows (staged fp16: in place in the stage, narrowed by the caller).

        /**
         * {@code rows} fp32 rows of {@code 8V} values, {@code srcRow} bytes apart from byte {@code sourceOff}
         * of {@code source} → rows {@code dstRow} bytes apart from byte {@code targetOff} of {@code target}
         * (staged fp16 rows: in place in the stage). The loop over the rows is in here so that the sign
         * and shuffle constants stay in registers: a call per row reloaded them and paid its entry and
         * exit, about 40 instructions per 8 vectors (d = 128, 2^24 elements in place, one thread:
         * 4.02 → 3.81 ms). The same loop in {@link #rowBf16}, whose rounding constants take more
         * registers, ran 5 % slower (4.43 → 4.64 ms), so bf16 rows keep a call each.
         */
        private void rowF32(MemorySegment source, long sourceOff, long srcRow, int rows, MemorySegment target, long targetOff, long dstRow) {
            // Slices taken here, not the caller's segments: C2 then hoists the access checks (see "Segment access").
            MemorySegment src = source.asSlice(sourceOff, (rows - 1) * srcRow + 4L * d);
            MemorySegment dst = target.asSlice(targetOff, (rows - 1) * dstRow + 4L * d);
            long srcOff = 0;
            long dstOff = 0;
            float[] sg = pre;
            float[] ps = postScaled;
            FloatVector sv = FloatVector.broadcast(F, scale);
            for (int r = 0; r < rows; r++) {
                long so = srcOff + r * srcRow;
                FloatVector v0 = FloatVector.fromMemorySegment(F, src, so + 0L * V, NATIVE);
                FloatVector v1 = FloatVector.fromMemorySegment(F, src, so + 4L * V, NATIVE);
                FloatVector v2 = FloatVector.fromMemorySegment(F, src, so + 8L * V, NATIVE);
                FloatVector v3 = FloatVector.fromMemorySegment(F, src, so + 12L * V, NATIVE);
                FloatVector v4 = FloatVector.fromMemorySegment(F, src, so + 16L * V, NATIVE);
                FloatVector v5 = FloatVector.fromMemorySegment(F, src, so + 20L * V, NATIVE);
                FloatVector v6 = FloatVector.fromMemorySegment(F, src, so + 24L * V, NATIVE);
                FloatVector v7 = FloatVector.fromMemorySegment(F, src, so + 28L * V, NATIVE);
                if (sg != null) {
                    v0 = v0.mul(FloatVector.fromArray(F, sg, 0 * V));
                    v1 = v1.mul(FloatVector.fromArray(F, sg, 1 * V));
                    v2 = v2.mul(FloatVector.fromArray(F, sg, 2 * V));
                    v3 = v3.mul(FloatVector.fromArray(F, sg, 3 * V));
                    v4 = v4.mul(FloatVector.fromArray(F, sg, 4 * V));
                    v5 = v5.mul(FloatVector.fromArray(F, sg, 5 * V));
                    v6 = v6.mul(FloatVector.fromArray(F, sg, 6 * V));
                    v7 = v7.mul(FloatVector.fromArray(F, sg, 7 * V));
                }
                v0 = v0.fma(SG1, v0.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v1 = v1.fma(SG1, v1.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v2 = v2.fma(SG1, v2.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v3 = v3.fma(SG1, v3.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v4 = v4.fma(SG1, v4.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v5 = v5.fma(SG1, v5.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v6 = v6.fma(SG1, v6.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v7 = v7.fma(SG1, v7.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v0 = v0.fma(SG2, v0.rearrange(SH2));
                v1 = v1.fma(SG2, v1.rearrange(SH2));
                v2 = v2.fma(SG2, v2.rearrange(SH2));
                v3 = v3.fma(SG2, v3.rearrange(SH2));
                v4 = v4.fma(SG2, v4.rearrange(SH2));
                v5 = v5.fma(SG2, v5.rearrange(SH2));
                v6 = v6.fma(SG2, v6.rearrange(SH2));
                v7 = v7.fma(SG2, v7.rearrange(SH2));
                if (V >= 8) {
                    v0 = v0.fma(SG4, v0.rearrange(SH4));
                    v1 = v1.fma(SG4, v1.rearrange(SH4));
                    v2 = v2.fma(SG4, v2.rearrange(SH4));
                    v3 = v3.fma(SG4, v3.rearrange(SH4));
                    v4 = v4.fma(SG4, v4.rearrange(SH4));
                    v5 = v5.fma(SG4, v5.rearrange(SH4));
                    v6 = v6.fma(SG4, v6.rearrange(SH4));
                    v7 = v7.fma(SG4, v7.rearrange(SH4));
                }
                if (V >= 16) {
                    v0 = v0.fma(SG8, v0.rearrange(SH8));
                    v1 = v1.fma(SG8, v1.rearrange(SH8));
                    v2 = v2.fma(SG8, v2.rearrange(SH8));
                    v3 = v3.fma(SG8, v3.rearrange(SH8));
                    v4 = v4.fma(SG8, v4.rearrange(SH8));
                    v5 = v5.fma(SG8, v5.rearrange(SH8));
                    v6 = v6.fma(SG8, v6.rearrange(SH8));
                    v7 = v7.fma(SG8, v7.rearrange(SH8));
                }
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                if (ps == null) {
                    v0 = v0.mul(sv);
                    v1 = v1.mul(sv);
                    v2 = v2.mul(sv);
                    v3 = v3.mul(sv);
                    v4 = v4.mul(sv);
                    v5 = v5.mul(sv);
                    v6 = v6.mul(sv);
                    v7 = v7.mul(sv);
                } else {
                    v0 = v0.mul(FloatVector.fromArray(F, ps, 0 * V));
                    v1 = v1.mul(FloatVector.fromArray(F, ps, 1 * V));
                    v2 = v2.mul(FloatVector.fromArray(F, ps, 2 * V));
                    v3 = v3.mul(FloatVector.fromArray(F, ps, 3 * V));
                    v4 = v4.mul(FloatVector.fromArray(F, ps, 4 * V));
                    v5 = v5.mul(FloatVector.fromArray(F, ps, 5 * V));
                    v6 = v6.mul(FloatVector.fromArray(F, ps, 6 * V));
                    v7 = v7.mul(FloatVector.fromArray(F, ps, 7 * V));
                }
                long o = dstOff + r * dstRow;
                v0.intoMemorySegment(dst, o + 0L * V, NATIVE);
                v1.intoMemorySegment(dst, o + 4L * V, NATIVE);
                v2.intoMemorySegment(dst, o + 8L * V, NATIVE);
                v3.intoMemorySegment(dst, o + 12L * V, NATIVE);
                v4.intoMemorySegment(dst, o + 16L * V, NATIVE);
                v5.intoMemorySegment(dst, o + 20L * V, NATIVE);
                v6.intoMemorySegment(dst, o + 24L * V, NATIVE);
                v7.intoMemorySegment(dst, o + 28L * V, NATIVE);
            }
        }

        /**
         * One bf16 row of {@code 8V} values: four int chunks of 2V values each, split into their even
         * (registers 0–3) and odd (4–7) elements as in the paired layout; the chunk bits and the pair
         * bit are the three vector stages. Rounded once and packed back into the same chunks.
         */
        private void rowBf16(MemorySegment src, long srcOff, MemorySegment dst, long dstOff) {
            // No slice here (see "Segment access"): this one call per row is bound by its dependent chain,
            // a slice gained 2–3 %, and one of 50 two-thread JVMs with it looked like the rare slow compile.
            float[] sg = pre;
            float[] ps = postScaled;
            FloatVector sv = FloatVector.broadcast(F, scale);
            IntVector w0 = IntVector.fromMemorySegment(I, src, srcOff + 0L * V, NATIVE);
            IntVector w1 = IntVector.fromMemorySegment(I, src, srcOff + 4L * V, NATIVE);
            IntVector w2 = IntVector.fromMemorySegment(I, src, srcOff + 8L * V, NATIVE);
            IntVector w3 = IntVector.fromMemorySegment(I, src, srcOff + 12L * V, NATIVE);
            // On little-endian the even element is the low half of its int.
            FloatVector v0 = (LITTLE ? w0.lanewise(VectorOperators.LSHL, 16) : w0.and(HI)).reinterpretAsFloats();
            FloatVector v1 = (LITTLE ? w1.lanewise(VectorOperators.LSHL, 16) : w1.and(HI)).reinterpretAsFloats();
            FloatVector v2 = (LITTLE ? w2.lanewise(VectorOperators.LSHL, 16) : w2.and(HI)).reinterpretAsFloats();
            FloatVector v3 = (LITTLE ? w3.lanewise(VectorOperators.LSHL, 16) : w3.and(HI)).reinterpretAsFloats();
            FloatVector v4 = (LITTLE ? w0.and(HI) : w0.lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            FloatVector v5 = (LITTLE ? w1.and(HI) : w1.lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            FloatVector v6 = (LITTLE ? w2.and(HI) : w2.lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            FloatVector v7 = (LITTLE ? w3.and(HI) : w3.lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            if (sg != null) {
                v0 = v0.mul(FloatVector.fromArray(F, sg, 0 * V));
                v1 = v1.mul(FloatVector.fromArray(F, sg, 1 * V));
                v2 = v2.mul(FloatVector.fromArray(F, sg, 2 * V));
                v3 = v3.mul(FloatVector.fromArray(F, sg, 3 * V));
                v4 = v4.mul(FloatVector.fromArray(F, sg, 4 * V));
                v5 = v5.mul(FloatVector.fromArray(F, sg, 5 * V));
                v6 = v6.mul(FloatVector.fromArray(F, sg, 6 * V));
                v7 = v7.mul(FloatVector.fromArray(F, sg, 7 * V));
            }
            v0 = v0.fma(SG1, v0.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v1 = v1.fma(SG1, v1.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v2 = v2.fma(SG1, v2.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v3 = v3.fma(SG1, v3.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v4 = v4.fma(SG1, v4.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v5 = v5.fma(SG1, v5.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v6 = v6.fma(SG1, v6.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v7 = v7.fma(SG1, v7.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
            v0 = v0.fma(SG2, v0.rearrange(SH2));
            v1 = v1.fma(SG2, v1.rearrange(SH2));
            v2 = v2.fma(SG2, v2.rearrange(SH2));
            v3 = v3.fma(SG2, v3.rearrange(SH2));
            v4 = v4.fma(SG2, v4.rearrange(SH2));
            v5 = v5.fma(SG2, v5.rearrange(SH2));
            v6 = v6.fma(SG2, v6.rearrange(SH2));
            v7 = v7.fma(SG2, v7.rearrange(SH2));
            if (V >= 8) {
                v0 = v0.fma(SG4, v0.rearrange(SH4));
                v1 = v1.fma(SG4, v1.rearrange(SH4));
                v2 = v2.fma(SG4, v2.rearrange(SH4));
                v3 = v3.fma(SG4, v3.rearrange(SH4));
                v4 = v4.fma(SG4, v4.rearrange(SH4));
                v5 = v5.fma(SG4, v5.rearrange(SH4));
                v6 = v6.fma(SG4, v6.rearrange(SH4));
                v7 = v7.fma(SG4, v7.rearrange(SH4));
            }
            if (V >= 16) {
                v0 = v0.fma(SG8, v0.rearrange(SH8));
                v1 = v1.fma(SG8, v1.rearrange(SH8));
                v2 = v2.fma(SG8, v2.rearrange(SH8));
                v3 = v3.fma(SG8, v3.rearrange(SH8));
                v4 = v4.fma(SG8, v4.rearrange(SH8));
                v5 = v5.fma(SG8, v5.rearrange(SH8));
                v6 = v6.fma(SG8, v6.rearrange(SH8));
                v7 = v7.fma(SG8, v7.rearrange(SH8));
            }
            FloatVector t;
            t = v0; v0 = t.add(v1); v1 = t.sub(v1);
            t = v2; v2 = t.add(v3); v3 = t.sub(v3);
            t = v4; v4 = t.add(v5); v5 = t.sub(v5);
            t = v6; v6 = t.add(v7); v7 = t.sub(v7);
            t = v0; v0 = t.add(v2); v2 = t.sub(v2);
            t = v1; v1 = t.add(v3); v3 = t.sub(v3);
            t = v4; v4 = t.add(v6); v6 = t.sub(v6);
            t = v5; v5 = t.add(v7); v7 = t.sub(v7);
            t = v0; v0 = t.add(v4); v4 = t.sub(v4);
            t = v1; v1 = t.add(v5); v5 = t.sub(v5);
            t = v2; v2 = t.add(v6); v6 = t.sub(v6);
            t = v3; v3 = t.add(v7); v7 = t.sub(v7);
            if (ps == null) {
                v0 = v0.mul(sv);
                v1 = v1.mul(sv);
                v2 = v2.mul(sv);
                v3 = v3.mul(sv);
                v4 = v4.mul(sv);
                v5 = v5.mul(sv);
                v6 = v6.mul(sv);
                v7 = v7.mul(sv);
            } else {
                v0 = v0.mul(FloatVector.fromArray(F, ps, 0 * V));
                v1 = v1.mul(FloatVector.fromArray(F, ps, 1 * V));
                v2 = v2.mul(FloatVector.fromArray(F, ps, 2 * V));
                v3 = v3.mul(FloatVector.fromArray(F, ps, 3 * V));
                v4 = v4.mul(FloatVector.fromArray(F, ps, 4 * V));
                v5 = v5.mul(FloatVector.fromArray(F, ps, 5 * V));
                v6 = v6.mul(FloatVector.fromArray(F, ps, 6 * V));
                v7 = v7.mul(FloatVector.fromArray(F, ps, 7 * V));
            }
            // Round to nearest even: bits + 0x7FFF + lsb (no NaN test needed, see the class comment).
            IntVector r0 = v0.reinterpretAsInts();
            r0 = r0.add(0x7FFF).add(r0.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r1 = v1.reinterpretAsInts();
            r1 = r1.add(0x7FFF).add(r1.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r2 = v2.reinterpretAsInts();
            r2 = r2.add(0x7FFF).add(r2.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r3 = v3.reinterpretAsInts();
            r3 = r3.add(0x7FFF).add(r3.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r4 = v4.reinterpretAsInts();
            r4 = r4.add(0x7FFF).add(r4.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r5 = v5.reinterpretAsInts();
            r5 = r5.add(0x7FFF).add(r5.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r6 = v6.reinterpretAsInts();
            r6 = r6.add(0x7FFF).add(r6.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector r7 = v7.reinterpretAsInts();
            r7 = r7.add(0x7FFF).add(r7.lanewise(VectorOperators.LSHR, 16).and(1));
            IntVector lo0 = LITTLE ? r0 : r4;
            IntVector hi0 = LITTLE ? r4 : r0;
            IntVector lo1 = LITTLE ? r1 : r5;
            IntVector hi1 = LITTLE ? r5 : r1;
            IntVector lo2 = LITTLE ? r2 : r6;
            IntVector hi2 = LITTLE ? r6 : r2;
            IntVector lo3 = LITTLE ? r3 : r7;
            IntVector hi3 = LITTLE ? r7 : r3;
            // (lo >>> 16) | (hi & 0xFFFF0000) as one bitwise blend: with a separate `and` and `or`, about
            // one two-thread JVM in 15 compiled this method with the species checks of those two
            // operations unpruned, which keeps their vectors as objects allocated on every row
            // (5–70× slower; docs/results/2026-12-06b-cpu-rare-slow-compile.md). 0 of 124 with the blend.
            lo0.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi0, HI_BITS).intoMemorySegment(dst, dstOff + 0L * V, NATIVE);
            lo1.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi1, HI_BITS).intoMemorySegment(dst, dstOff + 4L * V, NATIVE);
            lo2.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi2, HI_BITS).intoMemorySegment(dst, dstOff + 8L * V, NATIVE);
            lo3.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi3, HI_BITS).intoMemorySegment(dst, dstOff + 12L * V, NATIVE);
        }

        // ---- LOAD: widen, pre-signs, lane stages, up to three vector stages ----
        //
        // A load group is 8 consecutive vectors of the scratch (vector bits 0–2), so the loops are
        // plain counted loops and C2 hoists their range checks.

        /**
         * {@code count} floats of back-to-back rows starting {@code sourceOff} bytes into {@code source} →
         * {@code buf[at, at + count)} ({@code at}: the batch position). The rows path has
         * {@link #loadF32Rows}, a method of its own: as one method with a null target for this path,
         * a JVM that had run fp16 (staged, this path) and bf16 ran fp32 2–2.7× slower afterwards
         * (recompiled after uncommon traps; most likely the slice, merged with null, was no longer
         * an object C2 could see through, see "Segment access").
         */
        private void loadF32(MemorySegment source, long sourceOff, float[] buf, int at, int count) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment src = source.asSlice(sourceOff, 4L * count);
            long off = 0;
            int k = loadStages;
            float[] sg = pre;
            for (int x = 0; x < count; x += 8 * V) {
                int p = at + x;
                long q = off + 4L * x;
                FloatVector v0 = FloatVector.fromMemorySegment(F, src, q, NATIVE);
                FloatVector v1 = FloatVector.fromMemorySegment(F, src, q + 4L * V, NATIVE);
                FloatVector v2 = FloatVector.fromMemorySegment(F, src, q + 8L * V, NATIVE);
                FloatVector v3 = FloatVector.fromMemorySegment(F, src, q + 12L * V, NATIVE);
                FloatVector v4 = FloatVector.fromMemorySegment(F, src, q + 16L * V, NATIVE);
                FloatVector v5 = FloatVector.fromMemorySegment(F, src, q + 20L * V, NATIVE);
                FloatVector v6 = FloatVector.fromMemorySegment(F, src, q + 24L * V, NATIVE);
                FloatVector v7 = FloatVector.fromMemorySegment(F, src, q + 28L * V, NATIVE);
                if (sg != null) {
                    v0 = v0.mul(FloatVector.fromArray(F, sg, p));
                    v1 = v1.mul(FloatVector.fromArray(F, sg, p + V));
                    v2 = v2.mul(FloatVector.fromArray(F, sg, p + 2 * V));
                    v3 = v3.mul(FloatVector.fromArray(F, sg, p + 3 * V));
                    v4 = v4.mul(FloatVector.fromArray(F, sg, p + 4 * V));
                    v5 = v5.mul(FloatVector.fromArray(F, sg, p + 5 * V));
                    v6 = v6.mul(FloatVector.fromArray(F, sg, p + 6 * V));
                    v7 = v7.mul(FloatVector.fromArray(F, sg, p + 7 * V));
                }
                // Lane stages: lane i gets x[i ^ s] ± x[i], the sign from bit s of i. For s = 1 the partner is
                // a 32-bit rotation of each 64-bit lane: integer shifts, ~12 % cheaper here than vpermps.
                v0 = v0.fma(SG1, v0.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v1 = v1.fma(SG1, v1.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v2 = v2.fma(SG1, v2.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v3 = v3.fma(SG1, v3.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v4 = v4.fma(SG1, v4.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v5 = v5.fma(SG1, v5.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v6 = v6.fma(SG1, v6.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v7 = v7.fma(SG1, v7.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v0 = v0.fma(SG2, v0.rearrange(SH2));
                v1 = v1.fma(SG2, v1.rearrange(SH2));
                v2 = v2.fma(SG2, v2.rearrange(SH2));
                v3 = v3.fma(SG2, v3.rearrange(SH2));
                v4 = v4.fma(SG2, v4.rearrange(SH2));
                v5 = v5.fma(SG2, v5.rearrange(SH2));
                v6 = v6.fma(SG2, v6.rearrange(SH2));
                v7 = v7.fma(SG2, v7.rearrange(SH2));
                if (V >= 8) {
                    v0 = v0.fma(SG4, v0.rearrange(SH4));
                    v1 = v1.fma(SG4, v1.rearrange(SH4));
                    v2 = v2.fma(SG4, v2.rearrange(SH4));
                    v3 = v3.fma(SG4, v3.rearrange(SH4));
                    v4 = v4.fma(SG4, v4.rearrange(SH4));
                    v5 = v5.fma(SG4, v5.rearrange(SH4));
                    v6 = v6.fma(SG4, v6.rearrange(SH4));
                    v7 = v7.fma(SG4, v7.rearrange(SH4));
                }
                if (V >= 16) {
                    v0 = v0.fma(SG8, v0.rearrange(SH8));
                    v1 = v1.fma(SG8, v1.rearrange(SH8));
                    v2 = v2.fma(SG8, v2.rearrange(SH8));
                    v3 = v3.fma(SG8, v3.rearrange(SH8));
                    v4 = v4.fma(SG8, v4.rearrange(SH8));
                    v5 = v5.fma(SG8, v5.rearrange(SH8));
                    v6 = v6.fma(SG8, v6.rearrange(SH8));
                    v7 = v7.fma(SG8, v7.rearrange(SH8));
                }
                FloatVector t;
                if (k > 0) {
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                    t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                }
                if (k > 1) {
                    t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                    t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                    t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                }
                if (k > 2) {
                    t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                    t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                    t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                    t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                }
                v0.intoArray(buf, p);
                v1.intoArray(buf, p + V);
                v2.intoArray(buf, p + 2 * V);
                v3.intoArray(buf, p + 3 * V);
                v4.intoArray(buf, p + 4 * V);
                v5.intoArray(buf, p + 5 * V);
                v6.intoArray(buf, p + 6 * V);
                v7.intoArray(buf, p + 7 * V);
            }
        }

        /**
         * {@link #loadF32} into the output rows: {@code count} floats from byte {@code sourceOff} of
         * {@code source} → {@code target} from byte {@code targetOff} on (m = 1, see "Working in the
         * rows"); {@code at} is the batch position.
         */
        private void loadF32Rows(MemorySegment source, long sourceOff, MemorySegment target, long targetOff, int at, int count) {
            // Slices taken here, not the caller's segments: C2 then hoists the access checks (see "Segment access").
            MemorySegment src = source.asSlice(sourceOff, 4L * count);
            MemorySegment work = target.asSlice(targetOff, 4L * count);
            long off = 0;
            long workOff = 0;
            int k = loadStages;
            float[] sg = pre;
            for (int x = 0; x < count; x += 8 * V) {
                int p = at + x;
                long q = off + 4L * x;
                FloatVector v0 = FloatVector.fromMemorySegment(F, src, q, NATIVE);
                FloatVector v1 = FloatVector.fromMemorySegment(F, src, q + 4L * V, NATIVE);
                FloatVector v2 = FloatVector.fromMemorySegment(F, src, q + 8L * V, NATIVE);
                FloatVector v3 = FloatVector.fromMemorySegment(F, src, q + 12L * V, NATIVE);
                FloatVector v4 = FloatVector.fromMemorySegment(F, src, q + 16L * V, NATIVE);
                FloatVector v5 = FloatVector.fromMemorySegment(F, src, q + 20L * V, NATIVE);
                FloatVector v6 = FloatVector.fromMemorySegment(F, src, q + 24L * V, NATIVE);
                FloatVector v7 = FloatVector.fromMemorySegment(F, src, q + 28L * V, NATIVE);
                if (sg != null) {
                    v0 = v0.mul(FloatVector.fromArray(F, sg, p));
                    v1 = v1.mul(FloatVector.fromArray(F, sg, p + V));
                    v2 = v2.mul(FloatVector.fromArray(F, sg, p + 2 * V));
                    v3 = v3.mul(FloatVector.fromArray(F, sg, p + 3 * V));
                    v4 = v4.mul(FloatVector.fromArray(F, sg, p + 4 * V));
                    v5 = v5.mul(FloatVector.fromArray(F, sg, p + 5 * V));
                    v6 = v6.mul(FloatVector.fromArray(F, sg, p + 6 * V));
                    v7 = v7.mul(FloatVector.fromArray(F, sg, p + 7 * V));
                }
                // Lane stages: lane i gets x[i ^ s] ± x[i], the sign from bit s of i. For s = 1 the partner is
                // a 32-bit rotation of each 64-bit lane: integer shifts, ~12 % cheaper here than vpermps.
                v0 = v0.fma(SG1, v0.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v1 = v1.fma(SG1, v1.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v2 = v2.fma(SG1, v2.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v3 = v3.fma(SG1, v3.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v4 = v4.fma(SG1, v4.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v5 = v5.fma(SG1, v5.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v6 = v6.fma(SG1, v6.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v7 = v7.fma(SG1, v7.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                v0 = v0.fma(SG2, v0.rearrange(SH2));
                v1 = v1.fma(SG2, v1.rearrange(SH2));
                v2 = v2.fma(SG2, v2.rearrange(SH2));
                v3 = v3.fma(SG2, v3.rearrange(SH2));
                v4 = v4.fma(SG2, v4.rearrange(SH2));
                v5 = v5.fma(SG2, v5.rearrange(SH2));
                v6 = v6.fma(SG2, v6.rearrange(SH2));
                v7 = v7.fma(SG2, v7.rearrange(SH2));
                if (V >= 8) {
                    v0 = v0.fma(SG4, v0.rearrange(SH4));
                    v1 = v1.fma(SG4, v1.rearrange(SH4));
                    v2 = v2.fma(SG4, v2.rearrange(SH4));
                    v3 = v3.fma(SG4, v3.rearrange(SH4));
                    v4 = v4.fma(SG4, v4.rearrange(SH4));
                    v5 = v5.fma(SG4, v5.rearrange(SH4));
                    v6 = v6.fma(SG4, v6.rearrange(SH4));
                    v7 = v7.fma(SG4, v7.rearrange(SH4));
                }
                if (V >= 16) {
                    v0 = v0.fma(SG8, v0.rearrange(SH8));
                    v1 = v1.fma(SG8, v1.rearrange(SH8));
                    v2 = v2.fma(SG8, v2.rearrange(SH8));
                    v3 = v3.fma(SG8, v3.rearrange(SH8));
                    v4 = v4.fma(SG8, v4.rearrange(SH8));
                    v5 = v5.fma(SG8, v5.rearrange(SH8));
                    v6 = v6.fma(SG8, v6.rearrange(SH8));
                    v7 = v7.fma(SG8, v7.rearrange(SH8));
                }
                FloatVector t;
                if (k > 0) {
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                    t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                }
                if (k > 1) {
                    t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                    t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                    t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                }
                if (k > 2) {
                    t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                    t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                    t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                    t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                }
                long w = workOff + 4L * x;
                v0.intoMemorySegment(work, w, NATIVE);
                v1.intoMemorySegment(work, w + 4L * V, NATIVE);
                v2.intoMemorySegment(work, w + 8L * V, NATIVE);
                v3.intoMemorySegment(work, w + 12L * V, NATIVE);
                v4.intoMemorySegment(work, w + 16L * V, NATIVE);
                v5.intoMemorySegment(work, w + 20L * V, NATIVE);
                v6.intoMemorySegment(work, w + 24L * V, NATIVE);
                v7.intoMemorySegment(work, w + 28L * V, NATIVE);
            }
        }

        /**
         * As {@link #loadF32}, from bf16 into the paired layout: chunk c of the batch (2V values, V ints)
         * gives its even elements to scratch floats [cV, cV + V) and its odd ones to the same place
         * {@code ho} further. One half at a time keeps the loop body at 8 vectors; the odd half of a
         * group of 8 chunks is taken right after its even half, re-reading the chunks from L1. Chunks
         * from byte {@code sourceOff} of {@code source} on fill {@code buf[at, at + len)} and {@code buf[ho + at, ho + at + len)}.
         * <p>
         * The halves used to be two sweeps over the sub-range (all even halves, then all odd ones), so
         * the first sweep read from memory with half the arithmetic between its misses, and from DRAM
         * the pass ran bimodal with the order in which C2 happened to issue the 8 loads (see
         * docs/results/2026-12-05j-cpu-zen5.md: 1.7× between two compiles). With both halves of a group
         * back to back, 2^24 elements in place, one thread, interleaved runs: d = 1024 6.14–8.70 →
         * 3.45–3.54 ms after a d = 128 call (the suite's order), 4.69–7.09 → 3.50–3.57 ms as the first
         * size in its JVM; 4096 5.75–6.57 → 4.84–5.11 ms; 16384 7.1–9.6 → 6.32–6.88 ms; out of place
         * d = 1024 6.43–7.74 → 3.62–4.33 ms; two threads d = 1024 2.33–3.16 → 1.72–1.81 ms
         * (docs/results/2026-12-06-cpu-hadamard-bf16-load-order.md).
         */
        private void loadBf16(MemorySegment source, long sourceOff, float[] buf, int at, int len) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment src = source.asSlice(sourceOff, 4L * len);
            long off = 0;
            int k = loadStages;
            float[] sg = pre;
            for (int x = 0; x < len; x += 8 * V) {
                long q = off + 4L * x;
                for (int h = 0; h < 2; h++) {
                    boolean upper = (h == 1) == LITTLE; // the odd element is the upper half of the int on little-endian
                    int p = h * ho + at + x;
                    IntVector w0 = IntVector.fromMemorySegment(I, src, q, NATIVE);
                    IntVector w1 = IntVector.fromMemorySegment(I, src, q + 4L * V, NATIVE);
                    IntVector w2 = IntVector.fromMemorySegment(I, src, q + 8L * V, NATIVE);
                    IntVector w3 = IntVector.fromMemorySegment(I, src, q + 12L * V, NATIVE);
                    IntVector w4 = IntVector.fromMemorySegment(I, src, q + 16L * V, NATIVE);
                    IntVector w5 = IntVector.fromMemorySegment(I, src, q + 20L * V, NATIVE);
                    IntVector w6 = IntVector.fromMemorySegment(I, src, q + 24L * V, NATIVE);
                    IntVector w7 = IntVector.fromMemorySegment(I, src, q + 28L * V, NATIVE);
                    FloatVector v0;
                    FloatVector v1;
                    FloatVector v2;
                    FloatVector v3;
                    FloatVector v4;
                    FloatVector v5;
                    FloatVector v6;
                    FloatVector v7;
                    if (upper) {
                        v0 = w0.and(HI).reinterpretAsFloats();
                        v1 = w1.and(HI).reinterpretAsFloats();
                        v2 = w2.and(HI).reinterpretAsFloats();
                        v3 = w3.and(HI).reinterpretAsFloats();
                        v4 = w4.and(HI).reinterpretAsFloats();
                        v5 = w5.and(HI).reinterpretAsFloats();
                        v6 = w6.and(HI).reinterpretAsFloats();
                        v7 = w7.and(HI).reinterpretAsFloats();
                    } else {
                        v0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v2 = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v3 = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v4 = w4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v5 = w5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v6 = w6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                        v7 = w7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                    }
                    if (sg != null) {
                        v0 = v0.mul(FloatVector.fromArray(F, sg, p));
                        v1 = v1.mul(FloatVector.fromArray(F, sg, p + V));
                        v2 = v2.mul(FloatVector.fromArray(F, sg, p + 2 * V));
                        v3 = v3.mul(FloatVector.fromArray(F, sg, p + 3 * V));
                        v4 = v4.mul(FloatVector.fromArray(F, sg, p + 4 * V));
                        v5 = v5.mul(FloatVector.fromArray(F, sg, p + 5 * V));
                        v6 = v6.mul(FloatVector.fromArray(F, sg, p + 6 * V));
                        v7 = v7.mul(FloatVector.fromArray(F, sg, p + 7 * V));
                    }
                    v0 = v0.fma(SG1, v0.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v1 = v1.fma(SG1, v1.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v2 = v2.fma(SG1, v2.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v3 = v3.fma(SG1, v3.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v4 = v4.fma(SG1, v4.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v5 = v5.fma(SG1, v5.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v6 = v6.fma(SG1, v6.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v7 = v7.fma(SG1, v7.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                    v0 = v0.fma(SG2, v0.rearrange(SH2));
                    v1 = v1.fma(SG2, v1.rearrange(SH2));
                    v2 = v2.fma(SG2, v2.rearrange(SH2));
                    v3 = v3.fma(SG2, v3.rearrange(SH2));
                    v4 = v4.fma(SG2, v4.rearrange(SH2));
                    v5 = v5.fma(SG2, v5.rearrange(SH2));
                    v6 = v6.fma(SG2, v6.rearrange(SH2));
                    v7 = v7.fma(SG2, v7.rearrange(SH2));
                    if (V >= 8) {
                        v0 = v0.fma(SG4, v0.rearrange(SH4));
                        v1 = v1.fma(SG4, v1.rearrange(SH4));
                        v2 = v2.fma(SG4, v2.rearrange(SH4));
                        v3 = v3.fma(SG4, v3.rearrange(SH4));
                        v4 = v4.fma(SG4, v4.rearrange(SH4));
                        v5 = v5.fma(SG4, v5.rearrange(SH4));
                        v6 = v6.fma(SG4, v6.rearrange(SH4));
                        v7 = v7.fma(SG4, v7.rearrange(SH4));
                    }
                    if (V >= 16) {
                        v0 = v0.fma(SG8, v0.rearrange(SH8));
                        v1 = v1.fma(SG8, v1.rearrange(SH8));
                        v2 = v2.fma(SG8, v2.rearrange(SH8));
                        v3 = v3.fma(SG8, v3.rearrange(SH8));
                        v4 = v4.fma(SG8, v4.rearrange(SH8));
                        v5 = v5.fma(SG8, v5.rearrange(SH8));
                        v6 = v6.fma(SG8, v6.rearrange(SH8));
                        v7 = v7.fma(SG8, v7.rearrange(SH8));
                    }
                    FloatVector t;
                    if (k > 0) {
                        t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                        t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                        t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                        t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                    }
                    if (k > 1) {
                        t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                        t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                        t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                        t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                    }
                    if (k > 2) {
                        t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                        t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                        t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                        t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                    }
                    v0.intoArray(buf, p);
                    v1.intoArray(buf, p + V);
                    v2.intoArray(buf, p + 2 * V);
                    v3.intoArray(buf, p + 3 * V);
                    v4.intoArray(buf, p + 4 * V);
                    v5.intoArray(buf, p + 5 * V);
                    v6.intoArray(buf, p + 6 * V);
                    v7.intoArray(buf, p + 7 * V);
                }
            }
        }

        /** Pre-signs and lane stages of {@code buf[0, count)}, already widened into the scratch. */
        private void lanesBuf(float[] buf, int count) {
            float[] sg = pre;
            for (int p = 0; p < count; p += V) {
                FloatVector x = FloatVector.fromArray(F, buf, p);
                if (sg != null) {
                    x = x.mul(FloatVector.fromArray(F, sg, p));
                }
                x = x.fma(SG1, x.reinterpretAsLongs().lanewise(VectorOperators.ROL, 32).reinterpretAsFloats());
                x = x.fma(SG2, x.rearrange(SH2));
                if (V >= 8) {
                    x = x.fma(SG4, x.rearrange(SH4));
                }
                if (V >= 16) {
                    x = x.fma(SG8, x.rearrange(SH8));
                }
                x.intoArray(buf, p);
            }
        }

        // ---- MID: vector stages on the scratch, contiguous bits, a = lowest offset in floats ----

        private static void mid2(float[] buf, int from, int floats, int a) {
            for (int blk = from; blk < from + floats; blk += 2 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    FloatVector v0 = FloatVector.fromArray(F, buf, p);
                    FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                    v0.add(v1).intoArray(buf, p);
                    v0.sub(v1).intoArray(buf, p + a);
                }
            }
        }

        private static void mid4(float[] buf, int from, int floats, int a) {
            int b = 2 * a;
            for (int blk = from; blk < from + floats; blk += 4 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    FloatVector v0 = FloatVector.fromArray(F, buf, p);
                    FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                    FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                    FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                    FloatVector t;
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    v0.add(v2).intoArray(buf, p);
                    v0.sub(v2).intoArray(buf, p + b);
                    v1.add(v3).intoArray(buf, p + a);
                    v1.sub(v3).intoArray(buf, p + a + b);
                }
            }
        }

        private static void mid8(float[] buf, int from, int floats, int a) {
            int b = 2 * a;
            int c = 4 * a;
            for (int blk = from; blk < from + floats; blk += 8 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    FloatVector v0 = FloatVector.fromArray(F, buf, p);
                    FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                    FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                    FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                    FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                    FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                    FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                    FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                    FloatVector t;
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                    t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                    t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                    t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                    t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                    v0.add(v4).intoArray(buf, p);
                    v0.sub(v4).intoArray(buf, p + c);
                    v1.add(v5).intoArray(buf, p + a);
                    v1.sub(v5).intoArray(buf, p + c + a);
                    v2.add(v6).intoArray(buf, p + b);
                    v2.sub(v6).intoArray(buf, p + c + b);
                    v3.add(v7).intoArray(buf, p + a + b);
                    v3.sub(v7).intoArray(buf, p + c + b + a);
                }
            }
        }

        // The same three passes on fp32 rows in memory (m = 1, see "Working in the rows"): base and
        // q in bytes, a still in floats; ab, bb and cb are the byte offsets of a, 2a and 4a. Written
        // twice because a float[] and a MemorySegment share no vector load that compiles to a plain
        // vmovups.

        private static void mid2(MemorySegment outRows, long outRowsOff, int floats, int a) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment work = outRows.asSlice(outRowsOff, 4L * floats);
            long base = 0;
            long ab = 4L * a;
            for (int blk = 0; blk < floats; blk += 2 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    long q = base + 4L * p;
                    FloatVector v0 = FloatVector.fromMemorySegment(F, work, q, NATIVE);
                    FloatVector v1 = FloatVector.fromMemorySegment(F, work, q + ab, NATIVE);
                    v0.add(v1).intoMemorySegment(work, q, NATIVE);
                    v0.sub(v1).intoMemorySegment(work, q + ab, NATIVE);
                }
            }
        }

        private static void mid4(MemorySegment outRows, long outRowsOff, int floats, int a) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment work = outRows.asSlice(outRowsOff, 4L * floats);
            long base = 0;
            long ab = 4L * a;
            long bb = 2 * ab;
            for (int blk = 0; blk < floats; blk += 4 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    long q = base + 4L * p;
                    FloatVector v0 = FloatVector.fromMemorySegment(F, work, q, NATIVE);
                    FloatVector v1 = FloatVector.fromMemorySegment(F, work, q + ab, NATIVE);
                    FloatVector v2 = FloatVector.fromMemorySegment(F, work, q + bb, NATIVE);
                    FloatVector v3 = FloatVector.fromMemorySegment(F, work, q + ab + bb, NATIVE);
                    FloatVector t;
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    v0.add(v2).intoMemorySegment(work, q, NATIVE);
                    v0.sub(v2).intoMemorySegment(work, q + bb, NATIVE);
                    v1.add(v3).intoMemorySegment(work, q + ab, NATIVE);
                    v1.sub(v3).intoMemorySegment(work, q + ab + bb, NATIVE);
                }
            }
        }

        private static void mid8(MemorySegment outRows, long outRowsOff, int floats, int a) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment work = outRows.asSlice(outRowsOff, 4L * floats);
            long base = 0;
            long ab = 4L * a;
            long bb = 2 * ab;
            long cb = 4 * ab;
            for (int blk = 0; blk < floats; blk += 8 * a) {
                for (int p = blk; p < blk + a; p += V) {
                    long q = base + 4L * p;
                    FloatVector v0 = FloatVector.fromMemorySegment(F, work, q, NATIVE);
                    FloatVector v1 = FloatVector.fromMemorySegment(F, work, q + ab, NATIVE);
                    FloatVector v2 = FloatVector.fromMemorySegment(F, work, q + bb, NATIVE);
                    FloatVector v3 = FloatVector.fromMemorySegment(F, work, q + ab + bb, NATIVE);
                    FloatVector v4 = FloatVector.fromMemorySegment(F, work, q + cb, NATIVE);
                    FloatVector v5 = FloatVector.fromMemorySegment(F, work, q + cb + ab, NATIVE);
                    FloatVector v6 = FloatVector.fromMemorySegment(F, work, q + cb + bb, NATIVE);
                    FloatVector v7 = FloatVector.fromMemorySegment(F, work, q + cb + bb + ab, NATIVE);
                    FloatVector t;
                    t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                    t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                    t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                    t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                    t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                    t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                    t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                    v0.add(v4).intoMemorySegment(work, q, NATIVE);
                    v0.sub(v4).intoMemorySegment(work, q + cb, NATIVE);
                    v1.add(v5).intoMemorySegment(work, q + ab, NATIVE);
                    v1.sub(v5).intoMemorySegment(work, q + cb + ab, NATIVE);
                    v2.add(v6).intoMemorySegment(work, q + bb, NATIVE);
                    v2.sub(v6).intoMemorySegment(work, q + cb + bb, NATIVE);
                    v3.add(v7).intoMemorySegment(work, q + ab + bb, NATIVE);
                    v3.sub(v7).intoMemorySegment(work, q + cb + bb + ab, NATIVE);
                }
            }
        }

        // ---- STORE (m = 1): the top three vector stages, scale, round once ----

        /** {@code buf[0, count)} → {@code count} floats of back-to-back rows at {@code dstOff}. */
        private void storeF32(float[] buf, MemorySegment dst, long dstOff, int count) {
            int a = storeA;
            int b = 2 * a;
            int c = 4 * a;
            FloatVector sv = FloatVector.broadcast(F, scale);
            float[] ps = postScaled;
            for (int blk = 0; blk < count; blk += n) {
              for (int p = blk; p < blk + a; p += V) {
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                if (ps == null) {
                    v0 = v0.mul(sv);
                    v1 = v1.mul(sv);
                    v2 = v2.mul(sv);
                    v3 = v3.mul(sv);
                    v4 = v4.mul(sv);
                    v5 = v5.mul(sv);
                    v6 = v6.mul(sv);
                    v7 = v7.mul(sv);
                } else {
                    v0 = v0.mul(FloatVector.fromArray(F, ps, p));
                    v1 = v1.mul(FloatVector.fromArray(F, ps, p + a));
                    v2 = v2.mul(FloatVector.fromArray(F, ps, p + b));
                    v3 = v3.mul(FloatVector.fromArray(F, ps, p + a + b));
                    v4 = v4.mul(FloatVector.fromArray(F, ps, p + c));
                    v5 = v5.mul(FloatVector.fromArray(F, ps, p + c + a));
                    v6 = v6.mul(FloatVector.fromArray(F, ps, p + c + b));
                    v7 = v7.mul(FloatVector.fromArray(F, ps, p + c + b + a));
                }
                // Back into the scratch where this iteration read them, then out in bulk (see "Stores").
                v0.intoArray(buf, p);
                v1.intoArray(buf, p + a);
                v2.intoArray(buf, p + b);
                v3.intoArray(buf, p + a + b);
                v4.intoArray(buf, p + c);
                v5.intoArray(buf, p + c + a);
                v6.intoArray(buf, p + c + b);
                v7.intoArray(buf, p + c + b + a);
              }
            }
            writeF32(buf, 0, dst, dstOff, count);
        }

        /**
         * STORE (fp32, m = 1) in place on the block at byte {@code blockOff} of {@code outRows}: the
         * top three vector bits, positions {@code [from, to)} of its first eighth (n/8 floats), times
         * scale (⊙ post-signs).
         */
        private void storeF32Block(MemorySegment outRows, long blockOff, int from, int to) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment work = outRows.asSlice(blockOff, 4L * n);
            int a = storeA;
            long ab = 4L * a;
            long bb = 2 * ab;
            long cb = 4 * ab;
            FloatVector sv = FloatVector.broadcast(F, scale);
            float[] ps = postScaled;
            for (int p = from; p < to; p += V) {
                long q = 4L * p;
                FloatVector v0 = FloatVector.fromMemorySegment(F, work, q, NATIVE);
                FloatVector v1 = FloatVector.fromMemorySegment(F, work, q + ab, NATIVE);
                FloatVector v2 = FloatVector.fromMemorySegment(F, work, q + bb, NATIVE);
                FloatVector v3 = FloatVector.fromMemorySegment(F, work, q + ab + bb, NATIVE);
                FloatVector v4 = FloatVector.fromMemorySegment(F, work, q + cb, NATIVE);
                FloatVector v5 = FloatVector.fromMemorySegment(F, work, q + cb + ab, NATIVE);
                FloatVector v6 = FloatVector.fromMemorySegment(F, work, q + cb + bb, NATIVE);
                FloatVector v7 = FloatVector.fromMemorySegment(F, work, q + cb + bb + ab, NATIVE);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                if (ps == null) {
                    v0 = v0.mul(sv);
                    v1 = v1.mul(sv);
                    v2 = v2.mul(sv);
                    v3 = v3.mul(sv);
                    v4 = v4.mul(sv);
                    v5 = v5.mul(sv);
                    v6 = v6.mul(sv);
                    v7 = v7.mul(sv);
                } else {
                    v0 = v0.mul(FloatVector.fromArray(F, ps, p));
                    v1 = v1.mul(FloatVector.fromArray(F, ps, p + a));
                    v2 = v2.mul(FloatVector.fromArray(F, ps, p + 2 * a));
                    v3 = v3.mul(FloatVector.fromArray(F, ps, p + 3 * a));
                    v4 = v4.mul(FloatVector.fromArray(F, ps, p + 4 * a));
                    v5 = v5.mul(FloatVector.fromArray(F, ps, p + 5 * a));
                    v6 = v6.mul(FloatVector.fromArray(F, ps, p + 6 * a));
                    v7 = v7.mul(FloatVector.fromArray(F, ps, p + 7 * a));
                }
                v0.intoMemorySegment(work, q, NATIVE);
                v1.intoMemorySegment(work, q + ab, NATIVE);
                v2.intoMemorySegment(work, q + bb, NATIVE);
                v3.intoMemorySegment(work, q + ab + bb, NATIVE);
                v4.intoMemorySegment(work, q + cb, NATIVE);
                v5.intoMemorySegment(work, q + cb + ab, NATIVE);
                v6.intoMemorySegment(work, q + cb + bb, NATIVE);
                v7.intoMemorySegment(work, q + cb + bb + ab, NATIVE);
            }
        }

        /**
         * As {@link #storeF32}; the third bit is the pair bit (offset {@code ho}), so (v0, v4), (v1, v5),
         * (v2, v6), (v3, v7) are the even and odd halves of one bf16 chunk each: the chunk whose even
         * half sits at scratch float x starts at element 2x, byte 4x. {@code half} = count / 2.
         * {@link #storeBf16Ahead} is a copy of this method with the reads ahead added: a change here
         * belongs there too.
         */
        private void storeBf16(float[] buf, MemorySegment target, long targetOff, int half) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment dst = target.asSlice(targetOff, 4L * half);
            long dstOff = 0;
            int a = storeA;
            int b = 2 * a;
            int c = ho;
            FloatVector sv = FloatVector.broadcast(F, scale);
            float[] ps = postScaled;
            for (int blk = 0; blk < half; blk += n / 2) {
              for (int p = blk; p < blk + a; p += V) {
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                if (ps == null) {
                    v0 = v0.mul(sv);
                    v1 = v1.mul(sv);
                    v2 = v2.mul(sv);
                    v3 = v3.mul(sv);
                    v4 = v4.mul(sv);
                    v5 = v5.mul(sv);
                    v6 = v6.mul(sv);
                    v7 = v7.mul(sv);
                } else {
                    v0 = v0.mul(FloatVector.fromArray(F, ps, p));
                    v1 = v1.mul(FloatVector.fromArray(F, ps, p + a));
                    v2 = v2.mul(FloatVector.fromArray(F, ps, p + b));
                    v3 = v3.mul(FloatVector.fromArray(F, ps, p + a + b));
                    v4 = v4.mul(FloatVector.fromArray(F, ps, p + c));
                    v5 = v5.mul(FloatVector.fromArray(F, ps, p + c + a));
                    v6 = v6.mul(FloatVector.fromArray(F, ps, p + c + b));
                    v7 = v7.mul(FloatVector.fromArray(F, ps, p + c + b + a));
                }
                // Round to nearest even: bits + 0x7FFF + lsb (no NaN test needed, see the class comment).
                IntVector r0 = v0.reinterpretAsInts();
                IntVector r1 = v1.reinterpretAsInts();
                IntVector r2 = v2.reinterpretAsInts();
                IntVector r3 = v3.reinterpretAsInts();
                IntVector r4 = v4.reinterpretAsInts();
                IntVector r5 = v5.reinterpretAsInts();
                IntVector r6 = v6.reinterpretAsInts();
                IntVector r7 = v7.reinterpretAsInts();
                r0 = r0.add(0x7FFF).add(r0.lanewise(VectorOperators.LSHR, 16).and(1));
                r1 = r1.add(0x7FFF).add(r1.lanewise(VectorOperators.LSHR, 16).and(1));
                r2 = r2.add(0x7FFF).add(r2.lanewise(VectorOperators.LSHR, 16).and(1));
                r3 = r3.add(0x7FFF).add(r3.lanewise(VectorOperators.LSHR, 16).and(1));
                r4 = r4.add(0x7FFF).add(r4.lanewise(VectorOperators.LSHR, 16).and(1));
                r5 = r5.add(0x7FFF).add(r5.lanewise(VectorOperators.LSHR, 16).and(1));
                r6 = r6.add(0x7FFF).add(r6.lanewise(VectorOperators.LSHR, 16).and(1));
                r7 = r7.add(0x7FFF).add(r7.lanewise(VectorOperators.LSHR, 16).and(1));
                // Pack: on little-endian the even element is the low half of the int.
                IntVector lo0 = LITTLE ? r0 : r4;
                IntVector hi0 = LITTLE ? r4 : r0;
                IntVector lo1 = LITTLE ? r1 : r5;
                IntVector hi1 = LITTLE ? r5 : r1;
                IntVector lo2 = LITTLE ? r2 : r6;
                IntVector hi2 = LITTLE ? r6 : r2;
                IntVector lo3 = LITTLE ? r3 : r7;
                IntVector hi3 = LITTLE ? r7 : r3;
                long q = dstOff + 4L * p;
                lo0.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi0, HI_BITS).intoMemorySegment(dst, q, NATIVE);
                lo1.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi1, HI_BITS).intoMemorySegment(dst, q + 4L * a, NATIVE);
                lo2.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi2, HI_BITS).intoMemorySegment(dst, q + 4L * b, NATIVE);
                lo3.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi3, HI_BITS).intoMemorySegment(dst, q + 4L * (a + b), NATIVE);
              }
            }
        }

        /**
         * {@link #storeBf16} for {@link #touchesNext} plans: each iteration also reads one int of each
         * of the four lines at the offsets it stores to, but in the next batch ({@code nextOff} in
         * {@code source}, which must hold {@code 4 · half} bytes from there), so that those lines
         * arrive while this batch is stored (see "Touching the next row"). Kept apart from
         * {@link #storeBf16}: a branch on the plan in that loop cost the rows of 1024 and 256 3 %.
         */
        private void storeBf16Ahead(float[] buf, MemorySegment target, long targetOff, int half, MemorySegment source, long nextOff) {
            // Slices taken here, not the caller's segments: C2 then hoists the access checks (see "Segment access").
            MemorySegment dst = target.asSlice(targetOff, 4L * half);
            MemorySegment next = source.asSlice(nextOff, 4L * half);
            int touched = 0;
            long dstOff = 0;
            int a = storeA;
            int b = 2 * a;
            int c = ho;
            FloatVector sv = FloatVector.broadcast(F, scale);
            float[] ps = postScaled;
            for (int blk = 0; blk < half; blk += n / 2) {
              for (int p = blk; p < blk + a; p += V) {
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                if (ps == null) {
                    v0 = v0.mul(sv);
                    v1 = v1.mul(sv);
                    v2 = v2.mul(sv);
                    v3 = v3.mul(sv);
                    v4 = v4.mul(sv);
                    v5 = v5.mul(sv);
                    v6 = v6.mul(sv);
                    v7 = v7.mul(sv);
                } else {
                    v0 = v0.mul(FloatVector.fromArray(F, ps, p));
                    v1 = v1.mul(FloatVector.fromArray(F, ps, p + a));
                    v2 = v2.mul(FloatVector.fromArray(F, ps, p + b));
                    v3 = v3.mul(FloatVector.fromArray(F, ps, p + a + b));
                    v4 = v4.mul(FloatVector.fromArray(F, ps, p + c));
                    v5 = v5.mul(FloatVector.fromArray(F, ps, p + c + a));
                    v6 = v6.mul(FloatVector.fromArray(F, ps, p + c + b));
                    v7 = v7.mul(FloatVector.fromArray(F, ps, p + c + b + a));
                }
                // Round to nearest even: bits + 0x7FFF + lsb (no NaN test needed, see the class comment).
                IntVector r0 = v0.reinterpretAsInts();
                IntVector r1 = v1.reinterpretAsInts();
                IntVector r2 = v2.reinterpretAsInts();
                IntVector r3 = v3.reinterpretAsInts();
                IntVector r4 = v4.reinterpretAsInts();
                IntVector r5 = v5.reinterpretAsInts();
                IntVector r6 = v6.reinterpretAsInts();
                IntVector r7 = v7.reinterpretAsInts();
                r0 = r0.add(0x7FFF).add(r0.lanewise(VectorOperators.LSHR, 16).and(1));
                r1 = r1.add(0x7FFF).add(r1.lanewise(VectorOperators.LSHR, 16).and(1));
                r2 = r2.add(0x7FFF).add(r2.lanewise(VectorOperators.LSHR, 16).and(1));
                r3 = r3.add(0x7FFF).add(r3.lanewise(VectorOperators.LSHR, 16).and(1));
                r4 = r4.add(0x7FFF).add(r4.lanewise(VectorOperators.LSHR, 16).and(1));
                r5 = r5.add(0x7FFF).add(r5.lanewise(VectorOperators.LSHR, 16).and(1));
                r6 = r6.add(0x7FFF).add(r6.lanewise(VectorOperators.LSHR, 16).and(1));
                r7 = r7.add(0x7FFF).add(r7.lanewise(VectorOperators.LSHR, 16).and(1));
                // Pack: on little-endian the even element is the low half of the int.
                IntVector lo0 = LITTLE ? r0 : r4;
                IntVector hi0 = LITTLE ? r4 : r0;
                IntVector lo1 = LITTLE ? r1 : r5;
                IntVector hi1 = LITTLE ? r5 : r1;
                IntVector lo2 = LITTLE ? r2 : r6;
                IntVector hi2 = LITTLE ? r6 : r2;
                IntVector lo3 = LITTLE ? r3 : r7;
                IntVector hi3 = LITTLE ? r7 : r3;
                long q = dstOff + 4L * p;
                touched += next.get(ValueLayout.JAVA_INT_UNALIGNED, q) + next.get(ValueLayout.JAVA_INT_UNALIGNED, q + 4L * a)
                        + next.get(ValueLayout.JAVA_INT_UNALIGNED, q + 4L * b) + next.get(ValueLayout.JAVA_INT_UNALIGNED, q + 4L * (a + b));
                lo0.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi0, HI_BITS).intoMemorySegment(dst, q, NATIVE);
                lo1.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi1, HI_BITS).intoMemorySegment(dst, q + 4L * a, NATIVE);
                lo2.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi2, HI_BITS).intoMemorySegment(dst, q + 4L * b, NATIVE);
                lo3.lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, hi3, HI_BITS).intoMemorySegment(dst, q + 4L * (a + b), NATIVE);
              }
            }
            // The touched ints must be used, or C2 drops their loads: into the pad before mixOut, which nothing reads.
            buf[batchFloats] = Float.intBitsToFloat(touched);
        }

        // ---- MIX (m > 1): the m-point stage across blocks, into buf[mixOut, mixOut + batchFloats) (bf16: into the rows) ----
        //
        // Block a of row r and its output pair partner: natural layout, blocks n floats apart, pairs of
        // adjacent vectors; paired layout, half blocks n/2 apart, the odd half ho further.

        /**
         * {@code y[ao] = scale · Σ_a mix[ao][a] · z[a]} (⊙ post-signs), for each pair of column vectors.
         * Four outputs at a time (m ∈ {12, 20, 28} is a multiple of 4): each input vector loaded once
         * feeds eight independent FMA chains. One output at a time had two chains, so every FMA waited
         * on the previous one's latency; that ran 4–5× slower.
         *
         * <p>Paired layout (bf16): MIX also does what followed it, the pair-bit butterfly, the scale
         * (⊙ post-signs), rounding and packing, and stores into the rows at {@code targetOff}. MIX acts
         * alike on the even and odd halves of a block, so it commutes with their butterfly: MIX runs
         * on the halves as LOAD and MID left them ({@code Y_e}, {@code Y_o}), and {@code Y_e ± Y_o}
         * comes after, where the two halves of a chunk meet anyway. The natural layout writes the
         * scratch, and {@code target} is unused.
         */
        private void mix(float[] buf, int rows, MemorySegment target, long targetOff) {
            // bf16 writes the rows here. A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment dst = kind == KIND_BF16 ? target.asSlice(targetOff, 2L * rows * d) : null;
            long dstOff = 0;
            int k = mi;
            float[] h = mix;
            float[] ps = postScaled;
            boolean paired = kind == KIND_BF16;
            int bs = paired ? n / 2 : n;
            int po = paired ? ho : V;
            int step = paired ? V : 2 * V;
            int out = mixOut;
            FloatVector sv = FloatVector.broadcast(F, scale);
            for (int r = 0; r < rows; r++) {
                int rb = r * m * bs;
                for (int col = rb; col < rb + bs; col += step) {
                    for (int ao = 0; ao < k; ao += 4) {
                        FloatVector e0 = FloatVector.zero(F);
                        FloatVector e1 = FloatVector.zero(F);
                        FloatVector e2 = FloatVector.zero(F);
                        FloatVector e3 = FloatVector.zero(F);
                        FloatVector o0 = FloatVector.zero(F);
                        FloatVector o1 = FloatVector.zero(F);
                        FloatVector o2 = FloatVector.zero(F);
                        FloatVector o3 = FloatVector.zero(F);
                        int h0 = ao * k;
                        for (int a = 0; a < k; a++) {
                            int p = col + a * bs;
                            FloatVector ze = FloatVector.fromArray(F, buf, p);
                            FloatVector zo = FloatVector.fromArray(F, buf, p + po);
                            FloatVector s0 = FloatVector.broadcast(F, h[h0 + a]);
                            FloatVector s1 = FloatVector.broadcast(F, h[h0 + k + a]);
                            FloatVector s2 = FloatVector.broadcast(F, h[h0 + 2 * k + a]);
                            FloatVector s3 = FloatVector.broadcast(F, h[h0 + 3 * k + a]);
                            e0 = ze.fma(s0, e0);
                            o0 = zo.fma(s0, o0);
                            e1 = ze.fma(s1, e1);
                            o1 = zo.fma(s1, o1);
                            e2 = ze.fma(s2, e2);
                            o2 = zo.fma(s2, o2);
                            e3 = ze.fma(s3, e3);
                            o3 = zo.fma(s3, o3);
                        }
                        int q = col + ao * bs;
                        if (paired) {
                            // The pair butterfly, scale (⊙ post-signs), rounding and packing, written out: as a call
                            // (a helper taking the two sums) it was not inlined and boxed its vectors (4× slower).
                            FloatVector u0 = e0.add(o0);
                            FloatVector w0 = e0.sub(o0);
                            FloatVector u1 = e1.add(o1);
                            FloatVector w1 = e1.sub(o1);
                            FloatVector u2 = e2.add(o2);
                            FloatVector w2 = e2.sub(o2);
                            FloatVector u3 = e3.add(o3);
                            FloatVector w3 = e3.sub(o3);
                            if (ps == null) {
                                u0 = u0.mul(sv);
                                w0 = w0.mul(sv);
                                u1 = u1.mul(sv);
                                w1 = w1.mul(sv);
                                u2 = u2.mul(sv);
                                w2 = w2.mul(sv);
                                u3 = u3.mul(sv);
                                w3 = w3.mul(sv);
                            } else {
                                u0 = u0.mul(FloatVector.fromArray(F, ps, q));
                                w0 = w0.mul(FloatVector.fromArray(F, ps, q + ho));
                                u1 = u1.mul(FloatVector.fromArray(F, ps, q + bs));
                                w1 = w1.mul(FloatVector.fromArray(F, ps, q + bs + ho));
                                u2 = u2.mul(FloatVector.fromArray(F, ps, q + 2 * bs));
                                w2 = w2.mul(FloatVector.fromArray(F, ps, q + 2 * bs + ho));
                                u3 = u3.mul(FloatVector.fromArray(F, ps, q + 3 * bs));
                                w3 = w3.mul(FloatVector.fromArray(F, ps, q + 3 * bs + ho));
                            }
                            IntVector re0 = u0.reinterpretAsInts();
                            IntVector ro0 = w0.reinterpretAsInts();
                            re0 = re0.add(0x7FFF).add(re0.lanewise(VectorOperators.LSHR, 16).and(1));
                            ro0 = ro0.add(0x7FFF).add(ro0.lanewise(VectorOperators.LSHR, 16).and(1));
                            IntVector re1 = u1.reinterpretAsInts();
                            IntVector ro1 = w1.reinterpretAsInts();
                            re1 = re1.add(0x7FFF).add(re1.lanewise(VectorOperators.LSHR, 16).and(1));
                            ro1 = ro1.add(0x7FFF).add(ro1.lanewise(VectorOperators.LSHR, 16).and(1));
                            IntVector re2 = u2.reinterpretAsInts();
                            IntVector ro2 = w2.reinterpretAsInts();
                            re2 = re2.add(0x7FFF).add(re2.lanewise(VectorOperators.LSHR, 16).and(1));
                            ro2 = ro2.add(0x7FFF).add(ro2.lanewise(VectorOperators.LSHR, 16).and(1));
                            IntVector re3 = u3.reinterpretAsInts();
                            IntVector ro3 = w3.reinterpretAsInts();
                            re3 = re3.add(0x7FFF).add(re3.lanewise(VectorOperators.LSHR, 16).and(1));
                            ro3 = ro3.add(0x7FFF).add(ro3.lanewise(VectorOperators.LSHR, 16).and(1));
                            long at = dstOff + 4L * q;
                            (LITTLE ? re0 : ro0).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro0 : re0, HI_BITS)
                                    .intoMemorySegment(dst, at, NATIVE);
                            (LITTLE ? re1 : ro1).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro1 : re1, HI_BITS)
                                    .intoMemorySegment(dst, at + 4L * bs, NATIVE);
                            (LITTLE ? re2 : ro2).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro2 : re2, HI_BITS)
                                    .intoMemorySegment(dst, at + 8L * bs, NATIVE);
                            (LITTLE ? re3 : ro3).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro3 : re3, HI_BITS)
                                    .intoMemorySegment(dst, at + 12L * bs, NATIVE);
                            continue;
                        }
                        if (ps == null) {
                            e0.mul(sv).intoArray(buf, out + q);
                            o0.mul(sv).intoArray(buf, out + q + po);
                            e1.mul(sv).intoArray(buf, out + q + bs);
                            o1.mul(sv).intoArray(buf, out + q + bs + po);
                            e2.mul(sv).intoArray(buf, out + q + 2 * bs);
                            o2.mul(sv).intoArray(buf, out + q + 2 * bs + po);
                            e3.mul(sv).intoArray(buf, out + q + 3 * bs);
                            o3.mul(sv).intoArray(buf, out + q + 3 * bs + po);
                        } else {
                            e0.mul(FloatVector.fromArray(F, ps, q)).intoArray(buf, out + q);
                            o0.mul(FloatVector.fromArray(F, ps, q + po)).intoArray(buf, out + q + po);
                            e1.mul(FloatVector.fromArray(F, ps, q + bs)).intoArray(buf, out + q + bs);
                            o1.mul(FloatVector.fromArray(F, ps, q + bs + po)).intoArray(buf, out + q + bs + po);
                            e2.mul(FloatVector.fromArray(F, ps, q + 2 * bs)).intoArray(buf, out + q + 2 * bs);
                            o2.mul(FloatVector.fromArray(F, ps, q + 2 * bs + po)).intoArray(buf, out + q + 2 * bs + po);
                            e3.mul(FloatVector.fromArray(F, ps, q + 3 * bs)).intoArray(buf, out + q + 3 * bs);
                            o3.mul(FloatVector.fromArray(F, ps, q + 3 * bs + po)).intoArray(buf, out + q + 3 * bs + po);
                        }
                    }
                }
            }
        }

        /**
         * {@code H_40 = H_2 ⊗ H_20}: the 20-point stage on both halves, then one butterfly between them.
         * Two outputs of the 20-point stage at a time, so eight FMA chains run side by side (see
         * {@link #mix} for why). Natural layout: into the scratch's MIX output region (the paired
         * layout has {@link #mix40Bf16}).
         */
        private void mix40(float[] buf, int rows) {
            int k = mi;
            float[] h = mix;
            int bs = n;
            int po = V;
            int step = 2 * V;
            int half = k * bs;
            int out = mixOut;
            for (int r = 0; r < rows; r++) {
                int rb = r * m * bs;
                for (int col = rb; col < rb + bs; col += step) {
                    for (int ao = 0; ao < k; ao += 2) {
                        FloatVector e0 = FloatVector.zero(F);
                        FloatVector o0 = FloatVector.zero(F);
                        FloatVector e1 = FloatVector.zero(F);
                        FloatVector o1 = FloatVector.zero(F);
                        FloatVector f0 = FloatVector.zero(F);
                        FloatVector p0 = FloatVector.zero(F);
                        FloatVector f1 = FloatVector.zero(F);
                        FloatVector p1 = FloatVector.zero(F);
                        int h0 = ao * k;
                        for (int a = 0; a < k; a++) {
                            FloatVector s = FloatVector.broadcast(F, h[h0 + a]);
                            FloatVector t = FloatVector.broadcast(F, h[h0 + k + a]);
                            int p = col + a * bs;
                            FloatVector ze = FloatVector.fromArray(F, buf, p);
                            FloatVector zo = FloatVector.fromArray(F, buf, p + po);
                            FloatVector we = FloatVector.fromArray(F, buf, p + half);
                            FloatVector wo = FloatVector.fromArray(F, buf, p + half + po);
                            e0 = ze.fma(s, e0);
                            o0 = zo.fma(s, o0);
                            e1 = we.fma(s, e1);
                            o1 = wo.fma(s, o1);
                            f0 = ze.fma(t, f0);
                            p0 = zo.fma(t, p0);
                            f1 = we.fma(t, f1);
                            p1 = wo.fma(t, p1);
                        }
                        int q = col + ao * bs;
                        emit40(buf, out, q, po, half, e0, o0, e1, o1);
                        emit40(buf, out, q + bs, po, half, f0, p0, f1, p1);
                    }
                }
            }
        }

        /**
         * {@link #mix40} in the paired layout (bf16): the pair butterfly, scale, rounding and packing
         * fused in, into the rows, as {@link #mix} says. A method of its own, not a branch of
         * {@link #mix40}: with both in one method, a JVM that had run one dtype recompiled it when
         * the other came, and the recompiled code ran 4–5× slower (d = 20480, 2^24 elements in
         * place, one thread, Zen 4: bf16 after fp32 92.7 ms against 22.3 when first; fp32 after bf16
         * 115.7 against 22.9), possibly with {@link #emit40} no longer inlined and its vectors boxed.
         */
        private void mix40Bf16(float[] buf, int rows, MemorySegment target, long targetOff) {
            // A slice taken here, not the caller's segment: C2 then hoists the access checks (see "Segment access").
            MemorySegment dst = target.asSlice(targetOff, 2L * rows * d);
            long dstOff = 0;
            int k = mi;
            float[] h = mix;
            float[] ps = postScaled;
            int bs = n / 2;
            int po = ho;
            int step = V;
            int half = k * bs;
            FloatVector sv = FloatVector.broadcast(F, scale);
            for (int r = 0; r < rows; r++) {
                int rb = r * m * bs;
                for (int col = rb; col < rb + bs; col += step) {
                    for (int ao = 0; ao < k; ao += 2) {
                        FloatVector e0 = FloatVector.zero(F);
                        FloatVector o0 = FloatVector.zero(F);
                        FloatVector e1 = FloatVector.zero(F);
                        FloatVector o1 = FloatVector.zero(F);
                        FloatVector f0 = FloatVector.zero(F);
                        FloatVector p0 = FloatVector.zero(F);
                        FloatVector f1 = FloatVector.zero(F);
                        FloatVector p1 = FloatVector.zero(F);
                        int h0 = ao * k;
                        for (int a = 0; a < k; a++) {
                            FloatVector s = FloatVector.broadcast(F, h[h0 + a]);
                            FloatVector t = FloatVector.broadcast(F, h[h0 + k + a]);
                            int p = col + a * bs;
                            FloatVector ze = FloatVector.fromArray(F, buf, p);
                            FloatVector zo = FloatVector.fromArray(F, buf, p + po);
                            FloatVector we = FloatVector.fromArray(F, buf, p + half);
                            FloatVector wo = FloatVector.fromArray(F, buf, p + half + po);
                            e0 = ze.fma(s, e0);
                            o0 = zo.fma(s, o0);
                            e1 = we.fma(s, e1);
                            o1 = wo.fma(s, o1);
                            f0 = ze.fma(t, f0);
                            p0 = zo.fma(t, p0);
                            f1 = we.fma(t, f1);
                            p1 = wo.fma(t, p1);
                        }
                        int q = col + ao * bs;
                        // H_2 across the halves (blocks ao, ao + 20; ao + 1, ao + 21), then the pair butterfly,
                        // scale (⊙ post-signs), rounding and packing, written out as in mix.
                        FloatVector ye0 = e0.add(e1);
                        FloatVector yo0 = o0.add(o1);
                        FloatVector ye1 = e0.sub(e1);
                        FloatVector yo1 = o0.sub(o1);
                        FloatVector ye2 = f0.add(f1);
                        FloatVector yo2 = p0.add(p1);
                        FloatVector ye3 = f0.sub(f1);
                        FloatVector yo3 = p0.sub(p1);
                        FloatVector u0 = ye0.add(yo0);
                        FloatVector w0 = ye0.sub(yo0);
                        FloatVector u1 = ye1.add(yo1);
                        FloatVector w1 = ye1.sub(yo1);
                        FloatVector u2 = ye2.add(yo2);
                        FloatVector w2 = ye2.sub(yo2);
                        FloatVector u3 = ye3.add(yo3);
                        FloatVector w3 = ye3.sub(yo3);
                        if (ps == null) {
                            u0 = u0.mul(sv);
                            w0 = w0.mul(sv);
                            u1 = u1.mul(sv);
                            w1 = w1.mul(sv);
                            u2 = u2.mul(sv);
                            w2 = w2.mul(sv);
                            u3 = u3.mul(sv);
                            w3 = w3.mul(sv);
                        } else {
                            u0 = u0.mul(FloatVector.fromArray(F, ps, q));
                            w0 = w0.mul(FloatVector.fromArray(F, ps, q + ho));
                            u1 = u1.mul(FloatVector.fromArray(F, ps, q + half));
                            w1 = w1.mul(FloatVector.fromArray(F, ps, q + half + ho));
                            u2 = u2.mul(FloatVector.fromArray(F, ps, q + bs));
                            w2 = w2.mul(FloatVector.fromArray(F, ps, q + bs + ho));
                            u3 = u3.mul(FloatVector.fromArray(F, ps, q + bs + half));
                            w3 = w3.mul(FloatVector.fromArray(F, ps, q + bs + half + ho));
                        }
                        IntVector re0 = u0.reinterpretAsInts();
                        IntVector ro0 = w0.reinterpretAsInts();
                        re0 = re0.add(0x7FFF).add(re0.lanewise(VectorOperators.LSHR, 16).and(1));
                        ro0 = ro0.add(0x7FFF).add(ro0.lanewise(VectorOperators.LSHR, 16).and(1));
                        IntVector re1 = u1.reinterpretAsInts();
                        IntVector ro1 = w1.reinterpretAsInts();
                        re1 = re1.add(0x7FFF).add(re1.lanewise(VectorOperators.LSHR, 16).and(1));
                        ro1 = ro1.add(0x7FFF).add(ro1.lanewise(VectorOperators.LSHR, 16).and(1));
                        IntVector re2 = u2.reinterpretAsInts();
                        IntVector ro2 = w2.reinterpretAsInts();
                        re2 = re2.add(0x7FFF).add(re2.lanewise(VectorOperators.LSHR, 16).and(1));
                        ro2 = ro2.add(0x7FFF).add(ro2.lanewise(VectorOperators.LSHR, 16).and(1));
                        IntVector re3 = u3.reinterpretAsInts();
                        IntVector ro3 = w3.reinterpretAsInts();
                        re3 = re3.add(0x7FFF).add(re3.lanewise(VectorOperators.LSHR, 16).and(1));
                        ro3 = ro3.add(0x7FFF).add(ro3.lanewise(VectorOperators.LSHR, 16).and(1));
                        (LITTLE ? re0 : ro0).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro0 : re0, HI_BITS)
                                .intoMemorySegment(dst, dstOff + 4L * (q), NATIVE);
                        (LITTLE ? re1 : ro1).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro1 : re1, HI_BITS)
                                .intoMemorySegment(dst, dstOff + 4L * (q + half), NATIVE);
                        (LITTLE ? re2 : ro2).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro2 : re2, HI_BITS)
                                .intoMemorySegment(dst, dstOff + 4L * (q + bs), NATIVE);
                        (LITTLE ? re3 : ro3).lanewise(VectorOperators.LSHR, 16).lanewise(VectorOperators.BITWISE_BLEND, LITTLE ? ro3 : re3, HI_BITS)
                                .intoMemorySegment(dst, dstOff + 4L * (q + bs + half), NATIVE);
                    }
                }
            }
        }

        /** The H_2 butterfly of one mix40 output pair and its store, scaled (⊙ post-signs). Small enough to inline. */
        private void emit40(float[] buf, int out, int q, int po, int half, FloatVector e0, FloatVector o0,
                            FloatVector e1, FloatVector o1) {
            FloatVector ye0 = e0.add(e1);
            FloatVector yo0 = o0.add(o1);
            FloatVector ye1 = e0.sub(e1);
            FloatVector yo1 = o0.sub(o1);
            float[] ps = postScaled;
            if (ps == null) {
                FloatVector sv = FloatVector.broadcast(F, scale);
                ye0 = ye0.mul(sv);
                yo0 = yo0.mul(sv);
                ye1 = ye1.mul(sv);
                yo1 = yo1.mul(sv);
            } else {
                ye0 = ye0.mul(FloatVector.fromArray(F, ps, q));
                yo0 = yo0.mul(FloatVector.fromArray(F, ps, q + po));
                ye1 = ye1.mul(FloatVector.fromArray(F, ps, q + half));
                yo1 = yo1.mul(FloatVector.fromArray(F, ps, q + half + po));
            }
            ye0.intoArray(buf, out + q);
            yo0.intoArray(buf, out + q + po);
            ye1.intoArray(buf, out + q + half);
            yo1.intoArray(buf, out + q + half + po);
        }



        // ---- scalar conversions and the scalar path ----

        /** One row widened into {@code buf[at, at + d)}, natural layout, no signs yet. */
        private void widen(MemorySegment src, long srcOff, float[] buf, int at) {
            switch (dtype) {
                case FP32 -> MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED, srcOff, buf, at, d);
                case BF16 -> {
                    int i = 0;
                    if (vectorIo) {
                        // bf16 → fp32 exactly: the 16 bits into the high half (vpmovsxwd, vpslld).
                        for (; i + V <= d; i += V) {
                            ((IntVector) ShortVector.fromMemorySegment(S, src, srcOff + 2L * i, NATIVE)
                                    .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16)
                                    .reinterpretAsFloats().intoArray(buf, at + i);
                        }
                    }
                    for (; i < d; i++) {
                        buf[at + i] = Bf16.toFloat(src.get(ValueLayout.JAVA_SHORT_UNALIGNED, srcOff + 2L * i));
                    }
                }
                default -> {
                    for (int i = 0; i < d; i++) {
                        buf[at + i] = Fp16.toFloat(src.get(ValueLayout.JAVA_SHORT_UNALIGNED, srcOff + 2L * i));
                    }
                }
            }
        }

        /** {@code buf[from, from + d)}, times scale (⊙ post-signs) when {@code scaled}, rounded once into the row. */
        private void narrow(float[] buf, int from, MemorySegment dst, long dstOff, boolean scaled) {
            if (dtype == DType.BF16 && vectorIo) {
                // Scale, round to nearest even as in the store passes (see the class comment), narrow (vpmovdw).
                int p = from % batchFloats;
                int i = 0;
                for (; i + V <= d; i += V) {
                    FloatVector v = FloatVector.fromArray(F, buf, from + i);
                    if (scaled) {
                        v = postScaled == null ? v.mul(scale) : v.mul(FloatVector.fromArray(F, postScaled, p + i));
                    }
                    IntVector b = v.reinterpretAsInts();
                    b = b.add(b.lanewise(VectorOperators.LSHR, 16).and(1).add(0x7FFF)).lanewise(VectorOperators.LSHR, 16);
                    b.convertShape(VectorOperators.I2S, S, 0).intoMemorySegment(dst, dstOff + 2L * i, NATIVE);
                }
                for (; i < d; i++) {
                    float x = scaled ? buf[from + i] * (postScaled == null ? scale : postScaled[p + i]) : buf[from + i];
                    dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Bf16.fromFloat(x));
                }
                return;
            }
            if (scaled) {
                for (int i = 0; i < d; i++) {
                    buf[from + i] *= postScaled == null ? scale : postScaled[from % batchFloats + i];
                }
            }
            switch (dtype) {
                case FP32 -> MemorySegment.copy(buf, from, dst, ValueLayout.JAVA_FLOAT_UNALIGNED, dstOff, d);
                case BF16 -> {
                    for (int i = 0; i < d; i++) {
                        dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Bf16.fromFloat(buf[from + i]));
                    }
                }
                default -> {
                    for (int i = 0; i < d; i++) {
                        dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Fp16.fromFloat(buf[from + i]));
                    }
                }
            }
        }

        /** Small sizes (n < 2V): the whole transform in scalar fp32 on {@code buf[0, d)}. */
        private void scalarRow(float[] buf) {
            if (preNatural != null) {
                for (int i = 0; i < d; i++) {
                    buf[i] *= preNatural[i];
                }
            }
            for (int a = 0; a < m; a++) {
                for (int h = 1; h < n; h *= 2) {
                    for (int i = a * n; i < (a + 1) * n; i += 2 * h) {
                        for (int j = i; j < i + h; j++) {
                            float x = buf[j];
                            float y = buf[j + h];
                            buf[j] = x + y;
                            buf[j + h] = x - y;
                        }
                    }
                }
            }
            if (m > 1) {
                for (int ao = 0; ao < m; ao++) {
                    for (int b = 0; b < n; b++) {
                        float s = 0;
                        for (int a = 0; a < m; a++) {
                            s += mixFull[ao * m + a] * buf[a * n + b];
                        }
                        buf[d + ao * n + b] = s;
                    }
                }
                System.arraycopy(buf, d, buf, 0, d);
            }
            for (int i = 0; i < d; i++) {
                buf[i] *= postNatural == null ? scale : scale * postNatural[i];
            }
        }
    }
}
