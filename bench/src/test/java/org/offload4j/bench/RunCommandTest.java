package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.io.ElementType;
import org.offload4j.core.io.Npy;
import org.offload4j.core.io.NpyFile;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.SafeTensorsFile;
import org.offload4j.core.io.TensorData;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeReference;

/** {@code offload run} and {@code offload inspect} on the cpu backend, each op checked against its float64 reference. */
class RunCommandTest {
    @TempDir
    Path dir;

    private Path npy(String name, Tensor t) throws IOException {
        Path p = dir.resolve(name + ".npy");
        Npy.write(p, TensorData.of(t));
        return p;
    }

    private static Tensor readNpy(Path p) throws IOException {
        try (NpyFile f = NpyFile.open(p)) {
            return f.data().copy();
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static int run(String... args) {
        return OffloadCli.execute(args);
    }

    /** Runs the CLI and returns what it printed to stderr (where failures go, in one line). */
    private static String stderrOf(int expectedRc, String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertEquals(expectedRc, OffloadCli.execute(args), String.join(" ", args));
        } finally {
            System.setErr(saved);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void hadamardForwardAndInverseMatchTheReference() throws IOException {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 3, 256), 1, 1.0)) {
            Path in = npy("x", x);
            Path y = dir.resolve("y.npy");
            assertEquals(0, run("run", "hadamard", "--in", in.toString(), "--out", y.toString(), "--backend", "cpu"));
            double[] ref = HadamardReference.compute(x, HadamardSize.of(256), 1.0 / 16, false, null, null);
            try (Tensor got = readNpy(y)) {
                assertTrue(Accuracy.relativeL2(ref, got) < 1e-6, "rel L2 " + Accuracy.relativeL2(ref, got));
            }
            Path back = dir.resolve("back.safetensors");
            assertEquals(0, run("run", "hadamard", "--inverse", "--in", y.toString(), "--out", back.toString(), "--out-name", "x"));
            try (SafeTensorsFile f = SafeTensorsFile.open(back)) {
                assertTrue(Accuracy.relativeL2(x.toDoubleArray(), f.tensor("x")) < 1e-6, "inverse restores x");
                assertEquals("offload run hadamard", f.metadata().get("producer"));
            }
        }
    }

