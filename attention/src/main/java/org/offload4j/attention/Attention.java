package org.offload4j.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.Workspace;

/**
 * FP8 scaled-dot-product attention: {@code O = softmax(scale · Q·Kᵀ + mask) · V} for every
 * (batch, head), with Q, K and V in FP8 E4M3 and float32 scales.
 *
 * <p><b>Shapes.</b> {@code Q [B, Hq, Sq, D]}, {@code K} and {@code V [B, Hkv, Skv, D]},
 * {@code out [B, Hq, Sq, D]}, optional {@code lse [B, Hq, Sq]}. {@code D ∈ {64, 128, 256}};
 * {@code B, Hq, Hkv ≥ 1}; {@code Sq, Skv ≥ 0}; {@code Hq} a multiple of {@code Hkv}: query head
 * {@code h} reads KV head {@code h / (Hq/Hkv)} (grouped-query attention; {@code Hkv = 1} is
 * multi-query attention, {@code Hkv = Hq} plain multi-head). Every tensor may have any row
 * stride ({@link Tensor#rowStride()}).
 *
 * <p><b>What it computes.</b> With {@code q, k, v} the dequantized inputs (fp8 value × the
 * scale of its (batch, head), see {@link Fp8Tensor}) and {@code g = h / (Hq/Hkv)}:
 * <pre>
 *   t_j        = scale · Σ_d q[b,h,i,d] · k[b,g,j,d]          for each key j visible to query i
 *   out[b,h,i] = Σ_j softmax(t)_j · v[b,g,j,:]                rounded once to bf16
 *   lse[b,h,i] = ln Σ_j exp(t_j)                              fp32, natural log
 * </pre>
 * {@code scale} is {@link AttentionOptions#scale()}, {@code 1/√D} by default. Without the
 * causal mask every key is visible. With it ({@link AttentionOptions#causal()}), query
 * {@code i} sees key {@code j} iff {@code j ≤ i + (Skv − Sq)}: the mask is aligned to the
 * bottom-right corner, so the last query row sees every key (as FlashAttention ≥ 2.1 and
 * PyTorch's {@code causal_lower_right} do; for {@code Sq = Skv} it is the usual lower triangle).
 * <pre>
 *   Sq = 3, Skv = 5: offset Skv − Sq = +2        Sq = 5, Skv = 3: offset −2
 *
 *            key j →  0 1 2 3 4                           key j →  0 1 2
 *   query i = 0       x x x . .                  query i = 0       . . .   no visible key
 *   query i = 1       x x x x .                  query i = 1       . . .   no visible key
 *   query i = 2       x x x x x                  query i = 2       x . .
 *                                                query i = 3       x x .
 *      x visible, . masked                       query i = 4       x x x
 * </pre>
 * <b>A row with no visible key</b> (possible only when causal and {@code Sq > Skv}, or when
 * {@code Skv = 0}) is defined as {@code out = 0} (every element {@code +0.0}) and
 * {@code lse = −∞}: the softmax over an empty set is taken as weight zero, so such a row adds
 * nothing when attention outputs are merged by their log-sum-exp.
 *
 * <p><b>Inputs.</b> The FP8 entry points take {@link Fp8Tensor}s: an {@code fp8_e4m3} tensor and
 * fp32 scales of shape {@code [1]} (per tensor) or {@code [B, H]} (per batch·head; {@code H} the
 * input's own head count), each scale finite and {@code > 0}. The bf16 entry points take bf16
 * tensors and quantize them with {@link Fp8Quantizer} (amax-based scales, per tensor or per
 * head as {@link AttentionOptions#granularity()} says), rotating Q and K first by
 * {@link AttentionOptions#rotation()} when it is set (an orthonormal rotation leaves
 * {@code Q·Kᵀ} unchanged and spreads channel outliers, which lowers the quantization error;
 * V is quantized as given).
 *
 * <p><b>KV caches.</b> A decode loop keeps K and V in fp8 caches {@code [B, Hkv, C, D]} of a
 * fixed capacity C and appends one key per head and step.
 * {@link #forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, int, AttentionOptions, Tensor, Tensor)} takes
 * the caches as they stand and the number of keys filled, {@code kvLen}; it uses the first
 * {@code kvLen} keys of each head and nothing after them. On the CPU backend, and with
 * device-resident caches on CUDA, a step copies nothing; host caches given to a GPU backend are
 * staged as any host input is (docs/ops/attention.md). Everything above holds with
 * {@code Skv = kvLen}.
 *
 * <p><b>Turning rotation on.</b> Pass a rotation of {@link QkRotations}, the Hadamard op
 * applied to each row of Q and K:
 * <pre>
 *   Attention att = Attention.create();
 *   AttentionOptions opts = AttentionOptions.defaults().withCausal(true)
 *           .withRotation(QkRotations.hadamard());      // or QkRotations.randomizedHadamard(seed)
 *   att.forward(qBf16, kBf16, vBf16, opts, out, lse);
 * </pre>
 * For the FP8 entry points, rotate while quantizing:
 * {@code Fp8Quantizer.quantize(q, granularity, QkRotations.hadamard())}, the same rotation for K.
 *
 * <p><b>Rejected input.</b> Everything is checked before any work; a violation throws
 * {@link IllegalArgumentException} naming the argument ({@code q.data}, {@code k.scales},
 * {@code out}, …), what was given and what is accepted, and {@code out} and {@code lse} are left
 * untouched: a null or closed tensor, a wrong dtype or rank, {@code D} not in {64, 128, 256},
 * {@code Hq} not a multiple of {@code Hkv}, shapes of Q/K/V/out/lse that disagree, a scales
 * tensor of the wrong dtype or shape, a scale that is {@code ≤ 0}, NaN or infinite (checked for
 * scales in host memory; scales in device memory, beside device-resident codes, are not read
 * here, and such a scale there is outside the contract), tensors on
 * different devices or on a device this op's backend cannot reach (a GPU's memory given to the
 * CPU backend), {@code out} or {@code lse} sharing memory with an input or with each
 * other, and (bf16 entry points) an input outside host memory or a non-finite input element. Inputs may share memory with
 * each other (self-attention over one buffer is fine).
 *
 * <p><b>Numerics.</b> Logits, the running softmax and the products with V are accumulated in
 * fp32; each output element is rounded once to bf16 (nearest, ties to even). Relative L2 error
 * against {@link AttentionReference} (float64 on the dequantized inputs) is at most 3e-2; the
 * CPU backend is typically near 2e-3, the bf16 rounding of the output. FP8 NaN codes in an input
 * are not rejected (that would need a pass over all of it); they propagate to the outputs they
 * reach (a NaN in Q: its row; in K: every row that sees that key, lse included; in V: that
 * column of the rows that see it), never silently to finite values. The logits are formed in
 * fp32, and the kernels fold {@code softmaxScale · qScale · kScale} into one factor before the
 * dot product, so scales whose product overflows fp32 (above about 3.4e38: Q and K scales each
 * near 2e19 or more, from inputs of magnitude near 1e22), or logits {@code |scale·q·k|} that do,
 * are outside the contract.
 *
 * <p>An instance holds the backend chosen at creation and is safe for concurrent use.
 */
