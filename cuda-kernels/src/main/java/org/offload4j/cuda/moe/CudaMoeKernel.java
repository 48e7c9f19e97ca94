package org.offload4j.cuda.moe;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * {@link MoeKernel} on a CUDA GPU with the kernels of {@code moe.cu} (launch contracts in
 * {@link MoeLaunch}). The {@link Routing} arrays (offsets, copy → token, token·slot → copy,
 * weights) and the tile list are uploaded per call; host tensors are staged by {@link CudaCall}.
 *
 * <p>Expert weights: {@link Bf16ExpertWeights} are used as they are (staged when on the host);
 * {@link W4A16ExpertWeights} are concatenated per matrix on the host into the kernel's
 * {@code [E, K/8, N]} / {@code [E, K/g, N/8]} / {@code [E, K/g, N]} tensors on every call (version 1:
 * correct, not fast; a prepared device copy is the next step). Other formats are refused with
 * {@link UnsupportedOperationException}.
 *
 * <p>{@link #expertMlp} and {@link #forward} keep {@code h}, {@code a} and {@code y} in fp32 device
 * scratch; {@link #forward} gathers x rows inside the first GEMM (copy → token map).
 */
public final class CudaMoeKernel implements MoeKernel {
    private final CudaDevice device;

    public CudaMoeKernel(CudaDevice device) {
        this.device = device;
    }

    @Override
    public void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
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
        if (routing.copies() == 0) {
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
        if (routing.copies() == 0) {
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
        if (routing.tokens() == 0) {
            return;
        }
        int dModel = weights.dModel();
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
            if (!src.device().hostAddressable()) {
                throw new UnsupportedOperationException("W4A16 expert weights on a device are not supported by the CUDA MoE"
                        + " kernels yet (they are concatenated on the host); got " + src.describe());
            }
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