    @Test
    void hadamardOnANamedSafetensorsTensorRoundedToBf16() throws IOException {
        Path st = dir.resolve("in.safetensors");
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 2, 128), 2, 1.0);
             Tensor other = Tensor.allocate(DType.FP32, 1)) {
            SafeTensors.write(st, new LinkedHashMap<>(Map.of("acts", TensorData.of(x), "other", TensorData.of(other))));
            Path y = dir.resolve("y.npy");
            String err = stderrOf(1, "run", "hadamard", "--in", st.toString(), "--out", y.toString());
            assertTrue(err.contains("holds 2 tensors; name one as FILE:tensor"), err);
            assertEquals(0, run("run", "hadamard", "--in", st + ":acts", "--dtype", "bf16", "--scale", "0.5", "--out", y.toString()));
            String named = stderrOf(1, "run", "hadamard", "--in", st + ":acts", "--out", y.toString(), "--out-name", "z");
            assertTrue(named.contains("--out-name names the tensor in a safetensors output"), named);
            try (Tensor xb = Tensor.of(DType.BF16, x.toFloatArray(), 2, 128); Tensor got = readNpy(y)) {
                assertEquals(DType.BF16, got.dtype(), "bf16 result in .npy as <u2, read back as bf16");
                double[] ref = HadamardReference.compute(xb, HadamardSize.of(128), 0.5, false, null, null);
                assertTrue(Accuracy.relativeL2(ref, got) < 4e-3, "rel L2 " + Accuracy.relativeL2(ref, got));
            }
        }
    }

    /** A NumPy float64 file ({@code <f8}) of these values. */
    private Path float64Npy(String name, double[] values, long... shape) throws IOException {
        MemorySegment bytes = MemorySegment.ofArray(new byte[values.length * Double.BYTES]);
        for (int i = 0; i < values.length; i++) {
            bytes.setAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, values[i]);
        }
        Path p = dir.resolve(name + ".npy");
        Npy.write(p, new TensorData(ElementType.F64, shape, bytes));
        return p;
    }

    @Test
    void float64InputsAreRoundedOnceToFp32OrToTheGivenDtype() throws IOException {
        double[] values = new double[2 * 128];
        Random rnd = new Random(7);
        for (int i = 0; i < values.length; i++) {
            values[i] = rnd.nextGaussian();
        }
        values[0] = 1 + 0x1p-8 + 0x1p-30; // above a bf16 midpoint by less than a float ulp
        Path in = float64Npy("x64", values, 2, 128);
        try (Tensor asFp32 = TensorInputs.read(in.toString(), "x", Set.of(DType.FP32, DType.BF16), null);
             Tensor asBf16 = TensorInputs.read(in.toString(), "x", Set.of(DType.FP32, DType.BF16), DType.BF16)) {
            assertEquals(DType.FP32, asFp32.dtype(), "without --dtype: fp32");
            assertEquals(DType.BF16, asBf16.dtype());
            for (int i = 0; i < values.length; i++) {
                assertEquals((float) values[i], asFp32.getFloat(i / 128, i % 128));
            }
            assertEquals(1 + 0x1p-7f, asBf16.getFloat(0, 0), "rounded once: up, where double → float → bf16 gives 1");
        }
        String weight = assertThrows(IllegalArgumentException.class, () -> TensorInputs.readAsIs(in.toString(), "scales",
                Set.of(DType.FP16))).getMessage();
        assertTrue(weight.contains("scales (") && weight.contains("element type F64; accepted: fp16"), weight);
        String bf16Only = assertThrows(IllegalArgumentException.class, () -> TensorInputs.read(in.toString(), "q",
                Set.of(DType.BF16), null)).getMessage();
        assertTrue(bf16Only.contains("is float64, read as fp32; accepted: bf16 (--dtype T"), bf16Only);

        Path y = dir.resolve("y64.npy");
        assertEquals(0, run("run", "hadamard", "--in", in.toString(), "--out", y.toString(), "--backend", "cpu"));
        try (Tensor x32 = Tensor.of(DType.FP32, toFloats(values), 2, 128); Tensor got = readNpy(y)) {
            assertEquals(DType.FP32, got.dtype());
            double[] ref = HadamardReference.compute(x32, HadamardSize.of(128), 1 / Math.sqrt(128), false, null, null);
            assertTrue(Accuracy.relativeL2(ref, got) < 1e-6, "rel L2 " + Accuracy.relativeL2(ref, got));
        }
    }

    private static float[] toFloats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    /** An act-order GPTQ checkpoint as AutoGPTQ writes it (v1 zeros), and its float64 weight. */
    private double[][] writeGptqCheckpoint(Path ckpt, int k, int n, int g) throws IOException {
        Files.createDirectories(ckpt);
        Random rnd = new Random(7);
        int groups = k / g;
        int[][] q = new int[k][n];
        int[][] z = new int[groups][n];
        int[] gIdx = new int[k];
        int[] perm = rnd.ints(0, k).distinct().limit(k).toArray();
        for (int i = 0; i < k; i++) {
            gIdx[perm[i]] = i / g;
        }
        try (Tensor qweight = Tensor.allocate(DType.INT32, k / 8, n);
             Tensor qzeros = Tensor.allocate(DType.INT32, groups, n / 8);
             Tensor scales = Tensor.allocate(DType.FP16, groups, n);
             Tensor gIdxT = Tensor.allocate(DType.INT32, k);
             Tensor bias = TensorFill.gaussian(Tensor.allocate(DType.FP16, n), 3, 0.1)) {
            for (int kk = 0; kk < k; kk++) {
                gIdxT.setInt(0, kk, gIdx[kk]);
                for (int j = 0; j < n; j++) {
                    q[kk][j] = rnd.nextInt(16);
                    qweight.setInt(kk / 8, j, qweight.getInt(kk / 8, j) | q[kk][j] << (4 * (kk % 8)));
                }
            }
            for (int gi = 0; gi < groups; gi++) {
                for (int j = 0; j < n; j++) {
                    z[gi][j] = rnd.nextInt(16);
                    int stored = (z[gi][j] - 1) & 0xF;
                    qzeros.setInt(gi, j / 8, qzeros.getInt(gi, j / 8) | stored << (4 * (j % 8)));
                    scales.setFloat(gi, j, 0.001f + rnd.nextFloat() * 0.02f);
                }
            }
            Map<String, TensorData> t = new LinkedHashMap<>();
            t.put("l.qweight", TensorData.of(qweight));
            t.put("l.qzeros", TensorData.of(qzeros));
            t.put("l.scales", TensorData.of(scales));
            t.put("l.g_idx", TensorData.of(gIdxT));
            t.put("l.bias", TensorData.of(bias));
            SafeTensors.write(ckpt.resolve("model.safetensors"), t);
            Files.writeString(ckpt.resolve("quantize_config.json"),
                    "{\"bits\": 4, \"group_size\": " + g + ", \"desc_act\": true, \"sym\": false}");
            double[][] w = new double[k + 1][n];
            for (int kk = 0; kk < k; kk++) {
                for (int j = 0; j < n; j++) {
                    w[kk][j] = (q[kk][j] - z[gIdx[kk]][j]) * (double) scales.getFloat(gIdx[kk], j);
                }
            }
            for (int j = 0; j < n; j++) {
                w[k][j] = bias.getFloat(0, j);
            }
            return w;
        }
    }

    private static double[] product(Tensor x, double[][] w, boolean withBias) {
        int m = (int) x.dim(0);
        int k = w.length - 1;
        int n = w[0].length;
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = withBias ? w[k][j] : 0;
                for (int kk = 0; kk < k; kk++) {
                    s += x.getFloat(i, kk) * w[kk][j];
                }
                out[i * n + j] = s;
            }
        }
        return out;
    }

    @Test
    void w4a16FromAnActOrderGptqCheckpointAndFromItsRawTensors() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        double[][] w = writeGptqCheckpoint(ckpt, 256, 64, 64);
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 5, 256), 4, 1.0)) {
            Path in = npy("x", x);
            Path y = dir.resolve("y.npy");
            assertEquals(0, run("run", "w4a16", "--in", in.toString(), "--gptq", ckpt.toString(), "--layer", "l", "--out", y.toString()));
            try (Tensor got = readNpy(y)) {
                double err = Accuracy.relativeL2(product(x, w, true), got);
                assertTrue(err < 5e-3, "checkpoint path, rel L2 " + err);
            }
            String st = ckpt.resolve("model.safetensors").toString();
            Path raw = dir.resolve("raw.npy");
            assertEquals(0, run("run", "w4a16", "--in", in.toString(), "--in", st + ":l.qweight", "--in", st + ":l.scales",
                    "--in", st + ":l.qzeros", "--in", st + ":l.g_idx", "--group-size", "64", "--out", raw.toString()));
            try (Tensor got = readNpy(raw)) {
                double err = Accuracy.relativeL2(product(x, w, false), got);
                assertTrue(err < 5e-3, "raw tensors (no bias), rel L2 " + err);
            }
            String noDir = stderrOf(1, "run", "w4a16", "--in", in.toString(), "--gptq", ckpt.resolve("typo").toString(), "--layer", "l",
                    "--out", raw.toString());
            assertTrue(noDir.contains("--gptq " + ckpt.resolve("typo") + " does not exist"), noDir);
            String noLayer = stderrOf(1, "run", "w4a16", "--in", in.toString(), "--gptq", ckpt.toString(), "--layer", "m", "--out", raw.toString());
            assertTrue(noLayer.contains("no tensor 'm.qweight'") && noLayer.contains("[l]"), noLayer);
            String noGroup = stderrOf(1, "run", "w4a16", "--in", in.toString(), "--in", st + ":l.qweight", "--in", st + ":l.scales",
                    "--out", raw.toString());
            assertTrue(noGroup.contains("needs --group-size"), noGroup);
            // The checkpoint's config says g and the zero format: overriding them is refused, not ignored.
            for (String[] option : new String[][] {{"--group-size", "32"}, {"--zeros", "v2"}}) {
                String ignored = stderrOf(1, "run", "w4a16", "--in", in.toString(), "--gptq", ckpt.toString(), "--layer", "l",
                        option[0], option[1], "--out", raw.toString());
                assertTrue(ignored.contains("with --gptq the checkpoint's quantize_config.json"), ignored);
            }
            String zerosWithout = stderrOf(1, "run", "w4a16", "--in", in.toString(), "--in", st + ":l.qweight", "--in", st + ":l.scales",
                    "--group-size", "64", "--zeros", "v2", "--out", raw.toString());
            assertTrue(zerosWithout.contains("--zeros v2 needs qzeros"), zerosWithout);
            // g_idx as int64 (NumPy's default integer type): narrowed.
            Path gIdx64 = dir.resolve("g_idx64.npy");
            try (SafeTensorsFile f = SafeTensorsFile.open(ckpt.resolve("model.safetensors"))) {
                Tensor g32 = f.tensor("l.g_idx");
                MemorySegment longs = MemorySegment.ofArray(new long[(int) g32.dim(0)]);
                for (int i = 0; i < g32.dim(0); i++) {
                    longs.setAtIndex(ValueLayout.JAVA_LONG, i, g32.getInt(0, i));
                }
                Npy.write(gIdx64, new TensorData(ElementType.I64, g32.shape(), longs));
            }
            Path raw64 = dir.resolve("raw64.npy");
            assertEquals(0, run("run", "w4a16", "--in", in.toString(), "--in", st + ":l.qweight", "--in", st + ":l.scales",
                    "--in", st + ":l.qzeros", "--in", gIdx64.toString(), "--group-size", "64", "--out", raw64.toString()));
            try (Tensor a = readNpy(raw); Tensor b = readNpy(raw64)) {
                assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "int64 g_idx: the same result as int32");
            }
        }
    }

    @Test
    void w4a16RejectsOtherBitWidthsInOneLine() throws IOException {
        Path ckpt = dir.resolve("ckpt8");
        writeGptqCheckpoint(ckpt, 128, 32, 32);
        Files.writeString(ckpt.resolve("quantize_config.json"), "{\"bits\": 8, \"group_size\": 32, \"desc_act\": false}");
        try (Tensor x = Tensor.allocate(DType.BF16, 1, 128)) {
            String err = stderrOf(1, "run", "w4a16", "--in", npy("x", x).toString(), "--gptq", ckpt.toString(), "--layer", "l",
                    "--out", dir.resolve("y.npy").toString());
            assertTrue(err.contains("bits = 8 is not supported") && err.strip().lines().count() == 1, err);
        }
    }

    @Test
    void attentionMatchesTheFloat64Reference() throws IOException {
        try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 4, 17, 64), 5, 1.0);
             Tensor k = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 33, 64), 6, 1.0);
             Tensor v = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 33, 64), 7, 1.0)) {
            Path o = dir.resolve("o.npy");
            String[] qkv = {"--in", npy("q", q).toString(), "--in", npy("k", k).toString(), "--in", npy("v", v).toString()};
            assertEquals(0, run(concat(new String[] {"run", "attention", "--causal", "--out", o.toString()}, qkv)));
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
            // The contract's reference: float64 attention on the FP8 inputs the op quantized (per tensor).
            try (Fp8Tensor q8 = Fp8Quantizer.quantize(q, ScaleGranularity.PER_TENSOR);
                 Fp8Tensor k8 = Fp8Quantizer.quantize(k, ScaleGranularity.PER_TENSOR);
                 Fp8Tensor v8 = Fp8Quantizer.quantize(v, ScaleGranularity.PER_TENSOR);
                 Tensor got = readNpy(o)) {
                double[] ref = AttentionReference.forward(q8, k8, v8, opts).out();
                assertArrayEquals(new long[] {1, 4, 17, 64}, got.shape());
                double err = Accuracy.relativeL2(ref, got);
                assertTrue(err < 3e-2, "rel L2 " + err);
            }
            Path rotated = dir.resolve("rotated.npy");
            assertEquals(0, run(concat(new String[] {"run", "attention", "--causal", "--rotate", "--out", rotated.toString()}, qkv)));
            try (Tensor got = readNpy(rotated)) {
                double err = Accuracy.relativeL2(AttentionReference.forward(q, k, v, opts).out(), got);
                assertTrue(err < 1e-1, "with rotation, vs the bf16 inputs: rel L2 " + err);
            }
        }
    }

    @Test
    void moeMatchesTheFloat64ReferenceWithTheSameRouting() throws IOException {
        int t = 9;
        int d = 32;
        int e = 4;
        int ff = 16;
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, t, d), 8, 1.0);
             Tensor router = TensorFill.gaussian(Tensor.allocate(DType.FP32, d, e), 9, 0.5);
             Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.FP32, e, d, 2 * ff), 10, 0.2);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.FP32, e, ff, d), 11, 0.2)) {
            Path o = dir.resolve("o.safetensors");
            String err = stderrOf(1, "run", "moe", "--in", npy("x", x).toString(), "--in", npy("r", router).toString(),
                    "--in", npy("w1", w1).toString(), "--in", npy("w2", w2).toString(), "--out", o.toString());
            assertTrue(err.contains("w1 (") && err.contains("is fp32; accepted: bf16") && err.contains("--dtype"), err);
            assertEquals(0, run("run", "moe", "--in", dir.resolve("x.npy").toString(), "--in", dir.resolve("r.npy").toString(),
                    "--in", dir.resolve("w1.npy").toString(), "--in", dir.resolve("w2.npy").toString(), "--dtype", "bf16",
                    "--top-k", "2", "--renormalize", "--out", o.toString()));
            // --top-k is checked against its range and against E, naming the option.
            String[] inputs = {"--in", dir.resolve("x.npy").toString(), "--in", dir.resolve("r.npy").toString(),
                    "--in", dir.resolve("w1.npy").toString(), "--in", dir.resolve("w2.npy").toString(), "--dtype", "bf16", "--out", o.toString()};
            String zero = stderrOf(1, concat(new String[] {"run", "moe", "--top-k", "0"}, inputs));
            assertTrue(zero.contains("--top-k 0 is not accepted"), zero);
            String beyond = stderrOf(1, concat(new String[] {"run", "moe", "--top-k", "5"}, inputs));
            assertTrue(beyond.contains("--top-k 5 exceeds the number of experts, E = 4"), beyond);
            // --dtype bf16 rounds every floating-point input, the router included.
            try (Tensor w1b = Tensor.of(DType.BF16, w1.toFloatArray(), e, d, 2 * ff);
                 Tensor w2b = Tensor.of(DType.BF16, w2.toFloatArray(), e, ff, d);
                 Tensor routerB = Tensor.of(DType.BF16, router.toFloatArray(), d, e);
                 SafeTensorsFile f = SafeTensorsFile.open(o)) {
                double[] ref = MoeReference.forward(x, MoeReference.route(x, routerB, 2, true), Bf16ExpertWeights.of(w1b, w2b));
                double rel = Accuracy.relativeL2(ref, f.tensor("out"));
                assertTrue(rel < 1e-2, "rel L2 " + rel);
            }
        }
    }

    @Test
    void tensorNamesWithColonsAndUpperCaseNpyNames() throws IOException {
        Path st = dir.resolve("tf.safetensors");
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 2, 64), 9, 1.0)) {
            SafeTensors.write(st, new LinkedHashMap<>(Map.of("dense/kernel:0", TensorData.of(x), "other", TensorData.of(x))));
            Path y = dir.resolve("Y.NPY");
            assertEquals(0, run("run", "hadamard", "--in", st + ":dense/kernel:0", "--out", y.toString()));
            try (NpyFile f = NpyFile.open(y); Tensor again = readNpy(y)) {
                assertEquals(DType.FP32, again.dtype(), "written as .npy whatever the case of its extension");
            }
            Path y2 = dir.resolve("y2.npy");
            assertEquals(0, run("run", "hadamard", "--in", y.toString(), "--inverse", "--out", y2.toString()));
            try (Tensor back = readNpy(y2)) {
                assertTrue(Accuracy.relativeL2(x.toDoubleArray(), back) < 1e-6, ".NPY read as .npy, inverse restores x");
            }
        }
    }

    @Test
    void badInvocationsFailInOneLine() throws IOException {
        Path y = dir.resolve("y.npy");
        String missing = stderrOf(1, "run", "hadamard", "--in", dir.resolve("nope.npy").toString(), "--out", y.toString());
        assertTrue(missing.contains("nope.npy: cannot read") && missing.strip().lines().count() == 1, missing);
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 64)) {
            String in = npy("x", x).toString();
            String two = stderrOf(1, "run", "hadamard", "--in", in, "--in", in, "--out", y.toString());
            assertTrue(two.contains("hadamard takes 1 --in (x); got 2"), two);
            String misplaced = stderrOf(1, "run", "hadamard", "--in", in, "--causal", "--out", y.toString());
            assertTrue(misplaced.contains("--causal does not apply to hadamard; it is for attention"), misplaced);
            String badSize = stderrOf(1, "run", "hadamard", "--in", npy("odd", Tensor.allocate(DType.FP32, 2, 7)).toString(),
                    "--out", y.toString());
            assertTrue(badSize.startsWith("offload run: "), badSize);
            // Checked before the op runs, in one line naming the option.
            String nowhere = stderrOf(1, "run", "hadamard", "--in", in, "--out", dir.resolve("no/such/dir/y.npy").toString());
            assertTrue(nowhere.contains("--out ") && nowhere.contains("does not exist") && nowhere.strip().lines().count() == 1, nowhere);
            String notFloat = stderrOf(1, "run", "hadamard", "--in", in, "--out", y.toString(), "--dtype", "int32");
            assertTrue(notFloat.contains("--dtype int32 is not a floating-point dtype"), notFloat);
            // Weight tensors are never rounded, so their dtype errors do not suggest --dtype.
            String xb = npy("xb", Tensor.allocate(DType.BF16, 2, 64)).toString();
            String qweight = stderrOf(1, "run", "w4a16", "--in", xb, "--in", in, "--in", in, "--group-size", "32", "--out", y.toString());
            assertTrue(qweight.contains("qweight (") && qweight.contains("is fp32; accepted: int32") && !qweight.contains("--dtype"), qweight);
            String topK = stderrOf(1, "run", "hadamard", "--in", in, "--out", y.toString(), "--top-k", "2");
            assertTrue(topK.contains("--top-k does not apply to hadamard; it is for moe"), "an explicit default is refused too: " + topK);
        }
        Path broken = Files.write(dir.resolve("broken.safetensors"), new byte[] {1, 0, 0, 0, 0, 0, 0, 0, '{'});
        String bad = stderrOf(1, "run", "hadamard", "--in", broken.toString(), "--out", y.toString());
        assertTrue(bad.contains("broken.safetensors: header is not valid JSON"), bad);
        assertEquals(2, run("run", "no-such-op", "--in", "x", "--out", "y"), "unknown op: a usage error");
    }

    @Test
    void inspectListsTensorsDtypesAndShapes() throws IOException {
        Path st = dir.resolve("m.safetensors");
        try (Tensor a = Tensor.allocate(DType.BF16, 4, 8)) {
            Map<String, TensorData> t = new LinkedHashMap<>();
            t.put("layer.weight", TensorData.of(a));
            t.put("ids", new TensorData(ElementType.I64, new long[] {3}, java.lang.foreign.MemorySegment.ofArray(new long[3])));
            SafeTensors.write(st, t, Map.of("format", "pt"));
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        InspectCommand.print(st, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("safetensors, 2 tensor(s)") && out.contains("metadata format = pt"), out);
        assertTrue(out.matches("(?s).*layer\\.weight\\s+BF16\\s+\\[4, 8\\]\\s+64 bytes.*"), out);
        assertTrue(out.matches("(?s).*ids\\s+I64\\s+\\[3\\]\\s+24 bytes.*"), out);
        assertEquals(0, run("inspect", st.toString()));
        try (Tensor b = Tensor.allocate(DType.BF16, 2)) {
            buf.reset();
            InspectCommand.print(npy("b", b), new PrintStream(buf, true, StandardCharsets.UTF_8));
            assertTrue(buf.toString(StandardCharsets.UTF_8).contains(".npy version 1.0 (<u2 read as bf16 by convention)"), buf.toString());
        }
        Path unnamed = dir.resolve("unnamed.safetensors");
        try (Tensor a = Tensor.allocate(DType.FP32, 1)) {
            SafeTensors.write(unnamed, Map.of("", TensorData.of(a)));
        }
        buf.reset();
        InspectCommand.print(unnamed, new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertTrue(buf.toString(StandardCharsets.UTF_8).matches("(?s).*\\n  \"\"\\s+F32\\s+\\[1\\]\\s+4 bytes.*"),
                "the empty name, shown as \"\": " + buf);
        String missing = stderrOf(1, "inspect", dir.resolve("missing.safetensors").toString());
        assertTrue(missing.contains("missing.safetensors: cannot read (NoSuchFileException") && missing.strip().lines().count() == 1,
                missing);
    }
}
