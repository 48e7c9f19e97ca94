package org.offload4j.w4a16;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.io.ElementType;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.TensorData;
import org.offload4j.core.io.TensorSource;

/**
 * A GPTQ checkpoint (AutoGPTQ, GPTQModel, Transformers): safetensors tensors plus the
 * quantization settings ({@link GptqConfig}). Each quantized linear layer {@code P} is
 * <pre>
 *   P.qweight  I32 [k/8, n]     eight 4-bit q per word along k (see the package documentation)
 *   P.qzeros   I32 [k/g, n/8]   zeros, z − 1 per nibble in v1 checkpoints, z in gptq_v2
 *   P.scales   F16 [k/g, n]
 *   P.g_idx    I32 [k]          group of each row (act-order); kk / g when desc_act is off
 *   P.bias     F16 [n]          optional
 * </pre>
 * and {@link #layer} turns it into a {@link GptqLayer}: v1 zeros are converted
 * ({@link QuantizedWeight#fromGptqV1Zeros}), and a {@code g_idx} that is not {@code kk / g}
 * makes an act-order weight ({@link QuantizedWeight#fromGptqActOrder}) whose rows are permuted
 * once, here, so every backend runs it. {@code g_idx} is honoured whenever present (it is what
 * the tensors mean); {@code desc_act: true} without a {@code g_idx} is an error.
 */
public final class GptqCheckpoint implements AutoCloseable {
    private final TensorSource source;
    private final GptqConfig config;
    private final boolean ownsSource;

    private GptqCheckpoint(TensorSource source, GptqConfig config, boolean ownsSource) {
        this.source = source;
        this.config = config;
        this.ownsSource = ownsSource;
    }

    /**
     * Opens a checkpoint directory (settings from its {@code quantize_config.json} or
     * {@code config.json}; tensors from its index, {@code model.safetensors} or only safetensors
     * file), or one safetensors file whose settings lie beside it.
     */
    public static GptqCheckpoint open(Path path) throws IOException {
        Args.notNull(path, "path");
        Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
        GptqConfig config = GptqConfig.read(dir);
        return new GptqCheckpoint(SafeTensors.open(path), config, true);
    }

    /** A checkpoint over tensors the caller opened (and closes). */
    public static GptqCheckpoint of(TensorSource source, GptqConfig config) {
        return new GptqCheckpoint(Args.notNull(source, "source"), Args.notNull(config, "config"), false);
    }

    public GptqConfig config() {
        return config;
    }

    /** The prefixes of every quantized layer (every {@code P} with a {@code P.qweight}), in file order. */
    public List<String> layers() {
        return source.names().stream().filter(n -> n.endsWith(".qweight"))
                .map(n -> n.substring(0, n.length() - ".qweight".length())).toList();
    }

    /**
     * Loads layer {@code prefix} into new tensors (the file may be closed afterwards).
     *
     * @throws IllegalArgumentException naming the source, the layer and the problem: a missing or
     *         mis-shaped tensor, a bad g_idx, scales that are not finite
     */
    public GptqLayer layer(String prefix) {
        Args.notNull(prefix, "prefix");
        Args.require(source.contains(prefix + ".qweight"), source.sourceName() + " has no tensor '" + prefix
                + ".qweight'; GPTQ layers in it: " + abbreviate(layers()));
        try {
            return load(prefix);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source.sourceName() + ": layer '" + prefix + "': " + e.getMessage(), e);
        }
    }

    private GptqLayer load(String p) {
        Tensor qweight = source.tensor(p + ".qweight");
        Args.dtype(qweight, p + ".qweight", DType.INT32);
        Args.require(qweight.rank() == 2, p + ".qweight has rank " + qweight.rank() + "; expected 2 ([k/8, n])");
        int k = Math.toIntExact(qweight.dim(0) * 8);
        int n = Math.toIntExact(qweight.dim(1));
        int g = config.groupSize() == -1 ? k : config.groupSize();
        Tensor scales = source.tensor(p + ".scales");
        Args.require(source.contains(p + ".g_idx") || !config.descAct(), "desc_act is true but " + p + ".g_idx is missing");
        // Without a g_idx every row is in group kk / g: the same call then makes an ordinary weight.
        try (Tensor groups = source.contains(p + ".g_idx") ? gIdx(p, k) : plainGroups(k, g);
             Tensor qzeros = zeros(p)) {
            QuantizedWeight w = QuantizedWeight.fromGptqActOrder(k, n, g, qweight, qzeros, scales, groups);
            try {
                return new GptqLayer(p, w, bias(p, n));
            } catch (RuntimeException e) {
                w.close();
                throw e;
            }
        }
    }

    /** A copy of P.bias ({@code [n]}, a float dtype), or null when the layer has none. */
    private Tensor bias(String p, int n) {
        if (!source.contains(p + ".bias")) {
            return null;
        }
        TensorData d = source.data(p + ".bias");
        Args.require(d.shape().length == 1 && d.shape()[0] == n && d.type().dtype().map(DType::isFloatingPoint).orElse(false),
                p + ".bias is " + d.describe() + "; expected a floating-point [n] = [" + n + "]");
        return d.copy();
    }

    /** The zeros in v2 form (a new tensor), or null for a symmetric layer stored without them. */
    private Tensor zeros(String p) {
        if (!source.contains(p + ".qzeros")) {
            Args.require(config.sym(), p + ".qzeros is missing and the checkpoint is not symmetric (sym: false)");
            return null;
        }
        Tensor stored = source.tensor(p + ".qzeros");
        Args.dtype(stored, p + ".qzeros", DType.INT32);
        return config.v1Zeros() ? QuantizedWeight.fromGptqV1Zeros(stored) : source.data(p + ".qzeros").copy();
    }

    /** g_idx as a new INT32 [k] tensor (I64 narrowed; values outside int become -1, which the range check rejects). */
    private Tensor gIdx(String p, int k) {
        String name = p + ".g_idx";
        TensorData d = source.data(name);
        Args.require(d.type() == ElementType.I32 || d.type() == ElementType.I64, name + " has element type " + d.type()
                + "; accepted: I32, I64");
        Args.require(d.shape().length == 1 && d.shape()[0] == k, name + " has shape " + java.util.Arrays.toString(d.shape())
                + "; expected [k] = [" + k + "]");
        if (d.type() == ElementType.I32) {
            return d.copy();
        }
        Tensor out = Tensor.allocate(DType.INT32, k);
        for (int i = 0; i < k; i++) {
            long v = d.bytes().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
            out.setInt(0, i, v < Integer.MIN_VALUE || v > Integer.MAX_VALUE ? -1 : (int) v);
        }
        return out;
    }

    /** kk / g for every row: the g_idx of a checkpoint without act-order. */
    private static Tensor plainGroups(int k, int g) {
        Tensor t = Tensor.allocate(DType.INT32, k);
        for (int i = 0; i < k; i++) {
            t.setInt(0, i, i / g);
        }
        return t;
    }

    private static String abbreviate(List<String> names) {
        return names.isEmpty() ? "none" : names.size() <= 8 ? names.toString() : names.subList(0, 8) + " … " + names.size() + " in all";
    }

    /** Closes the tensor files if this object opened them. Loaded layers stay valid. */
    @Override
    public void close() {
        if (ownsSource) {
            source.close();
        }
    }
}
