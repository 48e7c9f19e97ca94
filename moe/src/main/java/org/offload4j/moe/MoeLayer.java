package org.offload4j.moe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * A Mixture-of-Experts expert layer: router, top-k, permutation, grouped SwiGLU expert MLPs and
 * weighted combine. Each step can be called on its own; {@link #forward(Tensor, Tensor)} runs
 * them all.
 *
 * <h2>What it computes</h2>
 * For {@code T} tokens {@code x [T, d_model]} (bf16), {@code E} experts and {@code k} choices per
 * token:
 * <pre>
 *  1. route     logits = x · Wr                       Wr [d_model, E] (bf16 or fp32)
 *               p      = softmax(logits) per token    (max subtracted first; fp32 or wider)
 *               top-k by logit (so by p, also where p underflows to equal
 *               values), descending, ties → the lower expert index  → expertIds [T, k]
 *               w[t, j] = p of the j-th choice, optionally divided by the
 *                         sum of the k chosen (renormalize)               → weights   [T, k]
 *  2. permute   the T·k copies (t, j), stably sorted by expert            → {@link Routing}
 *               xp[p] = x[tokenOfCopy(p)]                                 → xp [T·k, d_model]
 *  3. per expert e, on its rows p ∈ [offset(e), offset(e+1)) of xp:
 *     gate/up   h = xp[p] · W1[e]                     W1 [E, d_model, 2·d_ff], h [T·k, 2·d_ff]
 *     activate  a = silu(h[:, 0..d_ff)) ⊙ h[:, d_ff..2·d_ff)     silu(z) = z · sigmoid(z)
 *     down      y[p] = a · W2[e]                      W2 [E, d_ff, d_model], y [T·k, d_model]
 *  4. combine   out[t] = Σ_j w[t, j] · y[copyOf(t, j)]                    → out [T, d_model] (bf16)
 * </pre>
 * The grouping of step 2, for {@code T = 4, E = 3, k = 2} (see {@link Routing} for the maps):
 * <pre>
 *   tokens × choices               copies sorted by expert             offsets
 *   t0 → e2, e0        ┌──────▶ p0  (t0, j1)  ┐                        offset(0) = 0
 *   t1 → e0, e1   ─────┤        p1  (t1, j0)  │ expert 0: rows 0..2 of xp
 *   t2 → e2, e1        │        p2  (t3, j1)  ┘
 *   t3 → e1, e0        │        p3  (t1, j1)  ┐                        offset(1) = 3
 *                      │        p4  (t2, j1)  │ expert 1: rows 3..5
 *                      │        p5  (t3, j0)  ┘
 *                      │        p6  (t0, j0)  ┐ expert 2: rows 6..7    offset(2) = 6
 *                      └──────▶ p7  (t2, j0)  ┘
 *                                                                      offset(3) = 8
 *   each expert's rows form one contiguous GEMM operand; an expert with no rows costs nothing
 * </pre>
 *
 * <h2>Accepted input</h2>
 * <ul>
 *   <li>Construction ({@link #create(Tensor, ExpertWeights, MoeOptions)}): router weights
 *       {@code [d_model, E]} bf16 or fp32; {@link ExpertWeights} with the same {@code E} and
 *       {@code d_model} (bf16: {@link Bf16ExpertWeights#of}; int4 W4A16:
 *       {@link W4A16ExpertWeights#of} or {@link W4A16ExpertWeights#quantize}); {@code 1 ≤ E ≤ }{@value #MAX_EXPERTS},
 *       {@code 1 ≤ d_model, d_ff ≤ }{@value #MAX_DIM}; {@code 1 ≤ k ≤ min(}{@value #MAX_K}{@code , E)}.</li>
 *   <li>Calls: {@code x [T, d_model]} bf16 ({@code T ≥ 0}); intermediates ({@code xp}, {@code h},
 *       {@code a}, {@code y}) bf16 or fp32 of the shapes above; {@code out [T, d_model]} bf16 (or
 *       fp32); a {@link Routing} with this layer's {@code E} and {@code x}'s {@code T}; every tensor
 *       open, any row stride, in memory the layer's backend reaches (host memory, or its own
 *       device; {@link #permute}, which runs on the host, takes host memory only); outputs
 *       writable and on the input's device, sharing no byte with an input or with the layer's
 *       weights.</li>
 * </ul>
 * Everything is checked before any work; a violation throws {@link IllegalArgumentException}
 * naming the argument, what was given and what is accepted, and the outputs are left untouched.
 *
 * <h2>Numerics</h2>
 * Inputs are widened exactly to fp32 (int4 expert weights: {@code (q − z)·s}, exact with fp16 or
 * bf16 scales, rounded once with fp32 ones); every sum accumulates in fp32. Within
 * {@link #forward(Tensor, Tensor)} and {@link #expertMlp} the intermediates {@code h}, {@code a}
 * and {@code y} stay in fp32 (never rounded to bf16), and the output is rounded once to bf16
 * (round to nearest, ties to even). {@link MoeReference} computes the same thing in float64 with no
 * intermediate rounding either; with the same routing the relative L2 error of {@code out} is
 * within 1e-2 (the final bf16 rounding, about 2e-3, dominates). When the steps are called one by
 * one, each output is rounded to its tensor's dtype: pass fp32 intermediates to reproduce
 * {@code forward}, bf16 ones to model a bf16 pipeline. The router's logits are fp32 sums, so a
 * token whose two logits differ by less than their rounding error may choose differently from the
 * float64 router. They can also overflow to ±∞ where the float64 ones do not: the +∞ logits then
 * share the weight (the softmax's limit). NaN logits rank below every number, −∞ included, with
 * weight 0 while some logit is above −∞. A token with no logit above −∞ (its x holds a NaN or an
 * infinity) weighs every logit 1, ranks −∞ above NaN and ties by the lower index, so it gets
 * uniform weights (1/E, or 1/k renormalized) on the −∞ experts first (experts 0, 1, … when every
 * logit is NaN) and a NaN output; the call does not fail. The CUDA router is written to the same rule
 * (its GPU run is owed).
 *
 * <p>An instance holds its backend, weights and options, and is safe for concurrent use as long as
 * the weights stay open and the layer is not closed ({@link #close()}: only when no call is
 * running). {@link #prepared()} gives a layer over the backend's own copy of the weights.
 */
public final class MoeLayer implements AutoCloseable {
    /** The largest {@code k}. */
    public static final int MAX_K = 8;
    /** The largest {@code d_model} and {@code d_ff}. */
    public static final int MAX_DIM = 1 << 20;
    /** The largest number of experts. */
    public static final int MAX_EXPERTS = 1 << 16;

    private static final Set<DType> ROUTER_DTYPES = EnumSet.of(DType.BF16, DType.FP32);
    private static final Set<DType> ACTIVATION_DTYPES = EnumSet.of(DType.BF16, DType.FP32);

    private final Backend backend;
    private final MoeKernel kernel;
    private final Tensor routerWeights;
    private final ExpertWeights experts;
    private final MoeOptions options;
    /** The backend's copy of the weights that {@link #close()} frees; null when the weights are the caller's. */
    private final AutoCloseable ownedWeights;
    private volatile boolean closed;
    /** Set once {@link #ownedWeights} closed without an exception; guarded by {@code this}. */
    private boolean weightsFreed;

    private MoeLayer(Backend backend, MoeKernel kernel, Tensor routerWeights, ExpertWeights experts, MoeOptions options,
                     AutoCloseable ownedWeights) {
        this.backend = backend;
        this.kernel = kernel;
        this.routerWeights = routerWeights;
        this.experts = experts;
        this.options = options;
        this.ownedWeights = ownedWeights;
    }

    /**
     * A layer on the default backend: the forced one ({@code -Doffload.backend=…}), else the
     * highest-priority available backend that implements {@link MoeKernel}.
     *
     * @param routerWeights {@code Wr [d_model, E]}, bf16 or fp32
     * @param experts       the expert MLP weights, {@code E} experts of {@code d_model → d_ff → d_model}
     * @param options       {@code k} and renormalization
     * @throws IllegalArgumentException when an argument is null, closed or inconsistent (named)
     * @throws org.offload4j.core.BackendUnavailableException when no backend can run it
     */
    public static MoeLayer create(Tensor routerWeights, ExpertWeights experts, MoeOptions options) {
        checkWeights(routerWeights, experts, options);
        Backends.Selected<MoeKernel> s = Backends.kernelsFor(MoeKernel.class);
        checkReachable(s.backend(), routerWeights, experts);
        return new MoeLayer(s.backend(), s.kernels(), routerWeights, experts, options, null);
    }

    /**
     * A layer on the given backend; otherwise as {@link #create(Tensor, ExpertWeights, MoeOptions)}.
     *
     * @throws org.offload4j.core.BackendUnavailableException when the backend lacks the op
     */
    public static MoeLayer create(Backend backend, Tensor routerWeights, ExpertWeights experts, MoeOptions options) {
        Args.notNull(backend, "backend");
        checkWeights(routerWeights, experts, options);
        Backends.Selected<MoeKernel> s = Backends.kernelsFrom(backend, MoeKernel.class);
        checkReachable(s.backend(), routerWeights, experts);
        return new MoeLayer(s.backend(), s.kernels(), routerWeights, experts, options, null);
    }

    /** The weights are in memory the backend's kernels can reach (W4A16 experts are host-only by contract). */
    private static void checkReachable(Backend backend, Tensor routerWeights, ExpertWeights experts) {
        Args.reachable(backend, routerWeights, "routerWeights");
        if (experts instanceof Bf16ExpertWeights bf16) {
            Args.reachable(backend, bf16.w1(), "experts.w1");
            Args.reachable(backend, bf16.w2(), "experts.w2");
        }
    }

    private static void checkWeights(Tensor routerWeights, ExpertWeights experts, MoeOptions options) {
        Args.notNull(options, "options");
        Args.notNull(experts, "experts");
        Args.live(routerWeights, "routerWeights");
        Args.dtype(routerWeights, "routerWeights", ROUTER_DTYPES);
        if (!experts.isAlive()) {
            throw new IllegalArgumentException("experts (" + experts + ") has a closed tensor");
        }
        int e = experts.experts();
        int dModel = experts.dModel();
        if (e < 1 || e > MAX_EXPERTS || dModel < 1 || dModel > MAX_DIM || experts.dFf() < 1 || experts.dFf() > MAX_DIM) {
            throw new IllegalArgumentException("experts (" + experts + ") has E = " + e + ", d_model = " + dModel + ", d_ff = "
                    + experts.dFf() + "; accepted: 1 ≤ E ≤ " + MAX_EXPERTS + ", 1 ≤ d_model, d_ff ≤ " + MAX_DIM);
        }
        if (routerWeights.rank() != 2 || routerWeights.dim(0) != dModel || routerWeights.dim(1) != e) {
            throw new IllegalArgumentException("routerWeights has shape " + Arrays.toString(routerWeights.shape())
                    + "; expected [d_model, E] = [" + dModel + ", " + e + "] to match experts (" + experts + ")");
        }
        if (options.k() > e) {
            throw new IllegalArgumentException("options.k = " + options.k() + " exceeds the number of experts E = " + e
                    + "; accepted: 1 ≤ k ≤ min(" + MAX_K + ", E)");
        }
        if (experts.overlaps(routerWeights)) {
            // Harmless for the arithmetic (both are inputs) but never intended: a sign of a wrong slice.
            throw new IllegalArgumentException("routerWeights overlaps the expert weights; they must be separate tensors");
        }
    }

    /**
     * A layer on the same backend, router and options whose expert weights are the backend's own
     * copy in the layout its kernels read fastest ({@link MoeKernel#prepare}); every call gives the
     * same results bit for bit as on this layer. The CPU backend copies bf16 weights into column
     * slivers in 128-row blocks (as much memory again as the weights, about 0.15 s for 277 MB on one
     * thread;
     * the E = 64 layer of the benchmark 1.3× faster, see docs/ops/moe.md); the CUDA backend copies
     * bf16 weights in host memory into GPU memory once (otherwise each call stages them); the
     * TornadoVM backend copies weights of any format into its own arrays, which also keep the
     * plans compiled for them until the layer is closed; other
     * formats and backends keep the weights as they are, and the new layer then shares them. When the new
     * layer {@link #ownsExpertWeights() owns} a copy, the copy holds every value and the caller may
     * close the weights it passed to {@code create} (not the router weights, which stay shared);
     * otherwise they must stay open. The copy is a snapshot: later writes to the caller's weights
     * do not reach it. {@code prepared()} of a layer that owns a copy already returns a layer
     * sharing that copy (it does not own it: close the owner last). Close the returned layer when
     * done: that frees the copy.
     *
     * @throws IllegalArgumentException      when the weights were closed
     * @throws IllegalStateException         when this layer was closed
     * @throws UnsupportedOperationException when the backend cannot hold these weights in its own
     *         layout (TornadoVM: one matrix of all experts with more than 2^31 − 1 elements)
     */
    public MoeLayer prepared() {
        checkWeightsAlive();
        ExpertWeights copy = kernel.prepare(experts);
        if (copy == experts) {
            return new MoeLayer(backend, kernel, routerWeights, experts, options, null);
        }
        if (!(copy instanceof AutoCloseable owned) || copy instanceof Bf16ExpertWeights b && !b.ownsTensors()) {
            throw new IllegalStateException("backend " + backend.name() + " prepared " + copy + ", which cannot be closed"
                    + " (a copy must own its memory)");
        }
        return new MoeLayer(backend, kernel, routerWeights, copy, options, owned);
    }

    /**
     * True when this layer's expert weights are a copy it owns ({@link #prepared()} on a backend
     * with a layout of its own): {@link #close()} frees them, and the caller's weights are no
     * longer read.
     */
    public boolean ownsExpertWeights() {
        return ownedWeights != null;
    }

    /**
     * Closes the layer: every later call throws {@link IllegalStateException}, and the weights it
     * {@link #ownsExpertWeights() owns} are freed. The caller's tensors are never closed. Call it
     * only when no call on the layer is running in another thread. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        if (ownedWeights == null) {
            return;
        }
        synchronized (this) {
            if (weightsFreed) {
                return;
            }
            try {
                ownedWeights.close();
            } catch (RuntimeException e) {
                throw e; // the layer stays closed; a later close() tries to free the weights again
            } catch (Exception e) {
                throw new IllegalStateException("closing the expert weights of " + this + " failed", e);
            }
            weightsFreed = true;
        }
    }

    /** The backend that runs the layer. */
    public Backend backend() {
        return backend;
    }

    /** The number of experts {@code E}. */
    public int experts() {
        return experts.experts();
    }

    public int dModel() {
        return experts.dModel();
    }

    public int dFf() {
        return experts.dFf();
    }

    public MoeOptions options() {
        return options;
    }

    public Tensor routerWeights() {
        return routerWeights;
    }

    public ExpertWeights expertWeights() {
        return experts;
    }

    // ---- the steps ------------------------------------------------------------------------

    /** Step 1: the router's top-k choices and weights for {@code x [T, d_model]} (bf16), and their permutation. */
    public Routing route(Tensor x) {
        int tokens = checkX(x);
        int k = options.k();
        int[] ids = new int[Math.multiplyExact(tokens, k)];
        float[] w = new float[ids.length];
        if (tokens > 0) {
            kernel.route(x, routerWeights, k, options.renormalize(), ids, w);
        }
        return Routing.of(experts(), k, ids, w);
    }

    /**
     * Step 2: {@code xPermuted[p] = x[routing.tokenOfCopy(p)]}, the rows of {@code x} in expert
     * order (host code, on every backend; exact).
     *
     * @param x         {@code [T, d_model]} bf16, in host memory
     * @param xPermuted {@code [T·k, d_model]} bf16 or fp32, in host memory
     */
    public void permute(Tensor x, Routing routing, Tensor xPermuted) {
        checkX(x);
        Args.host(x, "x");
        checkRouting(routing, x);
        checkActivation(xPermuted, "xPermuted", routing.copies(), dModel());
        checkOutput(xPermuted, "xPermuted", x, "x");
        MemorySegment src = x.segment();
        MemorySegment dst = xPermuted.segment();
        int d = dModel();
        for (int p = 0; p < routing.copies(); p++) {
            long from = x.rowByteOffset(routing.tokenOfCopy(p));
            long to = xPermuted.rowByteOffset(p);
            if (xPermuted.dtype() == DType.BF16) {
                MemorySegment.copy(src, from, dst, to, 2L * d);
            } else {
                for (int c = 0; c < d; c++) {
                    int bits = (src.get(ValueLayout.JAVA_SHORT_UNALIGNED, from + 2L * c) & 0xFFFF) << 16;
                    dst.set(ValueLayout.JAVA_FLOAT_UNALIGNED, to + 4L * c, Float.intBitsToFloat(bits));
                }
            }
        }
    }

    /**
     * Step 3a, the first grouped GEMM: {@code h[p] = xPermuted[p] · W1[e(p)]}, {@code h = [gate | up]}.
     *
     * @param xPermuted {@code [T·k, d_model]} bf16 or fp32
     * @param h         {@code [T·k, 2·d_ff]} bf16 or fp32
     */
    public void gateUp(Tensor xPermuted, Routing routing, Tensor h) {
        groupedGemm(xPermuted, "xPermuted", routing, ExpertWeights.Matrix.GATE_UP, h, "h");
    }

    /**
     * Step 3b, the activation: {@code a = silu(h[:, 0..d_ff)) ⊙ h[:, d_ff..2·d_ff)}, any number of rows.
     *
     * @param h {@code [rows, 2·d_ff]} bf16 or fp32
     * @param a {@code [rows, d_ff]} bf16 or fp32
     */
    public void swiglu(Tensor h, Tensor a) {
        checkOpen();
        Args.live(h, "h");
        Args.dtype(h, "h", ACTIVATION_DTYPES);
        if (h.rank() != 2 || h.dim(1) != 2L * dFf()) {
            throw new IllegalArgumentException("h has shape " + Arrays.toString(h.shape()) + "; expected [rows, 2·d_ff] = [*, "
                    + 2L * dFf() + "]");
        }
        checkActivation(a, "a", h.dim(0), dFf());
        checkOutput(a, "a", h, "h");
        if (h.rows() > 0) {
            kernel.swiglu(h, a);
        }
    }

    /**
     * Step 3c, the second grouped GEMM: {@code y[p] = a[p] · W2[e(p)]}.
     *
     * @param a {@code [T·k, d_ff]} bf16 or fp32
     * @param y {@code [T·k, d_model]} bf16 or fp32
     */
    public void down(Tensor a, Routing routing, Tensor y) {
        groupedGemm(a, "a", routing, ExpertWeights.Matrix.DOWN, y, "y");
    }

    /**
     * Steps 3a–3c fused: {@code y[p] = (silu(xp[p]·W1g) ⊙ xp[p]·W1u) · W2} for the expert of each
     * copy, {@code h} and {@code a} kept in fp32.
     *
     * @param xPermuted {@code [T·k, d_model]} bf16 or fp32
     * @param y         {@code [T·k, d_model]} bf16 or fp32
     */
    public void expertMlp(Tensor xPermuted, Routing routing, Tensor y) {
        checkWeightsAlive();
        Args.notNull(routing, "routing");
        checkRoutingExperts(routing);
        checkActivation(xPermuted, "xPermuted", routing.copies(), dModel());
        checkActivation(y, "y", routing.copies(), dModel());
        checkOutput(y, "y", xPermuted, "xPermuted");
        if (routing.copies() > 0) {
            kernel.expertMlp(xPermuted, routing, experts, y);
        }
    }

    /**
     * Step 4: {@code out[t] = Σ_j weight(t, j) · y[copyOf(t, j)]}, rounded once.
     *
     * @param y   {@code [T·k, d_model]} bf16 or fp32
     * @param out {@code [T, d_model]} bf16 or fp32
     */
    public void combine(Tensor y, Routing routing, Tensor out) {
        checkOpen();
        Args.notNull(routing, "routing");
        checkRoutingExperts(routing);
        checkActivation(y, "y", routing.copies(), dModel());
        checkActivation(out, "out", routing.tokens(), dModel());
        checkOutput(out, "out", y, "y");
        if (routing.tokens() > 0) {
            kernel.combine(y, routing, out);
        }
    }

    /**
     * The whole layer with a given routing (for example one from {@link #route}, or a fixed one):
     * steps 2–4, intermediates in fp32, {@code out} rounded once.
     *
     * @param x   {@code [T, d_model]} bf16
     * @param out {@code [T, d_model]} bf16 (or fp32)
     */
    public void forward(Tensor x, Routing routing, Tensor out) {
        checkX(x);
        checkRouting(routing, x);
        checkActivation(out, "out", x.dim(0), dModel());
        checkOutput(out, "out", x, "x");
        if (routing.tokens() > 0) {
            kernel.forward(x, routing, experts, out);
        }
    }

    /**
     * The whole layer: route, permute, expert MLPs, combine; {@code out} rounded once.
     *
     * @param x   {@code [T, d_model]} bf16
     * @param out {@code [T, d_model]} bf16 (or fp32)
     * @return the routing that was used
     */
    public Routing forward(Tensor x, Tensor out) {
        checkX(x);
        checkActivation(out, "out", x.dim(0), dModel());
        checkOutput(out, "out", x, "x");
        Routing routing = route(x);
        if (routing.tokens() > 0) {
            kernel.forward(x, routing, experts, out);
        }
        return routing;
    }

    // ---- checks ---------------------------------------------------------------------------

    private void groupedGemm(Tensor in, String inName, Routing routing, ExpertWeights.Matrix matrix, Tensor out, String outName) {
        checkWeightsAlive();
        Args.notNull(routing, "routing");
        checkRoutingExperts(routing);
        checkActivation(in, inName, routing.copies(), matrix.rows(experts));
        checkActivation(out, outName, routing.copies(), matrix.cols(experts));
        checkOutput(out, outName, in, inName);
        if (routing.copies() > 0) {
            kernel.groupedGemm(in, routing, experts, matrix, out);
        }
    }

    /** x is an open bf16 {@code [T, d_model]}; the weights are open. Returns T. */
    private int checkX(Tensor x) {
        checkWeightsAlive();
        Args.live(x, "x");
        Args.reachable(backend, x, "x");
        Args.dtype(x, "x", DType.BF16);
        if (x.rank() != 2 || x.dim(1) != dModel()) {
            throw new IllegalArgumentException("x has shape " + Arrays.toString(x.shape()) + "; expected [T, d_model] = [*, "
                    + dModel() + "]");
        }
        if (x.dim(0) > Integer.MAX_VALUE / options.k()) {
            throw new IllegalArgumentException("x has " + x.dim(0) + " tokens; accepted: T·k ≤ " + Integer.MAX_VALUE);
        }
        return (int) x.dim(0);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    private void checkWeightsAlive() {
        checkOpen();
        Args.live(routerWeights, "routerWeights");
        if (!experts.isAlive()) {
            throw new IllegalArgumentException("the expert weights (" + experts + ") have a closed tensor");
        }
    }

    private void checkRoutingExperts(Routing routing) {
        if (routing.experts() != experts()) {
            throw new IllegalArgumentException("routing has E = " + routing.experts() + " experts; expected this layer's E = " + experts());
        }
    }

    private void checkRouting(Routing routing, Tensor x) {
        Args.notNull(routing, "routing");
        checkRoutingExperts(routing);
        if (routing.tokens() != x.dim(0)) {
            throw new IllegalArgumentException("routing has T = " + routing.tokens() + " tokens; expected x's T = " + x.dim(0));
        }
    }

    /** An open bf16/fp32 tensor of shape {@code [rows, cols]}. */
    private static void checkActivation(Tensor t, String name, long rows, long cols) {
        Args.live(t, name);
        Args.dtype(t, name, ACTIVATION_DTYPES);
        Args.shape(t, name, rows, cols);
    }

    /** The output is writable, on the input's device, and shares no byte with the input or with any weight. */
    private void checkOutput(Tensor out, String outName, Tensor in, String inName) {
        Args.writable(out, outName);
        Args.sameDevice(in, inName, out, outName);
        Args.reachable(backend, in, inName);
        Args.disjoint(in, inName, out, outName);
        Args.disjoint(routerWeights, "routerWeights", out, outName);
        if (experts.overlaps(out)) {
            throw new IllegalArgumentException(outName + " overlaps the expert weights; it must be separate memory");
        }
    }

    @Override
    public String toString() {
        return "MoeLayer[" + experts + ", k=" + options.k() + (options.renormalize() ? ", renormalized" : "") + ", on "
                + backend.name() + "]";
    }
}
