package org.offload4j.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.QkRotations;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.io.Npy;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.TensorData;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.w4a16.GptqCheckpoint;
import org.offload4j.w4a16.GptqLayer;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code offload run OP --in FILE[:tensor] … --out FILE}: one op on inputs from {@code .npy} or
 * safetensors files, the result written to a file, so that any op can be compared with another
 * framework's output. Inputs, in order:
 * <pre>
 *   hadamard   x [rows, d] fp32|bf16|fp16                        → out, x's dtype
 *   w4a16      x [m, k] bf16|fp16, and either --gptq PATH --layer PREFIX
 *              or qweight I32 [k/8, n], scales [k/g, n], [qzeros I32 [k/g, n/8] [g_idx I32 [k]]]
 *              with --group-size G (--zeros v1|v2)                → out [m, n], x's dtype
 *   attention  q [B, Hq, Sq, D], k, v [B, Hkv, Skv, D] bf16        → out [B, Hq, Sq, D] bf16
 *   moe        x [T, d] bf16, router [d, E] bf16|fp32, w1 [E, d, 2·ff] bf16, w2 [E, ff, d] bf16 → out [T, d] bf16
 * </pre>
 * Bad arguments and files are reported in one line (an {@link IllegalArgumentException}).
 */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run one op on tensors from .npy or safetensors files and write the result (.npy or .safetensors).",
                "Inputs by op: hadamard x | w4a16 x [qweight scales [qzeros [g_idx]]] | attention q k v | moe x router w1 w2"})
public final class RunCommand implements Callable<Integer> {
    enum Op { hadamard, w4a16, attention, moe }

    @Parameters(index = "0", paramLabel = "OP", description = "hadamard, w4a16, attention or moe")
    Op op;