public final class Attention {
    /** The head dimensions {@code D} the op accepts. */
    public static final Set<Integer> HEAD_DIMS = Set.of(64, 128, 256);
    private static final String HEAD_DIMS_TEXT = "64, 128, 256";

    private final Backend backend;
    private final AttentionKernel kernel;
    /** {@link Fp8Quantizer#hostKernel} for this backend, looked up at the first bf16 call. */
    private volatile Fp8QuantizeKernel quantizer;

    private Attention(Backend backend, AttentionKernel kernel) {
        this.backend = backend;
        this.kernel = kernel;
    }

    /**
     * Attention on the default backend: the forced one ({@code -Doffload.backend=…}), else the
     * highest-priority available backend that implements {@link AttentionKernel}.
     *
     * @throws org.offload4j.core.BackendUnavailableException when no backend can run it
     */
    public static Attention create() {
        Backends.Selected<AttentionKernel> s = Backends.kernelsFor(AttentionKernel.class);
        return new Attention(s.backend(), s.kernels());
    }

    /**
     * Attention on the given backend.
     *
     * @throws IllegalArgumentException when {@code backend} is null
     * @throws org.offload4j.core.BackendUnavailableException when it does not implement the op
     */
    public static Attention create(Backend backend) {
        Args.notNull(backend, "backend");
        Backends.Selected<AttentionKernel> s = Backends.kernelsFrom(backend, AttentionKernel.class);
        return new Attention(s.backend(), s.kernels());
    }

