package org.offload4j.bench.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.offload4j.cpu.Brgemm;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU backend's batch-reduce GEMM ({@link Brgemm}):
 * <ul>
 *   <li>{@code microKernel}: one call, one thread, everything in L1/L2: {@code C[96 × 64] +=
 *       Σ_{i<4} A_i[96 × 64] · B_i[64 × 64]}, 1.57 MFLOP; the register tiles' own rate (divide
 *       2·96·64·256 by the time);</li>
 *   <li>{@code gemm}: whole {@code size³} products, fp32 or bf16 inputs, on the backend's threads
 *       ({@code -Doffload.cpu.threads=N} in {@code -jvmArgsAppend}).</li>
 * </ul>
 * Compare with the FMA peak printed by {@code offload bench --backend cpu}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class BrgemmJmh {
    private static final int TM = 96;
    private static final int TN = 64;
    private static final int TK = 64;
    private static final int BATCH = 4;

    @Param({"512", "1024"})
    int size;

    @Param({"fp32", "bf16"})
    String dtype;

    private float[] a;
    private float[] b;
    private float[] c;
    private short[] ah;
    private short[] bh;
    private float[] ta;
    private float[] tb;
    private float[] tc;
    private final int[] aOff = new int[BATCH];
    private final int[] bOff = new int[BATCH];

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom rnd = new SplittableRandom(5);
        a = gaussian(rnd, size * size);
        b = gaussian(rnd, size * size);
        c = new float[size * size];
        ah = bf16(a);
        bh = bf16(b);
        ta = gaussian(rnd, BATCH * TM * TK);
        tb = gaussian(rnd, BATCH * TK * TN);
        tc = new float[TM * TN];
        for (int i = 0; i < BATCH; i++) {
            aOff[i] = i * TK;          // A_i: a k-slice of one 96 × 256 matrix
            bOff[i] = i * TK * TN;     // B_i: consecutive 64 × 64 panels
        }
    }

    @Benchmark
    public float[] gemm() {
        if (dtype.equals("bf16")) {
            Brgemm.gemmBf16(size, size, size, ah, bh, c);
        } else {
            Brgemm.gemm(size, size, size, a, b, c);
        }
        return c;
    }

    @Benchmark
    public float[] microKernel() {
        Brgemm.fp32(TM, TN, TK, BATCH, ta, aOff, BATCH * TK, tb, bOff, TN, tc, 0, TN, true);
        return tc;
    }

    private static float[] gaussian(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian() * 0.01f;
        }
        return x;
    }

    private static short[] bf16(float[] x) {
        short[] s = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            s[i] = (short) (Float.floatToRawIntBits(x[i]) >>> 16);
        }
        return s;
    }
}
