package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.io.NpyFile;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.SafeTensorsFile;
import org.offload4j.core.io.TensorData;

/**
 * The GPTQ fixtures (src/test/python/make_gptq_fixture.py: AutoGPTQ packing, v1 zeros, act-order
 * off and on) load into weights whose dequantized values equal a float64 reference from the same
 * tensors — NumPy's (dequantized.npy) and one computed here from the raw words.
 */
class GptqCheckpointTest {
    @TempDir
    Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(GptqCheckpointTest.class.getResource("/gptq/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** W[kk, j] from the checkpoint's own words: nibbles, v1 zeros + 1 (mod 16), g_idx, fp16 scales, in double. */
    private static double[][] referenceFromRawTensors(Path checkpoint) throws IOException {
        try (SafeTensorsFile st = SafeTensorsFile.open(checkpoint.resolve("model.safetensors"))) {
            Tensor qweight = st.tensor("layer.qweight");
            Tensor qzeros = st.tensor("layer.qzeros");
            Tensor scales = st.tensor("layer.scales");
            Tensor gIdx = st.tensor("layer.g_idx");
            int k = (int) qweight.dim(0) * 8;
            int n = (int) qweight.dim(1);
            double[][] w = new double[k][n];
            for (int kk = 0; kk < k; kk++) {
                int g = gIdx.getInt(0, kk);
                for (int j = 0; j < n; j++) {
                    int q = (qweight.getInt(kk / 8, j) >>> (4 * (kk % 8))) & 0xF;
                    int z = (((qzeros.getInt(g, j / 8) >>> (4 * (j % 8))) & 0xF) + 1) & 0xF;
                    w[kk][j] = (q - z) * (double) scales.getFloat(g, j);
                }
            }
            return w;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "actorder"})
    void fixtureDequantizesToTheFloat64Reference(String name) throws IOException {
        Path ckpt = fixture(name);
        double[][] ref = referenceFromRawTensors(ckpt);
        try (GptqCheckpoint c = GptqCheckpoint.open(ckpt);
             GptqLayer layer = c.layer("layer");
             NpyFile numpy = NpyFile.open(ckpt.resolve("dequantized.npy"));
             Tensor d = layer.weight().dequantize()) {
            assertEquals(name.equals("actorder"), c.config().descAct());
            assertEquals(name.equals("actorder"), layer.weight().actOrder(), "a permuted g_idx makes an act-order weight");
            assertEquals(List.of("layer"), c.layers());
            Tensor fromNumpy = numpy.data().view();
            for (int kk = 0; kk < 128; kk++) {
                for (int j = 0; j < 32; j++) {
                    assertEquals(ref[kk][j], layer.weight().weight(kk, j), 0.0, "W[" + kk + ", " + j + "] vs raw words");
                    assertEquals(fromNumpy.getFloat(kk, j), d.getFloat(kk, j), 0.0, "W[" + kk + ", " + j + "] vs NumPy");
                }
            }
            assertEquals(DType.FP16, layer.bias().dtype());
            assertEquals(32, layer.bias().dim(0));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "actorder"})
    void loadedLayerMultipliesLikeTheReferenceThroughTheFacade(String name) throws IOException {
        W4A16 op = W4A16.create(new ReferenceBackend("ref"));
        double[][] ref = referenceFromRawTensors(fixture(name));
        try (GptqCheckpoint c = GptqCheckpoint.open(fixture(name));
             GptqLayer layer = c.layer("layer");
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP16, 3, 128), 9, 1.0);
             Tensor y = Tensor.allocate(DType.FP16, 3, 32);
             W4A16.Prepared p = op.prepare(layer.weight())) {
            op.matmul(x, p, layer.bias(), y);
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 32; j++) {
                    double s = layer.bias().getFloat(0, j);
                    for (int kk = 0; kk < 128; kk++) {
                        s += x.getFloat(i, kk) * ref[kk][j];
                    }
                    assertEquals(s, y.getFloat(i, j), Math.abs(s) * 1e-3 + 1e-3, "y[" + i + ", " + j + "]");
                }
            }
        }
    }

    @Test
    void gptqV2CheckpointsKeepTheirZeros() throws IOException {
        Path v2 = dir.resolve("v2");
        Files.createDirectories(v2);
        try (SafeTensorsFile st = SafeTensorsFile.open(fixture("actorder").resolve("model.safetensors"));
             Tensor zerosV2 = QuantizedWeight.fromGptqV1Zeros(st.tensor("layer.qzeros"))) {
            Map<String, TensorData> tensors = new LinkedHashMap<>();
            st.names().forEach(n -> tensors.put(n, n.equals("layer.qzeros") ? TensorData.of(zerosV2) : st.data(n)));
            SafeTensors.write(v2.resolve("model.safetensors"), tensors);
        }
        Files.writeString(v2.resolve("quantize_config.json"),
                "{\"bits\": 4, \"group_size\": 32, \"desc_act\": true, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}");
        double[][] ref = referenceFromRawTensors(fixture("actorder"));
        try (GptqCheckpoint c = GptqCheckpoint.open(v2.resolve("model.safetensors")); GptqLayer layer = c.layer("layer")) {
            assertTrue(!c.config().v1Zeros());
            assertEquals(ref[100][17], layer.weight().weight(100, 17), 0.0);
            assertEquals(ref[3][30], layer.weight().weight(3, 30), 0.0);
        }
    }

    @Test
    void otherBitWidthsAndMethodsAreRejectedClearly() throws IOException {
        rejectsConfig("{\"bits\": 8, \"group_size\": 128}", "bits = 8 is not supported: W4A16 loads 4-bit GPTQ checkpoints only");
        rejectsConfig("{\"bits\": 3, \"group_size\": 128}", "bits = 3 is not supported");
        rejectsConfig("{\"bits\": 4, \"group_size\": 128, \"quant_method\": \"awq\"}", "quant_method \"awq\" is not GPTQ");
        rejectsConfig("{\"bits\": 4}", "\"group_size\" is missing");
        rejectsConfig("{\"bits\": 4, \"group_size\": 128, \"checkpoint_format\": \"marlin\"}", "checkpoint_format \"marlin\"");
        var none = assertThrows(IllegalArgumentException.class, () -> GptqConfig.read(dir));
        assertTrue(none.getMessage().contains("neither quantize_config.json nor config.json"), none.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": []}");
        var plainModel = assertThrows(IllegalArgumentException.class, () -> GptqConfig.read(dir));
        assertTrue(plainModel.getMessage().contains("no \"quantization_config\""), plainModel.getMessage());
    }

    private void rejectsConfig(String json, String message) throws IOException {
        Files.writeString(dir.resolve("quantize_config.json"), json);
        var e = assertThrows(IllegalArgumentException.class, () -> GptqConfig.read(dir));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        Files.delete(dir.resolve("quantize_config.json"));
    }

    @Test
    void missingTensorsAreNamed() throws IOException {
        try (SafeTensorsFile st = SafeTensorsFile.open(fixture("actorder").resolve("model.safetensors"))) {
            GptqCheckpoint c = GptqCheckpoint.of(st, new GptqConfig(4, 32, true, false, true));
            var e = assertThrows(IllegalArgumentException.class, () -> c.layer("model.layers.0.q_proj"));
            assertTrue(e.getMessage().contains("no tensor 'model.layers.0.q_proj.qweight'") && e.getMessage().contains("[layer]"),
                    e.getMessage());
        }
        Path noGIdx = dir.resolve("no_g_idx.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(fixture("actorder").resolve("model.safetensors"))) {
            Map<String, TensorData> tensors = new LinkedHashMap<>();
            st.names().stream().filter(n -> !n.endsWith("g_idx") && !n.endsWith("qzeros")).forEach(n -> tensors.put(n, st.data(n)));
            SafeTensors.write(noGIdx, tensors);
        }
        try (SafeTensorsFile st = SafeTensorsFile.open(noGIdx)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> GptqCheckpoint.of(st, new GptqConfig(4, 32, false, false, true)).layer("layer"));
            assertTrue(e.getMessage().contains("layer 'layer'") && e.getMessage().contains("layer.qzeros is missing"), e.getMessage());
            var act = assertThrows(IllegalArgumentException.class,
                    () -> GptqCheckpoint.of(st, new GptqConfig(4, 32, true, true, true)).layer("layer"));
            assertTrue(act.getMessage().contains("desc_act is true but layer.g_idx is missing"), act.getMessage());
            try (GptqLayer sym = GptqCheckpoint.of(st, new GptqConfig(4, 32, false, true, true)).layer("layer")) {
                assertTrue(sym.weight().symmetric(), "no qzeros, sym: zero 8");
            }
        }
    }

    @Test
    void int64GIdxIsNarrowed() throws IOException {
        Path f = dir.resolve("i64.safetensors");
        try (SafeTensorsFile st = SafeTensorsFile.open(fixture("actorder").resolve("model.safetensors"))) {
            Tensor g = st.tensor("layer.g_idx");
            byte[] wide = new byte[8 * 128];
            var seg = java.lang.foreign.MemorySegment.ofArray(wide);
            for (int i = 0; i < 128; i++) {
                seg.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, g.getInt(0, i));
            }
            Map<String, TensorData> tensors = new LinkedHashMap<>();
            st.names().forEach(n -> tensors.put(n, n.endsWith("g_idx")
                    ? new TensorData(org.offload4j.core.io.ElementType.I64, new long[] {128}, seg) : st.data(n)));
            SafeTensors.write(f, tensors);
        }
        double[][] ref = referenceFromRawTensors(fixture("actorder"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f);
             GptqLayer layer = GptqCheckpoint.of(st, new GptqConfig(4, 32, true, false, true)).layer("layer")) {
            assertArrayEquals(new double[] {ref[5][6], ref[127][31]}, new double[] {layer.weight().weight(5, 6), layer.weight().weight(127, 31)});
        }
    }
}