    /** The backend that runs the op. */
    public Backend backend() {
        return backend;
    }

    /**
     * {@link Fp8Quantizer#quantize(Tensor, ScaleGranularity, QkRotation)} on this backend's
     * quantization loops when it has them ({@link Fp8QuantizeKernel}; the CPU backend's run about
     * 20× faster than the plain Java ones): the same result bit for bit. For inputs quantized
     * once and used in many calls, such as an FP8 KV cache. The result owns new tensors; close it.
     */
    public Fp8Tensor quantize(Tensor x, ScaleGranularity granularity, QkRotation rotation) {
        Fp8Quantizer.check(x, "x");
        Args.notNull(granularity, "granularity");
        return Fp8Quantizer.quantizeChecked(x, "x", granularity, rotation, Tensor::allocate, quantizeKernel());
    }

    private Fp8QuantizeKernel quantizeKernel() {
        Fp8QuantizeKernel k = quantizer;
        if (k == null) {
            k = Fp8Quantizer.hostKernel(backend);
            quantizer = k; // racy but idempotent: every thread computes the same kernel
        }
        return k;
    }

    /** FP8 inputs, output only (no log-sum-exp); see the class description. */
    public void forward(Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts, Tensor out) {
        forward(q, k, v, opts, out, null);
    }

    /**
     * FP8 inputs; writes {@code out} and, when {@code lse} is not null, the log-sum-exp of each
     * row. {@link AttentionOptions#granularity()} and {@link AttentionOptions#rotation()} are not
     * used: the inputs carry their scales and were rotated (or not) when quantized.
     *
     * @param q    fp8 {@code [B, Hq, Sq, D]} with scales {@code [1]} or {@code [B, Hq]}
     * @param k    fp8 {@code [B, Hkv, Skv, D]} with scales {@code [1]} or {@code [B, Hkv]}
     * @param v    fp8, the shape of {@code k}, scales {@code [1]} or {@code [B, Hkv]}
     * @param opts causal mask and logit scale
     * @param out  bf16 {@code [B, Hq, Sq, D]}
     * @param lse  fp32 {@code [B, Hq, Sq]}, or {@code null} when not wanted
     */
    public void forward(Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts, Tensor out, Tensor lse) {
        AttentionShape shape = checkFp8(q, k, v, opts, out, lse);
        run(shape, q, k, v, opts, out, lse);
    }

    /** A KV cache filled to {@code kvLen}, output only; see {@link #forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, int, AttentionOptions, Tensor, Tensor)}. */
    public void forward(Fp8Tensor q, Fp8Tensor kCache, Fp8Tensor vCache, int kvLen, AttentionOptions opts, Tensor out) {
        forward(q, kCache, vCache, kvLen, opts, out, null);
    }

