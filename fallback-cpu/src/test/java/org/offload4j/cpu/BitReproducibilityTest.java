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
 * The CPU kernels' bits depend neither on the JIT tier that runs them nor on the number of
 * threads that split them. A child JVM started with {@code -Xint} and one thread runs every Vector
 * API operation through its Java fallback, the code C2 replaces, and every task in sequence; it
 * computes the same lane sums and op calls as this JVM after C2 has compiled them (on this
 * machine's core count), and the two must agree bit for bit. (With {@code reduceLanes(ADD)} the
 * decode steps did not: see {@link LaneSums}.)
 *
 * <p>The attention calls are those whose kernels sum lanes: decode steps with G = 4 (the fused
 * 4-row QKᵀ, with 16-float vectors its fold), G = 8 (the fused 8-row QKᵀ with 8- or 4-float
 * vectors) and G = 3 (an aliased row), and 18 query positions at G = 4, whose last 8 rows take the
 * fused 8-row QKᵀ with 16-float vectors too; every one ends in the online softmax's row sums. Then W4A16 (GEMV and GEMM, both from
 * the activations' group sums), the Hadamard transform (d = 2^k and 12·2^k) and an MoE layer.
 */
class BitReproducibilityTest {
    /**
     * Repeats in this JVM: each call must give the first one's bits while the JIT compiles under
     * it. Without FMA instructions (the SSE test run, -XX:UseAVX=0) every vector FMA runs its
     * Java fallback even in C2's code, a fraction of a second a call, so the repeats also stop
     * after WARM_NANOS.
     */
    private static final int WARM_CALLS = 100;
    private static final long WARM_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** Calls in the C2-only child, where C2 compiles a method after about 100 calls or 140 loop back-edges. */
    private static final int C2_CALLS = 4;
    private static final int CHILD_TIMEOUT_SECONDS = 300;
    /** What starts a result line of a child, so that JVM notices on its stdout are not compared. */
    private static final String RESULT = "R ";

    @Test
    void interpretedOneThreadedAndCompiledJvmsComputeTheSameBits() throws IOException, InterruptedException {
        long seed = AttentionInputs.seed();
        String rerun = ", seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
        // Every method in the Java fallbacks, every task in sequence: the bits everything else must
        // give. Started first: it runs on one thread beside this JVM's repeats.
        try (Child interpreted = Child.start(seed, 1, "-Xint", "-Doffload.cpu.threads=1")) {
            List<String> here = results(seed);
            long start = System.nanoTime();
            for (int i = 1; i < WARM_CALLS && System.nanoTime() - start < WARM_NANOS; i++) {
                assertSameLines(here, results(seed), "call " + i + " against call 0 in this JVM" + rerun);
            }
            List<String> reference = interpreted.results();
            assertSameLines(reference, here, "this JVM (tiered, " + CpuThreads.threads() + " threads) against -Xint on one thread" + rerun);
            // C2 alone, compiling early: its code certainly ran there, whatever this JVM's JIT got to.
            try (Child c2 = Child.start(seed, C2_CALLS, "-XX:-TieredCompilation", "-XX:CompileThreshold=100", "-Xbatch")) {
                assertSameLines(reference, c2.results(), "C2 only against -Xint on one thread" + rerun);
            }
        }
    }

    private static void assertSameLines(List<String> want, List<String> got, String what) {
        assertEquals(want.size(), got.size(), "lines, " + what);
        for (int i = 0; i < want.size(); i++) {
            // Line by line: a whole-list message would print some 100 KB.
            assertEquals(want.get(i), got.get(i), "line " + i + ", " + what);
        }
    }

    /**
     * The child JVM's entry: args seed, calls, lanes. Runs {@link #results} {@code calls} times,
     * each against the first, and prints the last, each line after {@link #RESULT}.
     */
    public static void main(String[] args) {
        long seed = Long.parseLong(args[0]);
        int calls = Integer.parseInt(args[1]);
        int lanes = Integer.parseInt(args[2]);
        if (CpuBackend.FLOATS.length() != lanes) {
            // Another vector width sums other lanes: the comparison would be meaningless.
            throw new IllegalStateException("the child JVM's float vectors have " + CpuBackend.FLOATS.length() + " lanes, the parent's " + lanes);
        }
        List<String> first = results(seed);
        for (int i = 1; i < calls; i++) {
            if (!first.equals(results(seed))) {
                throw new IllegalStateException("call " + i + " differs from call 0");
            }
        }
        first.forEach(line -> System.out.println(RESULT + line));
    }

