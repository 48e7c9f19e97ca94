package org.offload4j.cuda.moe;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.w4a16.CudaW4A16Kernels;
import org.offload4j.cuda.w4a16.TcLaunch;
import org.offload4j.cuda.w4a16.TcSplitKPlanner;
import org.offload4j.cuda.w4a16.TcWorkspace;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.ExpertWeightsCache;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * {@link MoeKernel} on a CUDA GPU with the kernels of {@code moe.cu} (launch contracts in
 * {@link MoeLaunch}). The {@link Routing} arrays (offsets, copy → token, token·slot → copy,
 * weights) and the tile list are uploaded per call; host tensors are staged by {@link CudaCall}.
 *
 * <p>Expert weights: {@link Bf16ExpertWeights} are used as they are (staged when on the host, on
 * every call: {@link #prepare} copies them to device memory once, see {@code MoeLayer.prepared()});
 * {@link W4A16ExpertWeights} are concatenated per matrix on the host into the kernel's
 * {@code [E, K/8, N]} / {@code [E, K/g, N/8]} / {@code [E, K/g, N]} tensors on every call (version 1:
 * correct, not fast) on the simple path. Other formats are refused with
 * {@link UnsupportedOperationException}.
 *
 * <p><b>Tensor-core path for W4A16 experts</b> (the default; {@code -Doffload.cuda.w4a16=simple}
 * turns it off, see {@link CudaW4A16Kernels}). Each {@link W4A16ExpertWeights} instance is packed
 * once into the layout of {@code w4a16_tc.cu} and kept on the device ({@link TcExperts}: cached by
 * instance, weakly; freed at the next MoE call once the weights are closed or collected), and
 * the GEMMs are grouped launches of the tensor-core kernel. The plan is chosen for the experts
 * with rows (their count, the largest one's rows); the launch then takes one
 * {@code {expert, row_begin, row_end}} problem per row block of that plan
 * ({@link TcLaunch#problems(int[], int)}, {@link TcLaunch#oneBlockPerProblem}), so grid z counts
 * only the row blocks that hold rows, in launches of at most 65 535. It covers:
 * <ul>
 *   <li>{@link #forward}: x (bf16) is gathered into permuted order on the device (the combine
 *       kernel with one slot of weight 1, an exact copy), then gate|up GEMM → {@code h}, SwiGLU →
 *       {@code a}, down GEMM → {@code y}, combine. {@code h}, {@code a} and {@code y} are
 *       <b>bf16</b> here, not fp32: the tensor-core kernel reads bf16 or fp16 activations and writes
 *       its input's dtype. That is three more roundings (each ≤ 2^-9 relative) than the fp32
 *       contract of {@link MoeKernel}, far inside the op's 1e-2 tolerance; the simple path keeps the
 *       fp32 intermediates.</li>
 *   <li>{@link #expertMlp} when x and y are bf16 (the same bf16 intermediates), and
 *       {@link #groupedGemm} when in and out are bf16 (exactly the contract: one rounding of out);
 *       in both cases the input rows must meet the kernel's load preconditions (16-byte aligned,
 *       row stride a multiple of 8), else the call takes the simple path.</li>
 * </ul>
 * Weights too large for the packed layout take the simple path (W4A16 weights are host tensors by
 * {@code QuantizedWeight}'s contract; both paths pack them on the host). The tensor-core weight rounding (one rounding of
 * {@code (q − z)·s} to bf16 per weight, see {@code docs/ops/w4a16.md}) applies on this path.
 *
 * <p>{@link #expertMlp} and {@link #forward} keep {@code h}, {@code a} and {@code y} in fp32 device
 * scratch; {@link #forward} gathers x rows inside the first GEMM (copy → token map).
 */
public final class CudaMoeKernel implements MoeKernel {
    private final CudaDevice device;
    private final boolean tensorCores;
    /** The packed copies of W4A16 experts on the tensor-core path, per weights object. */
    private final ExpertWeightsCache<TcExperts> tcCache = new ExpertWeightsCache<>();

    /** The kernel with the W4A16 path {@code -Doffload.cuda.w4a16} selects. */
    public CudaMoeKernel(CudaDevice device) {
        this(device, CudaW4A16Kernels.configuredPath() == CudaW4A16Kernels.Path.TC);
    }

    /** @param tensorCores whether W4A16 experts use the tensor-core grouped launch where it applies */
    public CudaMoeKernel(CudaDevice device, boolean tensorCores) {
        this.device = device;
        this.tensorCores = tensorCores;
    }

    /**
     * Bf16 experts in host memory: a copy in this GPU's memory ({@link Bf16ExpertWeights#adopt},
     * freed by its {@code close}), so that calls read them where they are instead of staging
     * {@code 6·E·d_model·d_ff} bytes over PCIe each time; the same bytes, so the same results bit for
     * bit. Anything else as it is: bf16 experts already on the device, and W4A16 experts, whose
     * tensor-core layout is packed and uploaded once at their first call ({@link TcExperts}).
     */
    @Override
    public ExpertWeights prepare(ExpertWeights weights) {
        if (!(weights instanceof Bf16ExpertWeights bf) || !bf.w1().device().hostAddressable()) {
            return weights; // Bf16ExpertWeights keeps w1 and w2 on one device
        }
        Tensor w1 = null;
        Tensor w2 = null;
        try {
            w1 = device.copyOf(bf.w1());
            w2 = device.copyOf(bf.w2());
            return Bf16ExpertWeights.adopt(w1, w2);
        } catch (RuntimeException | Error e) {
            closeAll(w1, w2);
            throw e;
        }
    }

    private static void closeAll(Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null) {
                t.close();
            }
        }
    }

    /** The packed experts when the tensor-core path takes {@code weights}, else null. */
    private TcExperts tc(ExpertWeights weights) {
        if (tensorCores && weights instanceof W4A16ExpertWeights w4 && TcExperts.covers(w4)) {
            return tcCache.get(w4, w -> TcExperts.pack(device, w4));
        }
        return null;
    }

    /** Packed expert sets held now (for tests). */
    int tcCacheSize() {
        return tcCache.size();
    }

    @Override
    public void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
        tcCache.expunge();
        int tokens = (int) x.rows();
        if (tokens == 0) {
            return;
        }
        int dModel = (int) x.cols();
        int experts = (int) routerWeights.cols();
        try (Arena temps = Arena.ofConfined(); CudaCall call = CudaCall.begin(device)) {
            Tensor ids = Tensor.allocate(temps, DType.INT32, (long) tokens * k);
            Tensor w = Tensor.allocate(temps, DType.FP32, (long) tokens * k);
            long xa = call.in(x);
            long wr = call.in(routerWeights);
            long logits = call.scratch(4L * tokens * experts);
            long idsA = call.out(ids);
            long wA = call.out(w);
            MoeLaunch.Grid g = MoeLaunch.routerLogits(tokens, experts);
            MoeLaunch.routerLogitsParams(call.params(), xa, x.rowStride(), wr, routerWeights.dtype() == DType.BF16,
                    routerWeights.rowStride(), logits, tokens, dModel, experts);
            launch(call, g);
            g = MoeLaunch.routerTopk(tokens);
            MoeLaunch.routerTopkParams(call.params(), logits, tokens, experts, k, renormalize, idsA, wA);
            launch(call, g);
            call.finish();
            MemorySegment.copy(ids.segment(), ValueLayout.JAVA_INT, 0, expertIds, 0, tokens * k);
            MemorySegment.copy(w.segment(), ValueLayout.JAVA_FLOAT, 0, weights, 0, tokens * k);
        }
    }

    @Override
    public void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out) {
        tcCache.expunge();
        if (routing.copies() == 0) {
            return;
        }
        TcExperts tc = in.dtype() == DType.BF16 && out.dtype() == DType.BF16 ? tc(weights) : null;
        if (tc != null && groupedGemmTc(tc, in, routing, matrix, out)) {
            return;
        }
        try (Arena temps = Arena.ofConfined(); CudaCall call = CudaCall.begin(device)) {
            long offsets = call.upload(routing.offsets());
            int[] tileList = MoeLaunch.tiles(routing.offsets());
            long tiles = call.upload(tileList);
            gemm(call, temps, weights, matrix, call.in(in), in.dtype() == DType.BF16, in.rowStride(), 0,
                    offsets, tiles, tileList.length / 2, call.out(out), out.dtype() == DType.BF16, out.rowStride());
            call.finish();
        }
    }

    @Override
    public void swiglu(Tensor h, Tensor a) {
        tcCache.expunge();
        int rows = (int) h.rows();
        if (rows == 0) {
            return;
        }
        try (CudaCall call = CudaCall.begin(device)) {
            long ha = call.in(h);
            long aa = call.out(a);
            MoeLaunch.swigluParams(call.params(), ha, h.dtype() == DType.BF16, h.rowStride(), aa, a.dtype() == DType.BF16,
                    a.rowStride(), rows, (int) a.cols());
            launch(call, MoeLaunch.swiglu(rows, (int) a.cols()));
            call.finish();
        }
    }

    @Override
    public void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) {
        tcCache.expunge();
        if (routing.copies() == 0) {
            return;
        }
        TcExperts tc = xPermuted.dtype() == DType.BF16 && y.dtype() == DType.BF16 ? tc(weights) : null;
        if (tc != null && expertMlpTc(tc, xPermuted, routing, y)) {
            return;
        }
        try (Arena temps = Arena.ofConfined(); CudaCall call = CudaCall.begin(device)) {
            long xa = call.in(xPermuted);
            long ya = call.out(y);
            mlp(call, temps, routing, weights, xa, xPermuted.dtype() == DType.BF16, xPermuted.rowStride(), 0,
                    ya, y.dtype() == DType.BF16, y.rowStride());
            call.finish();
        }
    }

    @Override
    public void combine(Tensor y, Routing routing, Tensor out) {
        tcCache.expunge();
        if (routing.tokens() == 0) {
            return;
        }
        try (CudaCall call = CudaCall.begin(device)) {
            long ya = call.in(y);
            long oa = call.out(out);
            combine(call, routing, ya, y.dtype() == DType.BF16, y.rowStride(), oa, out.dtype() == DType.BF16,
                    out.rowStride(), (int) out.cols());
            call.finish();
        }
    }

    @Override
    public void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) {
        tcCache.expunge();
        if (routing.tokens() == 0) {
            return;
        }
        int dModel = weights.dModel();
        TcExperts tc = tc(weights);
        if (tc != null) {
            forwardTc(tc, x, routing, out);
            return;
        }
        try (Arena temps = Arena.ofConfined(); CudaCall call = CudaCall.begin(device)) {
            long xa = call.in(x);
            long oa = call.out(out);
            long inRows = call.upload(routing.copyToToken());
            long y = call.scratch(4L * routing.copies() * dModel);
            mlp(call, temps, routing, weights, xa, x.dtype() == DType.BF16, x.rowStride(), inRows, y, false, dModel);
            combine(call, routing, y, false, dModel, oa, out.dtype() == DType.BF16, out.rowStride(), dModel);
            call.finish();
        }
    }

    // ---- the tensor-core path ---------------------------------------------------------------

    /**
     * The grouped launches of one call: the problem list on the device and a plan per matrix. A
     * matrix's problems go in chunks of {@link TcLaunch#problemsPerLaunch} problems, one launch each.
     */
    private record TcGroup(long problems, int count, TcSplitKPlanner.Plan gateUp, TcSplitKPlanner.Plan down) {
        /** Grid z of the largest launch of {@code plan}: what its workspace is sized for. */
        long zBlocks(TcSplitKPlanner.Plan plan) {
            return (long) Math.min(count, TcLaunch.problemsPerLaunch(plan)) * plan.mBlocks();
        }
    }

    /**
     * The problems and plans of one call. The plans are chosen for the experts as before (their
     * count and the largest one's rows); the launches then take one problem per row block
     * ({@link TcLaunch#oneBlockPerProblem}), so a skewed routing launches the row blocks that hold
     * rows, not every expert times the largest one's blocks (256 experts, one with 16 448 rows:
     * 512 z-blocks instead of 65 792), and the SplitK workspace shrinks with them.
     */
    private TcGroup tcGroup(CudaCall call, TcExperts tc, Routing routing, boolean needGateUp, boolean needDown) {
        int[] perExpert = TcLaunch.problems(routing.offsets());
        int experts = perExpert.length / 3;
        int maxRows = TcLaunch.maxRows(perExpert);
        TcSplitKPlanner.Plan a = needGateUp ? plan(tc.matrix(ExpertWeights.Matrix.GATE_UP).weight(), experts, maxRows) : null;
        TcSplitKPlanner.Plan b = needDown ? plan(tc.matrix(ExpertWeights.Matrix.DOWN).weight(), experts, maxRows) : null;
        int rowsPerBlock = (a != null ? a : b).rowsPerBlock();
        if (a != null && b != null && a.rowsPerBlock() != rowsPerBlock) {
            throw new IllegalStateException("the two plans' row blocks differ (" + a + ", " + b + "): one problem list cannot serve both");
        }
        int[] blocks = TcLaunch.problems(routing.offsets(), rowsPerBlock);
        TcGroup g = new TcGroup(call.upload(blocks), blocks.length / 3, a == null ? null : TcLaunch.oneBlockPerProblem(a),
                b == null ? null : TcLaunch.oneBlockPerProblem(b));
        // Size the workspace once for both launches: growing it between them would free memory the
        // first launch may still be using.
        long partials = 0;
        long counters = 0;
        for (TcSplitKPlanner.Plan p : new TcSplitKPlanner.Plan[] {a, b}) {
            if (p != null) {
                partials = Math.max(partials, TcLaunch.partialsBytes(p, g.zBlocks(p)));
                counters = Math.max(counters, TcLaunch.counterCount(p, g.zBlocks(p)));
            }
        }
        tc.workspace().partials(partials);
        tc.workspace().counters(call, counters);
        return g;
    }

    private TcSplitKPlanner.Plan plan(TcLaunch.DeviceWeight w, int count, int maxRows) {
        return TcLaunch.groupedPlan(count, maxRows, w.n(), w.k(), w.groupSize(), device.smCount());
    }

    /**
     * The grouped launches of one matrix: {@code out[p] = in[p] · M[e(p)]}, bf16 in and out. One
     * launch per chunk of problems; they run one after the other on the call's stream, so they
     * share the workspace (each leaves its counters zero).
     */
    private void launchTc(CudaCall call, TcExperts tc, TcGroup g, ExpertWeights.Matrix matrix, long in, long inLd, long out,
                          long outLd, int rows) {
        TcSplitKPlanner.Plan plan = matrix == ExpertWeights.Matrix.GATE_UP ? g.gateUp() : g.down();
        TcWorkspace ws = tc.workspace();
        long zMax = g.zBlocks(plan);
        long partials = ws.partials(TcLaunch.partialsBytes(plan, zMax));
        long counters = ws.counters(call, TcLaunch.counterCount(plan, zMax));
        int perLaunch = TcLaunch.problemsPerLaunch(plan);
        for (int first = 0; first < g.count(); first += perLaunch) {
            int chunk = Math.min(perLaunch, g.count() - first);
            TcLaunch.params(call.params(), in, tc.matrix(matrix).weight(), 0, false, 0, out, partials, counters,
                    g.problems() + 12L * first, rows, inLd, outLd, plan);
            call.launch(device.function(TcLaunch.kernel(plan, DType.BF16).symbol()), plan.nTiles(), plan.splits(),
                    chunk * plan.mBlocks(), TcSplitKPlanner.THREADS, 1, 1, plan.smemBytes());
        }
    }

    /** gate|up → h (bf16) → SwiGLU → a (bf16) → down → y (bf16). */
    private void mlpTc(CudaCall call, TcExperts tc, TcGroup g, Routing routing, long in, long inLd, long y, long yLd) {
        int p = routing.copies();
        int dFf = tc.matrix(ExpertWeights.Matrix.DOWN).weight().k();
        long h = call.scratch(2L * p * 2 * dFf);
        long a = call.scratch(2L * p * dFf);
        launchTc(call, tc, g, ExpertWeights.Matrix.GATE_UP, in, inLd, h, 2L * dFf, p);
        MoeLaunch.swigluParams(call.params(), h, true, 2L * dFf, a, true, dFf, p, dFf);
        launch(call, MoeLaunch.swiglu(p, dFf));
        launchTc(call, tc, g, ExpertWeights.Matrix.DOWN, a, dFf, y, yLd, p);
    }

    private void forwardTc(TcExperts tc, Tensor x, Routing routing, Tensor out) {
        int p = routing.copies();
        int dModel = tc.matrix(ExpertWeights.Matrix.GATE_UP).weight().k();
        TcWorkspace ws = tc.workspace();
        ws.lock();
        try (CudaCall call = CudaCall.begin(device)) {
            boolean done = false;
            try {
                long xa = call.in(x);
                long oa = call.out(out);
                // gather: xg[p] = 1 · x[token(p)], the combine kernel with P "tokens" of one slot (exact)
                long xg = call.scratch(2L * p * dModel);
                long rows = call.upload(routing.copyToToken());
                float[] ones = new float[p];
                java.util.Arrays.fill(ones, 1f);
                MoeLaunch.combineParams(call.params(), xa, true, x.rowStride(), rows, call.upload(ones), 1, xg, true, dModel,
                        p, dModel);
                launch(call, MoeLaunch.combine(p, dModel));
                TcGroup g = tcGroup(call, tc, routing, true, true);
                long y = call.scratch(2L * p * dModel);
                mlpTc(call, tc, g, routing, xg, dModel, y, dModel);
                combine(call, routing, y, true, dModel, oa, out.dtype() == DType.BF16, out.rowStride(), dModel);
                call.finish();
                done = true;
            } finally {
                if (!done) {
                    ws.markDirty();
                }
            }
        } finally {
            ws.unlock();
        }
    }

    /** False (nothing done) when the rows do not meet the kernel's preconditions. */
    private boolean expertMlpTc(TcExperts tc, Tensor xPermuted, Routing routing, Tensor y) {
        return runTc(tc, xPermuted, y, (call, in) -> {
            TcGroup g = tcGroup(call, tc, routing, true, true);
            mlpTc(call, tc, g, routing, in, xPermuted.rowStride(), call.out(y), y.rowStride());
        });
    }

    /** False (nothing done) when the rows do not meet the kernel's preconditions. */
    private boolean groupedGemmTc(TcExperts tc, Tensor in, Routing routing, ExpertWeights.Matrix matrix, Tensor out) {
        boolean gateUp = matrix == ExpertWeights.Matrix.GATE_UP;
        return runTc(tc, in, out, (call, ia) -> {
            TcGroup g = tcGroup(call, tc, routing, gateUp, !gateUp);
            launchTc(call, tc, g, matrix, ia, in.rowStride(), call.out(out), out.rowStride(), routing.copies());
        });
    }

    private interface TcBody {
        void run(CudaCall call, long in);
    }

    /** Stages {@code in}, checks the preconditions, runs {@code body} with the workspace held, finishes. */
    private boolean runTc(TcExperts tc, Tensor in, Tensor out, TcBody body) {
        if (!TcLaunch.yFits(out.rowStride()) || in.rowStride() % 8 != 0) {
            return false;
        }
        TcWorkspace ws = tc.workspace();
        ws.lock();
        try (CudaCall call = CudaCall.begin(device)) {
            boolean done = false;
            try {
                long ia = call.in(in);
                if (!TcLaunch.xAligned(ia, in.rowStride())) {
                    done = true;    // nothing launched: the workspace is untouched
                    return false;
                }
                body.run(call, ia);
                call.finish();
                done = true;
            } finally {
                if (!done) {
                    ws.markDirty();
                }
            }
        } finally {
            ws.unlock();
        }
        return true;
    }

    // ---- launches shared by the methods ------------------------------------------------------

    /** gate/up GEMM → h (fp32 scratch) → SwiGLU → a (fp32 scratch) → down GEMM → y. */
    private void mlp(CudaCall call, Arena temps, Routing routing, ExpertWeights weights, long in, boolean inBf16, long inLd,
                     long inRows, long y, boolean yBf16, long yLd) {
        int p = routing.copies();
        int dFf = weights.dFf();
        long offsets = call.upload(routing.offsets());
        int[] tileList = MoeLaunch.tiles(routing.offsets());
        long tiles = call.upload(tileList);
        int nTiles = tileList.length / 2;
        long h = call.scratch(4L * p * 2 * dFf);
        long a = call.scratch(4L * p * dFf);
        gemm(call, temps, weights, ExpertWeights.Matrix.GATE_UP, in, inBf16, inLd, inRows, offsets, tiles, nTiles, h, false,
                2L * dFf);
        MoeLaunch.swigluParams(call.params(), h, false, 2L * dFf, a, false, dFf, p, dFf);
        launch(call, MoeLaunch.swiglu(p, dFf));
        gemm(call, temps, weights, ExpertWeights.Matrix.DOWN, a, false, dFf, 0, offsets, tiles, nTiles, y, yBf16, yLd);
    }

    private void gemm(CudaCall call, Arena temps, ExpertWeights weights, ExpertWeights.Matrix matrix, long in, boolean inBf16,
                      long inLd, long inRows, long offsets, long tiles, int nTiles, long out, boolean outBf16, long outLd) {
        int k = matrix.rows(weights);
        int n = matrix.cols(weights);
        if (weights instanceof Bf16ExpertWeights bf) {
            Tensor w = bf.tensor(matrix);
            long wa = call.in(w);
            MoeLaunch.gemmBf16Params(call.params(), in, inBf16, inLd, inRows, wa, w.rowStride(), k, n, offsets, tiles,
                    out, outBf16, outLd);
            launch(call, MoeLaunch.groupedGemm(false, nTiles, n));
        } else if (weights instanceof W4A16ExpertWeights w4) {
            Int4Pack pack = Int4Pack.of(w4, matrix, temps);
            long qw = call.in(pack.qweight());
            long qz = pack.qzeros() == null ? 0 : call.in(pack.qzeros());
            long sc = call.in(pack.scales());
            MoeLaunch.gemmW4a16Params(call.params(), in, inBf16, inLd, inRows, qw, qz, sc, pack.scaleType(),
                    pack.group(), k, n, offsets, tiles, out, outBf16, outLd);
            launch(call, MoeLaunch.groupedGemm(true, nTiles, n));
        } else {
            throw new UnsupportedOperationException("the CUDA MoE kernels take bf16 or W4A16 expert weights; got "
                    + weights.format() + " (" + weights + ")");
        }
    }

    private void combine(CudaCall call, Routing routing, long y, boolean yBf16, long yLd, long out, boolean outBf16,
                         long outLd, int dModel) {
        long copyOf = call.upload(routing.tokenSlotToCopy());
        long w = call.upload(routing.weights());
        MoeLaunch.combineParams(call.params(), y, yBf16, yLd, copyOf, w, routing.k(), out, outBf16, outLd,
                routing.tokens(), dModel);
        launch(call, MoeLaunch.combine(routing.tokens(), dModel));
    }

    private void launch(CudaCall call, MoeLaunch.Grid g) {
        call.launch(device.function(g.kernel()), g.gridX(), g.gridY(), 1, g.blockX(), 1, 1, g.sharedBytes());
    }

    /**
     * The E quantized matrices of one kind concatenated, contiguous, on the host:
     * {@code qweight [E·K/8, N]}, {@code qzeros [E·K/g, N/8]} (null when symmetric), {@code scales [E·K/g, N]}.
     */
    record Int4Pack(Tensor qweight, Tensor qzeros, Tensor scales, int scaleType, int group) {
        static Int4Pack of(W4A16ExpertWeights w, ExpertWeights.Matrix matrix, Arena arena) {
            int experts = w.experts();
            QuantizedWeight first = w.weight(matrix, 0);
            int k = first.k();
            int n = first.n();
            int g = first.groupSize();
            Tensor qweight = Tensor.allocate(arena, DType.INT32, (long) experts * (k / 8), n);
            Tensor qzeros = first.symmetric() ? null : Tensor.allocate(arena, DType.INT32, (long) experts * (k / g), n / 8);
            Tensor scales = Tensor.allocate(arena, first.scaleType(), (long) experts * (k / g), n);
            for (int e = 0; e < experts; e++) {
                QuantizedWeight q = w.weight(matrix, e);
                copyRowsInto(q.qweight(), qweight, (long) e * (k / 8));
                if (qzeros != null) {
                    copyRowsInto(q.qzeros(), qzeros, (long) e * (k / g));
                }
                copyRowsInto(q.scales(), scales, (long) e * (k / g));
            }
            int type = switch (first.scaleType()) {
                case FP32 -> 0;
                case BF16 -> 1;
                case FP16 -> 2;
                default -> throw new IllegalStateException("scale dtype " + first.scaleType());
            };
            return new Int4Pack(qweight, qzeros, scales, type, g);
        }

        private static void copyRowsInto(Tensor src, Tensor dst, long dstRow0) {
            long rowBytes = src.dtype().byteSize(src.cols());
            for (long r = 0; r < src.rows(); r++) {
                MemorySegment.copy(src.segment(), src.rowByteOffset(r), dst.segment(), dst.rowByteOffset(dstRow0 + r), rowBytes);
            }
        }
    }

    @Override
    public String toString() {
        return "CudaMoeKernel on " + device;
    }

    static List<String> kernelNames() {
        return List.of(MoeLaunch.ROUTER_LOGITS, MoeLaunch.ROUTER_TOPK, MoeLaunch.GEMM_BF16, MoeLaunch.GEMM_W4A16,
                MoeLaunch.SWIGLU, MoeLaunch.COMBINE);
    }
}