    /**
     * FP8 inputs with K and V in a KV cache: {@code [B, Hkv, C, D]} of capacity C, of which the
     * first {@code kvLen} keys of every (batch, KV head) take part. The result is the one
     * {@link #forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, AttentionOptions, Tensor, Tensor)} gives
     * on K and V cut to {@code [B, Hkv, kvLen, D]} (the causal mask aligned to {@code kvLen}:
     * query {@code i} sees key {@code j} iff {@code j ≤ i + kvLen − Sq}): the kernels see the same
     * keys in the same order. Keys from {@code kvLen} on never reach the result: they may hold
     * anything, NaN codes included. This is the decode loop's call: write the step's keys and values at position
     * {@code kvLen} of each head, then attend over the cache as it stands, without copying it.
     *
     * @param q      fp8 {@code [B, Hq, Sq, D]} with scales {@code [1]} or {@code [B, Hq]}
     * @param kCache fp8 {@code [B, Hkv, C, D]} with scales {@code [1]} or {@code [B, Hkv]}
     * @param vCache fp8, the shape of {@code kCache}, scales {@code [1]} or {@code [B, Hkv]}
     * @param kvLen  the keys per head that take part, {@code 0 ≤ kvLen ≤ C}
     * @param opts   causal mask and logit scale
     * @param out    bf16 {@code [B, Hq, Sq, D]}
     * @param lse    fp32 {@code [B, Hq, Sq]}, or {@code null} when not wanted
     */
    public void forward(Fp8Tensor q, Fp8Tensor kCache, Fp8Tensor vCache, int kvLen, AttentionOptions opts, Tensor out,
                        Tensor lse) {
        AttentionShape full = checkFp8(q, kCache, vCache, opts, out, lse);
        if (kvLen < 0 || kvLen > full.kvLen()) {
            throw new IllegalArgumentException("kvLen = " + kvLen + " is outside the KV cache: accepted 0 ≤ kvLen ≤ "
                    + full.kvLen() + ", the capacity of k.data " + Arrays.toString(kCache.data().shape()));
        }
        run(full.filledTo(kvLen), q, kCache, vCache, opts, out, lse);
    }

    /** bf16 inputs, output only; see {@link #forward(Tensor, Tensor, Tensor, AttentionOptions, Tensor, Tensor)}. */
    public void forward(Tensor q, Tensor k, Tensor v, AttentionOptions opts, Tensor out) {
        forward(q, k, v, opts, out, null);
    }

    /**
     * bf16 inputs: quantizes Q, K and V to FP8 with {@link Fp8Quantizer} at
     * {@link AttentionOptions#granularity()}, rotating Q and K by
     * {@link AttentionOptions#rotation()} first when it is set, then runs the FP8 op. The result
     * is the one {@link #forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, AttentionOptions, Tensor, Tensor)}
     * gives on the quantized tensors; the temporaries are freed before returning.
     *
     * @param q    bf16 {@code [B, Hq, Sq, D]}
     * @param k    bf16 {@code [B, Hkv, Skv, D]}
     * @param v    bf16, the shape of {@code k}
     * @param opts causal mask, logit scale, quantization granularity and optional rotation
     * @param out  bf16 {@code [B, Hq, Sq, D]}
     * @param lse  fp32 {@code [B, Hq, Sq]}, or {@code null} when not wanted
     */
    public void forward(Tensor q, Tensor k, Tensor v, AttentionOptions opts, Tensor out, Tensor lse) {
        Args.notNull(q, "q");
        Args.notNull(k, "k");
        Args.notNull(v, "v");
        Args.notNull(opts, "opts");
        Args.notNull(out, "out");
        Fp8Quantizer.check(q, "q");
        Fp8Quantizer.check(k, "k");
        Fp8Quantizer.check(v, "v");
        AttentionShape shape = checkShapes(q, k, v, "q", "k", "v");
        checkOutputs(shape, List.of(new Named(q, "q"), new Named(k, "k"), new Named(v, "v")), out, lse);
        ScaleGranularity g = opts.granularity();
        // Quantization reads and checks the values (non-finite elements are rejected) before
        // anything is written to out or lse. The FP8 copies are temporaries of this call: from the
        // thread's workspace, not six arenas of their own (closing one cost 17–60 µs, Workspace).
        try (Workspace ws = Workspace.open()) {
            Fp8QuantizeKernel fq = quantizeKernel();
            Fp8Tensor q8 = Fp8Quantizer.quantizeChecked(q, "q", g, opts.rotation(), ws::allocate, fq);
            Fp8Tensor k8 = Fp8Quantizer.quantizeChecked(k, "k", g, opts.rotation(), ws::allocate, fq);
            Fp8Tensor v8 = Fp8Quantizer.quantizeChecked(v, "v", g, null, ws::allocate, fq);
            run(shape, q8, k8, v8, opts, out, lse);
        }
    }