    @Option(names = "--in", paramLabel = "FILE[:tensor]", required = true,
            description = "an input, in the op's order; a safetensors file with several tensors needs :tensor")
    List<String> inputs = new ArrayList<>();

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = "where the result goes: FILE.npy, else a safetensors file")
    Path out;

    /** Null when not given (then "out"): a name for a .npy output, which has none, is refused. */
    @Option(names = "--out-name", paramLabel = "NAME",
            description = "the result's tensor name in a safetensors output (default: out)")
    String outName;

    @Option(names = "--backend", paramLabel = "B", description = "backend to run on (default: the best available, or -Doffload.backend)")
    String backend;

    @Option(names = "--dtype", paramLabel = "T",
            description = "round the floating-point inputs to T first (e.g. fp32 files for bf16 ops; float64 inputs become fp32 without it); w4a16 weight tensors are never rounded")
    String dtype;

    @Option(names = "--inverse", description = "hadamard: the inverse transform")
    boolean inverse;

    @Option(names = "--scale", paramLabel = "S", description = "hadamard: scale (default 1/sqrt(d)); attention: logit scale (default 1/sqrt(D))")
    Float scale;

    @Option(names = "--gptq", paramLabel = "PATH", description = "w4a16: a GPTQ checkpoint directory or safetensors file (settings from quantize_config.json or config.json)")
    Path gptq;

    @Option(names = "--layer", paramLabel = "PREFIX", description = "w4a16 with --gptq: the layer, e.g. model.layers.0.mlp.down_proj")
    String layer;

    @Option(names = "--group-size", paramLabel = "G", description = "w4a16 from raw tensors: rows per group (32, 64, 128, or -1 for k)")
    Integer groupSize;

    /** Null when not given (then v1): with --gptq, whose config says which, it is refused. */
    @Option(names = "--zeros", paramLabel = "v1|v2",
            description = "w4a16 from raw tensors with qzeros: they store z-1 (v1, AutoGPTQ) or z (v2) (default: v1)")
    String zeros;

    @Option(names = "--causal", description = "attention: causal mask (bottom-right aligned)")
    boolean causal;

    @Option(names = "--rotate", description = "attention: Hadamard rotation of Q and K before FP8 quantization")
    boolean rotate;

    /** Null when not given (then 2): an explicit --top-k for another op is refused, whatever its value. */
    @Option(names = "--top-k", paramLabel = "K", description = "moe: experts per token (default: 2)")
    Integer topK;

    /** Built from --top-k and --renormalize by {@link #checkOptionsApply}, before any input is read. */
    private MoeOptions moeOptions;

    @Option(names = "--renormalize", description = "moe: divide the top-k weights by their sum")
    boolean renormalize;

    @Override
    public Integer call() throws IOException {
        checkOptionsApply();
        DType convert = dtype == null ? null : DType.parse(dtype);
        Args.require(convert == null || convert.isFloatingPoint(), "--dtype " + dtype
                + " is not a floating-point dtype; it rounds floating-point inputs (e.g. --dtype bf16)");
        OutputFiles.checkWritable("--out", out);
        Backend b = backend == null ? Backends.best() : Backends.named(backend);
        long start = System.nanoTime();
        try (Tensor result = switch (op) {
            case hadamard -> hadamard(b, convert);
            case w4a16 -> w4a16(b, convert);
            case attention -> attention(b, convert);
            case moe -> moe(b, convert);
        }) {
            write(result, b);
            System.out.printf("%s on %s: %s written to %s (%.1f ms)%n", op, b.name(), result.describe().replace("@host", ""),
                    out, (System.nanoTime() - start) / 1e6);
        }
        return 0;
    }

    /** Op-specific options given to another op are mistakes worth a message, not silence. */
    private void checkOptionsApply() {
        only(inverse, "--inverse", Op.hadamard);
        only(scale != null, "--scale", Op.hadamard, Op.attention);
        only(gptq != null, "--gptq", Op.w4a16);
        only(layer != null, "--layer", Op.w4a16);
        only(groupSize != null, "--group-size", Op.w4a16);
        only(zeros != null, "--zeros", Op.w4a16);
        Args.require(gptq == null || groupSize == null && zeros == null, "--group-size and --zeros are for w4a16 from raw tensors;"
                + " with --gptq the checkpoint's quantize_config.json (or config.json) gives them");
        Args.require(outName == null || !isNpy(out), "--out-name names the tensor in a safetensors output; a .npy file holds"
                + " one unnamed array");
        only(causal, "--causal", Op.attention);
        only(rotate, "--rotate", Op.attention);
        only(topK != null, "--top-k", Op.moe);
        only(renormalize, "--renormalize", Op.moe);
        Args.require(zeros == null || zeros.equals("v1") || zeros.equals("v2"), "--zeros " + zeros + " is not accepted; accepted: v1, v2");
        moeOptions = moeOptions();
    }

    /** The moe op's options; the library checks k's range, the message names --top-k. */
    private MoeOptions moeOptions() {
        int k = topK == null ? 2 : topK;
        try {
            return new MoeOptions(k, renormalize);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--top-k " + k + " is not accepted (" + e.getMessage() + ")", e);
        }
    }

    private void only(boolean given, String option, Op... ops) {
        Args.require(!given || Arrays.asList(ops).contains(op), option + " does not apply to " + op + "; it is for "
                + String.join(" and ", Arrays.stream(ops).map(Op::name).toList()));
    }

    private void inputCount(int min, int max, String roles) {
        Args.require(inputs.size() >= min && inputs.size() <= max, op + " takes " + (min == max ? min : min + " to " + max)
                + " --in (" + roles + "); got " + inputs.size());
    }

    private Tensor input(int i, String role, Set<DType> accepted, DType convert) {
        return TensorInputs.read(inputs.get(i), role, accepted, convert);
    }

    /** A w4a16 weight tensor: taken in its own dtype, which --dtype never changes. */
    private Tensor weight(int i, String role, Set<DType> accepted) {
        return TensorInputs.readAsIs(inputs.get(i), role, accepted);
    }

    private Tensor hadamard(Backend b, DType convert) {
        inputCount(1, 1, "x");
        try (Tensor x = input(0, "x", Set.of(DType.FP32, DType.BF16, DType.FP16), convert)) {
            Tensor y = Tensor.allocate(x.dtype(), x.shape());
            Hadamard h = Hadamard.create(b);
            float sc = scale == null ? Hadamard.defaultScale((int) x.dim(-1)) : scale;
            try {
                if (inverse) {
                    h.inverse(x, y, sc);
                } else {
                    h.transform(x, y, sc);
                }
            } catch (RuntimeException e) {
                y.close();
                throw e;
            }
            return y;
        }
    }

    private Tensor w4a16(Backend b, DType convert) {
        if (gptq != null) {
            inputCount(1, 1, "x; the weight comes from --gptq");
            Args.require(layer != null, "--gptq needs --layer PREFIX (the layer's tensor-name prefix)");
        } else {
            inputCount(3, 5, "x qweight scales [qzeros [g_idx]], or x with --gptq");
            Args.require(groupSize != null, "w4a16 from raw tensors needs --group-size G (32, 64, 128, or -1 for k)");
        }
        try (Tensor x = input(0, "x", W4A16.ACTIVATION_TYPES, convert);
             GptqLayer l = gptq != null ? fromCheckpoint() : fromTensors()) {
            Tensor bias = l.bias() == null ? null : Tensor.of(DType.FP32, l.bias().toFloatArray(), l.bias().dim(0));
            Tensor y = Tensor.allocate(x.dtype(), x.dim(0), l.weight().n());
            try (bias) {
                W4A16.create(b).matmul(x, l.weight(), bias, y);
            } catch (RuntimeException e) {
                y.close();
                throw e;
            }
            return y;
        }
    }

    private GptqLayer fromCheckpoint() {
        if (!java.nio.file.Files.exists(gptq)) {
            // GptqCheckpoint.open looks in a file's folder, so a mistyped path once reported the parent's contents.
            throw new IllegalArgumentException("--gptq " + gptq + " does not exist");
        }
        try (GptqCheckpoint c = GptqCheckpoint.open(gptq)) {
            return c.layer(layer);
        } catch (IOException e) {
            throw new IllegalArgumentException(gptq + ": cannot read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
    }

    private GptqLayer fromTensors() {
        try (Tensor qweight = weight(1, "qweight", Set.of(DType.INT32));
             Tensor scales = weight(2, "scales", QuantizedWeight.SCALE_TYPES);
             Tensor stored = inputs.size() > 3 ? weight(3, "qzeros", Set.of(DType.INT32)) : null;
             Tensor qzeros = stored != null && !"v2".equals(zeros) ? QuantizedWeight.fromGptqV1Zeros(stored) : null;
             Tensor gIdx = inputs.size() > 4 ? TensorInputs.readIndices(inputs.get(4), "g_idx") : plainGroups(qweight)) {
            Args.require(stored != null || zeros == null, "--zeros " + zeros + " needs qzeros (the fourth --in); without them the"
                    + " weight is symmetric (z = 8)");
            Args.require(qweight.rank() == 2, "qweight has shape " + Arrays.toString(qweight.shape()) + "; expected [k/8, n]");
            int k = Math.toIntExact(qweight.dim(0) * 8);
            int n = Math.toIntExact(qweight.dim(1));
            QuantizedWeight w = QuantizedWeight.fromGptqActOrder(k, n, groupSize, qweight, qzeros != null ? qzeros : stored,
                    scales, gIdx);
            return new GptqLayer("raw tensors", w, null);
        }
    }

    /** kk / g for every row, i.e. no act-order (g validated by QuantizedWeight). */
    private Tensor plainGroups(Tensor qweight) {
        int k = Math.toIntExact(qweight.dim(0) * 8);
        int g = groupSize == -1 ? k : groupSize;
        Args.require(g > 0, "--group-size " + groupSize + " is not accepted; accepted: 32, 64, 128 or -1 (k)");
        Tensor t = Tensor.allocate(DType.INT32, k);
        for (int i = 0; i < k; i++) {
            t.setInt(0, i, i / g);
        }
        return t;
    }

    private Tensor attention(Backend b, DType convert) {
        inputCount(3, 3, "q k v");
        Set<DType> bf16 = Set.of(DType.BF16);
        try (Tensor q = input(0, "q", bf16, convert); Tensor k = input(1, "k", bf16, convert); Tensor v = input(2, "v", bf16, convert)) {
            AttentionOptions opts = AttentionOptions.defaults().withCausal(causal).withScale(scale == null ? Float.NaN : scale)
                    .withRotation(rotate ? QkRotations.hadamard(b) : null);
            Tensor o = Tensor.allocate(DType.BF16, q.shape());
            try {
                Attention.create(b).forward(q, k, v, opts, o);
            } catch (RuntimeException e) {
                o.close();
                throw e;
            }
            return o;
        }
    }

    private Tensor moe(Backend b, DType convert) {
        inputCount(4, 4, "x router w1 w2");
        Set<DType> bf16 = Set.of(DType.BF16);
        try (Tensor x = input(0, "x", bf16, convert);
             Tensor router = input(1, "router", Set.of(DType.BF16, DType.FP32), convert);
             Tensor w1 = input(2, "w1", bf16, convert);
             Tensor w2 = input(3, "w2", bf16, convert)) {
            int k = moeOptions.k();
            Args.require(router.rank() != 2 || k <= router.dim(1), "--top-k " + k + " exceeds the number of experts, E = "
                    + router.dim(1) + " (router " + Arrays.toString(router.shape()) + ")");
            MoeLayer layer = MoeLayer.create(b, router, Bf16ExpertWeights.of(w1, w2), moeOptions);
            Args.require(x.rank() == 2, "x has shape " + Arrays.toString(x.shape()) + "; expected [T, d_model]");
            Tensor o = Tensor.allocate(DType.BF16, x.dim(0), layer.dModel());
            try {
                layer.forward(x, o);
            } catch (RuntimeException e) {
                o.close();
                throw e;
            }
            return o;
        }
    }

    /** Whether {@code file} names a .npy file (any case, as {@link SafeTensors#open} reads one). */
    static boolean isNpy(Path file) {
        return file.getFileName() != null && file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".npy");
    }

    private void write(Tensor result, Backend b) {
        TensorData data = TensorData.of(result);
        if (isNpy(out)) {
            OutputFiles.write("--out", out, f -> Npy.write(f, data));
        } else {
            OutputFiles.write("--out", out, f -> SafeTensors.write(f, Map.of(outName == null ? "out" : outName, data),
                    Map.of("producer", "offload run " + op, "backend", b.name())));
        }
    }
}
