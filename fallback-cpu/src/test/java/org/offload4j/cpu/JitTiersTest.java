package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;

/**
 * The CPU kernels give the same bits in every JIT tier. A child JVM started with {@code -Xint}
 * runs every Vector API operation through its Java fallback, the code C2 replaces; it computes the
 * same lane sums and decode steps as this JVM after C2 has compiled them, and the two must agree
 * bit for bit. (With {@code reduceLanes(ADD)} they did not: see {@link LaneSums}.)
 *
 * <p>The decode steps are those whose kernels sum lanes: G = 4 (the fused 4-row QKᵀ, with 16-float
 * vectors its fold), G = 8 (the fused 8-row QKᵀ with 8- or 4-float vectors) and G = 3 (an aliased
 * row); every one ends in the online softmax's row sums. Then W4A16 (GEMV and GEMM, both from
 * the activations' group sums) and the Hadamard transform (d = 2^k and 12·2^k).
 */
class JitTiersTest {
    /**
     * Repeats in this JVM before comparing: C2 compiles the kernels' loops within some tens of
     * calls. Without FMA instructions (the SSE test run, -XX:UseAVX=0) every vector FMA runs its
     * Java fallback even in C2's code, 0.5 s a call, so the repeats also stop after WARM_NANOS.
     */
    private static final int WARM_CALLS = 200;
    private static final long WARM_NANOS = TimeUnit.SECONDS.toNanos(20);
    private static final int CHILD_TIMEOUT_SECONDS = 300;

    @Test
    void anInterpretedJvmComputesTheBitsOfACompiledOne() throws IOException, InterruptedException {
        long seed = AttentionInputs.seed();
        List<String> compiled = results(seed);
        long start = System.nanoTime();
        for (int i = 1; i < WARM_CALLS && System.nanoTime() - start < WARM_NANOS; i++) {
            assertEquals(compiled, results(seed), "call " + i + " of the same inputs in this JVM, seed " + seed);
        }
        List<String> interpreted = runInterpreted(seed);
        assertEquals(compiled.size(), interpreted.size(), "lines from the -Xint JVM, seed " + seed + ": " + interpreted);
        for (int i = 0; i < compiled.size(); i++) {
            assertEquals(compiled.get(i), interpreted.get(i), "line " + i + " (compiled, then interpreted), seed " + seed
                    + " (rerun with -Doffload.test.seed=" + seed + ")");
        }
    }

    /** The child JVM's entry: prints {@link #results} of the seed in {@code args[0]}, one per line. */
    public static void main(String[] args) {
        results(Long.parseLong(args[0])).forEach(System.out::println);
    }

    /** Lane sums, then each decode step's out and lse, as lines of hex bits. */
    static List<String> results(long seed) {
        List<String> lines = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(seed);
        float[] lanes = new float[CpuBackend.FLOATS.length()];
        for (int i = 0; i < 64; i++) {
            for (int j = 0; j < lanes.length; j++) {
                lanes[j] = (float) Math.scalb(random.nextDouble(-1, 1), random.nextInt(-20, 21));
            }
            lines.add("sum " + i + ": " + Integer.toHexString(Float.floatToRawIntBits(LaneSums.sum(lanes, 0))));
        }
        int[][] cases = {{8, 2, 130, 128}, {16, 2, 70, 128}, {3, 1, 65, 64}}; // Hq, Hkv, Skv, D
        for (int[] c : cases) {
            lines.addAll(decodeStep(seed, c[0], c[1], c[2], c[3]));
        }
        // W4A16: the GEMV path (m ≤ 12) and the GEMM one, both from the activations' group sums.
        lines.add(bits("w4a16 m=1", w4a16(seed, 1, 256, 64)));
        lines.add(bits("w4a16 m=13", w4a16(seed, 13, 128, 40)));
        for (int d : new int[] {128, 12 * 16}) {
            lines.add(bits("hadamard d=" + d, hadamard(seed, 3, d)));
        }
        return lines;
    }

    private static Tensor w4a16(long seed, int m, int k, int n) {
        W4A16 op = W4A16.create(CpuBackend.create());
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, 32, false, DType.FP16);
             W4A16.Prepared prepared = op.prepare(w);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, k), seed + 1, 1.0)) {
            Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, n));
            op.matmul(x, prepared, null, y);
            return y;
        }
    }

    private static Tensor hadamard(long seed, int rows, int d) {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, rows, d), seed, 1.0)) {
            Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, rows, d));
            Hadamard.create(CpuBackend.create()).transform(x, y);
            return y;
        }
    }

    /** A tensor's elements as float bits in hex, after {@code name}; closes the tensor. */
    private static String bits(String name, Tensor t) {
        try (t) {
            StringBuilder line = new StringBuilder(name).append(':');
            for (double v : t.toDoubleArray()) {
                line.append(' ').append(Integer.toHexString(Float.floatToRawIntBits((float) v)));
            }
            return line.toString();
        }
    }

    private static List<String> decodeStep(long seed, int hq, int hkv, int skv, int d) {
        String name = "Hq=" + hq + " Hkv=" + hkv + " Skv=" + skv + " D=" + d;
        ScaleGranularity g = ScaleGranularity.PER_HEAD;
        try (Fp8Tensor q = AttentionInputs.fp8(seed, g, 1, hq, 1, d);
             Fp8Tensor k = AttentionInputs.fp8(seed + 1, g, 1, hkv, skv, d);
             Fp8Tensor v = AttentionInputs.fp8(seed + 2, g, 1, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, 1, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, 1))) {
            Attention.create(CpuBackend.create()).forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
            List<String> lines = new ArrayList<>();
            for (int h = 0; h < hq; h++) {
                StringBuilder line = new StringBuilder(name).append(" head ").append(h).append(": lse ")
                        .append(Integer.toHexString(Float.floatToRawIntBits(lse.getFloat(h, 0)))).append(", out");
                for (int c = 0; c < d; c++) {
                    line.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(out.getFloat(h, c))));
                }
                lines.add(line.toString());
            }
            return lines;
        }
    }

    /** {@link #main} in a JVM with this one's vector flags and {@code -Xint}. */
    private static List<String> runInterpreted(long seed) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // The vector width (-XX:UseAVX) must match, or the child sums lanes of another species.
            if (arg.startsWith("-XX:UseAVX") || arg.startsWith("--add-modules") || arg.startsWith("--enable-native-access")
                    || arg.startsWith("-XX:MaxVectorSize")) {
                command.add(arg);
            }
        }
        command.addAll(List.of("-Xint", "-cp", System.getProperty("java.class.path"), JitTiersTest.class.getName(), Long.toString(seed)));
        Path log = Files.createTempFile("offload-jit-tiers", ".txt");
        try {
            Process child = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!child.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                child.destroyForcibly();
                fail("the -Xint JVM did not end in " + CHILD_TIMEOUT_SECONDS + " s: " + command);
            }
            String text = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(0, child.exitValue(), "the -Xint JVM failed: " + command + "\n" + text);
            // The JVM's own warning (incubator module) comes on the merged stream.
            return text.lines().filter(l -> !l.startsWith("WARNING")).toList();
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