    private void run(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts, Tensor out, Tensor lse) {
        if (shape.qLen() == 0) {
            return;
        }
        kernel.forward(shape, q, k, v, opts.causal(), opts.resolvedScale(shape.headDim()), out, lse);
    }

    // ---------------------------------------------------------------- argument checks

    /** A tensor and the name it is reported under. */
    private record Named(Tensor tensor, String name) {}

    private AttentionShape checkFp8(Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts, Tensor out, Tensor lse) {
        Args.notNull(q, "q");
        Args.notNull(k, "k");
        Args.notNull(v, "v");
        Args.notNull(opts, "opts");
        Args.notNull(out, "out");
        checkFp8Data(q, "q.data");
        checkFp8Data(k, "k.data");
        checkFp8Data(v, "v.data");
        AttentionShape s = checkShapes(q.data(), k.data(), v.data(), "q.data", "k.data", "v.data");
        checkScales(q, "q", s.batch(), s.qHeads());
        checkScales(k, "k", s.batch(), s.kvHeads());
        checkScales(v, "v", s.batch(), s.kvHeads());
        checkOutputs(s, List.of(new Named(q.data(), "q.data"), new Named(q.scales(), "q.scales"),
                new Named(k.data(), "k.data"), new Named(k.scales(), "k.scales"),
                new Named(v.data(), "v.data"), new Named(v.scales(), "v.scales")), out, lse);
        return s;
    }

    /** {@code dataName}: how errors name {@code t.data()} ("q.data", ...). */
    private static void checkFp8Data(Fp8Tensor t, String dataName) {
        Args.live(t.data(), dataName);
        Args.dtype(t.data(), dataName, DType.FP8_E4M3FN);
        if (t.data().rank() != 4) {
            throw new IllegalArgumentException(dataName + " has shape " + Arrays.toString(t.data().shape())
                    + "; expected rank 4, [B, H, S, D]");
        }
    }

    /**
     * Q, K and V (already known to be rank 4) against each other; returns the shape. The names
     * are the ones errors use.
     */
    private static AttentionShape checkShapes(Tensor q, Tensor k, Tensor v, String qn, String kn, String vn) {
        long[] qs = q.shape();
        long d = qs[3];
        if (!HEAD_DIMS.contains((int) Math.min(d, Integer.MAX_VALUE))) {
            throw new IllegalArgumentException(qn + " has head dimension D = " + d + " (shape " + Arrays.toString(qs)
                    + "); accepted: " + HEAD_DIMS_TEXT);
        }
        if (qs[0] < 1 || qs[1] < 1) {
            throw new IllegalArgumentException(qn + " has shape " + Arrays.toString(qs)
                    + "; expected [B, Hq, Sq, D] with B ≥ 1 and Hq ≥ 1");
        }
        Args.shape(k, kn, qs[0], -1, -1, d);
        long[] ks = k.shape();
        if (ks[1] < 1) {
            throw new IllegalArgumentException(kn + " has shape " + Arrays.toString(ks) + "; expected [B, Hkv, Skv, D] with Hkv ≥ 1");
        }
        if (qs[1] % ks[1] != 0) {
            throw new IllegalArgumentException(kn + " has Hkv = " + ks[1] + " heads (shape " + Arrays.toString(ks)
                    + "), but Hq = " + qs[1] + " (" + qn + ") must be a multiple of Hkv; accepted Hkv: the divisors of "
                    + qs[1] + ": " + divisors(qs[1]));
        }
        if (!Arrays.equals(v.shape(), ks)) {
            throw new IllegalArgumentException(vn + " has shape " + Arrays.toString(v.shape()) + "; expected the shape of "
                    + kn + ", " + Arrays.toString(ks));
        }
        if (Math.max(Math.max(qs[0], qs[1]), Math.max(qs[2], ks[2])) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("sizes above " + Integer.MAX_VALUE + " are not supported: "
                    + qn + " " + Arrays.toString(qs) + ", " + kn + " " + Arrays.toString(ks));
        }
        return new AttentionShape((int) qs[0], (int) qs[1], (int) ks[1], (int) qs[2], (int) ks[2], (int) d);
    }

