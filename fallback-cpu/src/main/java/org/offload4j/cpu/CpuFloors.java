package org.offload4j.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.core.Floors;

/**
 * The CPU's ceilings, all split over the backend's threads (the same pool the kernels use, so
 * each ceiling is what they could reach):
 * <ul>
 *   <li><b>copy</b>: a 256 MiB {@code MemorySegment.copy} (the JDK's memcpy);</li>
 *   <li><b>in place</b>: {@code x = −x} over 256 MiB with the Vector API, one load and one store
 *       of the same line: the ceiling of an in-place transform such as the Hadamard (a copy may
 *       use non-temporal stores and skip the read-for-ownership of its destination; an in-place
 *       pass reads each line anyway, so it moves the same bytes at a different rate);</li>
 *   <li><b>FMA peak</b>: {@link #fmaPeak()}, independent register FMAs, no memory;</li>
 *   <li><b>matmul</b>: the backend's own whole-matrix fp32 GEMM, {@link Brgemm#gemm}, at 1024³.</li>
 * </ul>
 */
final class CpuFloors implements Floors {
    /** A constant species: the Vector API intrinsics need it to compile to vector instructions. */
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    static final long COPY_BYTES = 256L << 20;
    private static final int COPY_WARMUPS = 3;
    private static final int COPY_RUNS = 9;