    /** Lane sums, then each op call's outputs (attention's out and lse, W4A16, Hadamard, MoE), as lines of hex bits. */
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
        int[][] cases = {{8, 2, 1, 70, 128}, {16, 2, 1, 70, 64}, {3, 1, 1, 65, 64}, {8, 2, 18, 20, 64}}; // Hq, Hkv, Sq, Skv, D
        for (int[] c : cases) {
            lines.addAll(attention(seed, c[0], c[1], c[2], c[3], c[4]));
        }
        // W4A16: the GEMV path (m ≤ 12) and the GEMM one, both from the activations' group sums.
        lines.add(bits("w4a16 m=1", w4a16(seed, 1, 256, 64)));
        lines.add(bits("w4a16 m=13", w4a16(seed, 13, 128, 40)));
        for (int d : new int[] {128, 12 * 16}) {
            lines.add(bits("hadamard d=" + d, hadamard(seed, 3, d)));
        }
        lines.add(moe(seed));
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

    /** An MoE layer's forward: 13 tokens, 8 experts, top 2, d_model 40, d_ff 48. */
    private static String moe(long seed) {
        try (VectorMoeKernelTest.Layer l = new VectorMoeKernelTest.Layer(seed, 13, 8, 2, 40, 48, true, DType.BF16)) {
            Tensor y = l.poisoned(DType.BF16, 13, 40);
            l.layer.forward(l.x, y);
            return bits("moe", y);
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

    /** An attention call, causal, per-head scales: a line per query head with its lse and out rows. */
    private static List<String> attention(long seed, int hq, int hkv, int sq, int skv, int d) {
        String name = "Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " Skv=" + skv + " D=" + d;
        ScaleGranularity g = ScaleGranularity.PER_HEAD;
        try (Fp8Tensor q = AttentionInputs.fp8(seed, g, 1, hq, sq, d);
             Fp8Tensor k = AttentionInputs.fp8(seed + 1, g, 1, hkv, skv, d);
             Fp8Tensor v = AttentionInputs.fp8(seed + 2, g, 1, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
            Attention.create(CpuBackend.create()).forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
            List<String> lines = new ArrayList<>();
            for (int h = 0; h < hq; h++) {
                StringBuilder line = new StringBuilder(name).append(" head ").append(h).append(": lse");
                for (int i = 0; i < sq; i++) {
                    line.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(lse.getFloat(h, i))));
                }
                line.append(", out");
                for (long r = (long) h * sq; r < (long) (h + 1) * sq; r++) {
                    for (int c = 0; c < d; c++) {
                        line.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(out.getFloat(r, c))));
                    }
                }
                lines.add(line.toString());
            }
            return lines;
        }
    }

    /** {@link #main} running in a child JVM with this one's vector and module flags and some of its own. */
    private record Child(Process process, List<String> command, Path out, Path err) implements AutoCloseable {
        static Child start(long seed, int calls, String... flags) throws IOException {
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                // The vector width (-XX:UseAVX, -XX:UseSVE, -XX:MaxVectorSize) must match; main checks it.
                if (arg.startsWith("-XX:UseAVX") || arg.startsWith("-XX:UseSVE") || arg.startsWith("-XX:MaxVectorSize")
                        || arg.startsWith("--add-modules") || arg.startsWith("--enable-native-access")) {
                    command.add(arg);
                }
            }
            command.addAll(List.of(flags));
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), BitReproducibilityTest.class.getName(),
                    Long.toString(seed), Integer.toString(calls), Integer.toString(CpuBackend.FLOATS.length())));
            Path out = Files.createTempFile("offload-bit-reproducibility", ".out");
            Path err = Files.createTempFile("offload-bit-reproducibility", ".err");
            Process process = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            return new Child(process, command, out, err);
        }

        /** Waits for the child; its result lines. */
        List<String> results() throws IOException, InterruptedException {
            if (!process.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                fail("the child JVM did not end in " + CHILD_TIMEOUT_SECONDS + " s: " + command);
            }
            assertEquals(0, process.exitValue(), "the child JVM failed: " + command + "\n" + Files.readString(err, StandardCharsets.UTF_8));
            return Files.readAllLines(out, StandardCharsets.UTF_8).stream()
                    .filter(l -> l.startsWith(RESULT)).map(l -> l.substring(RESULT.length())).toList();
        }

        /** Ends the child if it still runs (a failure on the way), and deletes its files. */
        @Override
        public void close() throws IOException {
            process.destroyForcibly();
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