    private static String divisors(long n) {
        List<String> out = new ArrayList<>();
        for (long i = 1; i <= n && out.size() < 16; i++) {
            if (n % i == 0) {
                out.add(Long.toString(i));
            }
        }
        return String.join(", ", out);
    }

    private static void checkScales(Fp8Tensor t, String name, int batch, int heads) {
        String sn = name + ".scales";
        Tensor s = t.scales();
        Args.live(s, sn);
        Args.dtype(s, sn, DType.FP32);
        long[] shape = s.shape();
        boolean perTensor = shape.length == 1 && shape[0] == 1;
        boolean perHead = shape.length == 2 && shape[0] == batch && shape[1] == heads;
        if (!perTensor && !perHead) {
            throw new IllegalArgumentException(sn + " has shape " + Arrays.toString(shape) + "; accepted: [1] (per tensor) or ["
                    + batch + ", " + heads + "] (per batch·head)");
        }
        if (!s.device().hostAddressable()) {
            return; // device memory: Java cannot read the values (see the class comment)
        }
        for (int b = 0; b < (perHead ? batch : 1); b++) {
            for (int h = 0; h < (perHead ? heads : 1); h++) {
                float x = s.getFloat(b, h);
                if (!(x > 0) || Float.isInfinite(x)) {
                    throw new IllegalArgumentException(sn + (perHead ? "[" + b + ", " + h + "]" : "[0]") + " = " + x
                            + "; every scale must be finite and > 0");
                }
            }
        }
    }

    private void checkOutputs(AttentionShape s, List<Named> inputs, Tensor out, Tensor lse) {
        Args.live(out, "out");
        Args.writable(out, "out");
        Args.dtype(out, "out", DType.BF16);
        Args.shape(out, "out", s.batch(), s.qHeads(), s.qLen(), s.headDim());
        if (lse != null) {
            Args.live(lse, "lse");
            Args.writable(lse, "lse");
            Args.dtype(lse, "lse", DType.FP32);
            Args.shape(lse, "lse", s.batch(), s.qHeads(), s.qLen());
        }
        Tensor first = inputs.getFirst().tensor();
        for (Named n : inputs) {
            Args.sameDevice(first, inputs.getFirst().name(), n.tensor(), n.name());
        }
        Args.sameDevice(first, inputs.getFirst().name(), out, "out");
        Args.reachable(backend, first, inputs.getFirst().name());
        for (Named n : inputs) {
            Args.disjoint(n.tensor(), n.name(), out, "out");
        }
        if (lse != null) {
            Args.sameDevice(first, inputs.getFirst().name(), lse, "lse");
            for (Named n : inputs) {
                Args.disjoint(n.tensor(), n.name(), lse, "lse");
            }
            Args.disjoint(out, "out", lse, "lse");
        }
    }

    @Override
    public String toString() {
        return "Attention on " + backend.name();
    }
}