    @Override
    public double copyBytesPerSecond() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = arena.allocate(COPY_BYTES, 64);
            MemorySegment dst = arena.allocate(COPY_BYTES, 64);
            src.fill((byte) 0x5A); // touch every page first: never time page faults or the zero page
            dst.fill((byte) 0x00);
            long chunks = CpuThreads.threads() * 4L;
            long chunk = (COPY_BYTES / chunks) & ~63L;
            CpuThreads.RangeBody copy = (from, to) -> {
                for (long c = from; c < to; c++) {
                    long off = c * chunk;
                    long len = c == chunks - 1 ? COPY_BYTES - off : chunk;
                    MemorySegment.copy(src, off, dst, off, len);
                }
            };
            for (int i = 0; i < COPY_WARMUPS; i++) {
                CpuThreads.forRange(chunks, 1, copy);
            }
            long[] nanos = new long[COPY_RUNS];
            for (int i = 0; i < COPY_RUNS; i++) {
                long t0 = System.nanoTime();
                CpuThreads.forRange(chunks, 1, copy);
                nanos[i] = System.nanoTime() - t0;
            }
            Arrays.sort(nanos);
            return 2.0 * COPY_BYTES / (nanos[COPY_RUNS / 2] * 1e-9);
        }
    }

    @Override
    public double inPlaceBytesPerSecond() {
        int vb = F.vectorByteSize();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(COPY_BYTES, 64);
            // 1.0f everywhere: negation only flips the sign, values stay normal on every pass.
            x.fill((byte) 0);
            for (long o = 0; o < COPY_BYTES; o += 4) {
                x.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, o, 1f);
            }
            long chunks = CpuThreads.threads() * 4L;
            long chunk = (COPY_BYTES / chunks) & ~(long) (4 * vb - 1);
            CpuThreads.RangeBody negate = (from, to) -> {
                for (long c = from; c < to; c++) {
                    long off = c * chunk;
                    long end = c == chunks - 1 ? COPY_BYTES : off + chunk;
                    negateRange(x, off, end);
                }
            };
            for (int i = 0; i < COPY_WARMUPS; i++) {
                CpuThreads.forRange(chunks, 1, negate);
            }
            long[] nanos = new long[COPY_RUNS];
            for (int i = 0; i < COPY_RUNS; i++) {
                long t0 = System.nanoTime();
                CpuThreads.forRange(chunks, 1, negate);
                nanos[i] = System.nanoTime() - t0;
            }
            Arrays.sort(nanos);
            return 2.0 * COPY_BYTES / (nanos[COPY_RUNS / 2] * 1e-9);
        }
    }

    /** {@code x = −x} on bytes {@code [from, to)}, four vectors per step (a multiple of 4 vectors long). */
    private static void negateRange(MemorySegment x, long from, long to) {
        int vb = F.vectorByteSize();
        ByteOrder le = ByteOrder.nativeOrder();
        for (long o = from; o < to; o += 4L * vb) {
            FloatVector.fromMemorySegment(F, x, o, le).neg().intoMemorySegment(x, o, le);
            FloatVector.fromMemorySegment(F, x, o + vb, le).neg().intoMemorySegment(x, o + vb, le);
            FloatVector.fromMemorySegment(F, x, o + 2L * vb, le).neg().intoMemorySegment(x, o + 2L * vb, le);
            FloatVector.fromMemorySegment(F, x, o + 3L * vb, le).neg().intoMemorySegment(x, o + 3L * vb, le);
        }
    }

    @Override
    public double fmaPeakFlopsPerSecond() {
        return fmaPeak();
    }

    /** Iterations of {@link #fmaLoop} per chunk: 12 FMAs each, about 10 ms per chunk at 100 GFLOP/s per thread. */
    private static final int FMA_ITERATIONS = 1 << 21;

    /**
     * The peak fp32 FMA rate of all {@link CpuThreads} together: each thread runs {@link #fmaLoop}
     * (12 independent accumulator chains, operands in registers), 4 chunks per thread claimed
     * from the pool, median of 7 after 3 warm-ups. Twelve chains cover FMA latency × FMA pipes on
     * every current x86 core (4 cycles × 2 pipes = 8 on Zen 4/5 and Intel since Skylake) and fit
     * the 16 registers of AVX2 with the two operands.
     */
    static double fmaPeak() {
        // Compile the loop first (short calls, so C2 compiles the method itself, not an OSR copy).
        float warm = 0;
        for (int i = 0; i < 20_000; i++) {
            warm += fmaLoop(64);
        }
        long chunks = CpuThreads.threads() * 4L;
        float[] sink = new float[(int) chunks];
        CpuThreads.RangeBody body = (from, to) -> {
            for (long c = from; c < to; c++) {
                sink[(int) c] += fmaLoop(FMA_ITERATIONS);
            }
        };
        for (int i = 0; i < COPY_WARMUPS; i++) {
            CpuThreads.forRange(chunks, 1, body);
        }
        long[] nanos = new long[7];
        for (int i = 0; i < nanos.length; i++) {
            long t0 = System.nanoTime();
            CpuThreads.forRange(chunks, 1, body);
            nanos[i] = System.nanoTime() - t0;
        }
        Arrays.sort(nanos);
        if (Float.isNaN(sink[0] + warm)) {
            throw new AssertionError("unreachable: keeps the loop's result alive");
        }
        return chunks * (double) FMA_ITERATIONS * 12 * 2 * F.length() / (nanos[nanos.length / 2] * 1e-9);
    }

    /**
     * 12 independent chains {@code acc = m · c + acc}: the accumulator is the addend, as in every
     * GEMM tile ({@code b.fma(a, acc)}), and grows by m · c ≈ 0.001 per step, far from overflow.
     * Chained through the multiplicand instead ({@code acc = acc · m + c}), the probe read 60–65
     * GFLOP/s in the bench at AVX2 width on Zen 5, below the ~80 that {@code Brgemm.gemm} reached
     * there, so "% of the FMA peak" read over 100 %; a standalone loop gave 86–96 GFLOP/s for that
     * form (66–69 with 8 chains) against 98–113 for this one. With AVX-512 both forms gave
     * 207–228 GFLOP/s.
     */
    static float fmaLoop(int iterations) {
        FloatVector m = FloatVector.broadcast(F, 0.999f);
        FloatVector c = FloatVector.broadcast(F, 0.001f);
        FloatVector a0 = FloatVector.broadcast(F, 0.1f);
        FloatVector a1 = FloatVector.broadcast(F, 0.2f);
        FloatVector a2 = FloatVector.broadcast(F, 0.3f);
        FloatVector a3 = FloatVector.broadcast(F, 0.4f);
        FloatVector a4 = FloatVector.broadcast(F, 0.5f);
        FloatVector a5 = FloatVector.broadcast(F, 0.6f);
        FloatVector a6 = FloatVector.broadcast(F, 0.7f);
        FloatVector a7 = FloatVector.broadcast(F, 0.8f);
        FloatVector a8 = FloatVector.broadcast(F, 0.9f);
        FloatVector a9 = FloatVector.broadcast(F, 1.0f);
        FloatVector a10 = FloatVector.broadcast(F, 1.1f);
        FloatVector a11 = FloatVector.broadcast(F, 1.2f);
        for (int i = 0; i < iterations; i++) {
            a0 = m.fma(c, a0);
            a1 = m.fma(c, a1);
            a2 = m.fma(c, a2);
            a3 = m.fma(c, a3);
            a4 = m.fma(c, a4);
            a5 = m.fma(c, a5);
            a6 = m.fma(c, a6);
            a7 = m.fma(c, a7);
            a8 = m.fma(c, a8);
            a9 = m.fma(c, a9);
            a10 = m.fma(c, a10);
            a11 = m.fma(c, a11);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    @Override
    public double matmulFlopsPerSecond() {
        // 40 warm-ups: with 3, the 2-thread ceiling came out anywhere between 108 and 203 GFLOP/s
        // (C2 not done with the tiles yet); with 40, three runs gave 203–205.
        return Brgemm.gemmFlopsPerSecond(1024, 40, 7);
    }

    @Override
    public String method() {
        return "copy: 256 MiB MemorySegment.copy on " + CpuThreads.threads() + " threads, median of " + COPY_RUNS
                + "; in place: x = -x over 256 MiB, Vector API, same threads, median of " + COPY_RUNS
                + "; FMA peak: 12 independent " + CpuBackend.FLOATS.length() + "-lane FMA chains per thread, median of 7"
                + "; matmul: Brgemm.gemm fp32 1024³, median of 7 after 40 warm-up runs";
    }
}
