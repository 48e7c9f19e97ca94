package org.offload4j.cuda.moe;

import org.offload4j.cuda.driver.KernelParams;

/**
 * The launch contracts of the MoE kernels of {@code src/main/cuda/moe.cu}, in Java: grid, block
 * and shared memory per kernel, the grouped-GEMM tile list, and each kernel's arguments in order.
 * Pure arithmetic (no CUDA), unit-tested on the CPU; the header comments of {@code moe.cu} are the
 * other half of the contract.
 *
 * <pre>
 *   o4j_moe_router_logits       grid (ceil(E/128)·ceil(T/8))   block 128   smem 0
 *   o4j_moe_router_topk         grid (ceil(T/4))               block 128   smem 0
 *   o4j_moe_grouped_gemm_bf16   grid (tiles, ceil(N/128))      block 128   smem 0
 *   o4j_moe_grouped_gemm_w4a16  grid (tiles, ceil(N/128))      block 128   smem 0
 *   o4j_moe_swiglu              grid (rows, ceil(d_ff/256))    block 256   smem 0
 *   o4j_moe_combine             grid (T, ceil(d_model/256))    block 256   smem 0
 * </pre>
 * Activation dtype flags are 1 for bf16 and 0 for fp32; scale types 0 fp32, 1 bf16, 2 fp16.
 */
public final class MoeLaunch {
    private MoeLaunch() {
    }

    /** Rows per grouped-GEMM tile. */
    public static final int GEMM_BM = 16;
    /** Columns per grouped-GEMM block (= threads). */
    public static final int GEMM_THREADS = 128;
    public static final int ROUTER_THREADS = 128;
    public static final int ROUTER_TOKENS = 8;
    public static final int TOPK_TOKENS_PER_BLOCK = 4;
    public static final int ELEM_THREADS = 256;
    /** gridDim.y and gridDim.z limit. */
    static final int GRID_YZ_MAX = 65535;

    public static final String ROUTER_LOGITS = "o4j_moe_router_logits";
    public static final String ROUTER_TOPK = "o4j_moe_router_topk";
    public static final String GEMM_BF16 = "o4j_moe_grouped_gemm_bf16";
    public static final String GEMM_W4A16 = "o4j_moe_grouped_gemm_w4a16";
    public static final String SWIGLU = "o4j_moe_swiglu";
    public static final String COMBINE = "o4j_moe_combine";

    /**
     * One launch: kernel, grid {@code (gridX, gridY, 1)}, block {@code (blockX, 1, 1)}, dynamic
     * shared memory.
     */
    public record Grid(String kernel, int gridX, int gridY, int blockX, int sharedBytes) {
    }

    public static Grid routerLogits(int tokens, int experts) {
        long blocks = (long) ceilDiv(experts, ROUTER_THREADS) * ceilDiv(tokens, ROUTER_TOKENS);
        return new Grid(ROUTER_LOGITS, checkX(blocks, ROUTER_LOGITS), 1, ROUTER_THREADS, 0);
    }

    public static Grid routerTopk(int tokens) {
        return new Grid(ROUTER_TOPK, ceilDiv(tokens, TOPK_TOKENS_PER_BLOCK), 1, 32 * TOPK_TOKENS_PER_BLOCK, 0);
    }

    /** A grouped GEMM over {@code tiles} tiles with {@code n} output columns. */
    public static Grid groupedGemm(boolean int4, int tiles, int n) {
        String name = int4 ? GEMM_W4A16 : GEMM_BF16;
        return new Grid(name, tiles, checkY(ceilDiv(n, GEMM_THREADS), name), GEMM_THREADS, 0);
    }

    public static Grid swiglu(int rows, int dFf) {
        return new Grid(SWIGLU, rows, checkY(ceilDiv(dFf, ELEM_THREADS), SWIGLU), ELEM_THREADS, 0);
    }

    public static Grid combine(int tokens, int dModel) {
        return new Grid(COMBINE, tokens, checkY(ceilDiv(dModel, ELEM_THREADS), COMBINE), ELEM_THREADS, 0);
    }

    /**
     * The grouped-GEMM tile list for {@code offsets} ({@code [E + 1]}, {@code Routing.offsets()}):
     * int32 pairs {@code (expert, row0)}, expert by expert, each expert's rows cut into tiles of
     * {@link #GEMM_BM}; experts without rows have none. Same as {@code moe_build_tiles} in
     * {@code moe_numerics.cuh}.
     */
    public static int[] tiles(int[] offsets) {
        int experts = offsets.length - 1;
        int n = 0;
        for (int e = 0; e < experts; e++) {
            n += ceilDiv(offsets[e + 1] - offsets[e], GEMM_BM);
        }
        int[] tiles = new int[2 * n];
        int t = 0;
        for (int e = 0; e < experts; e++) {
            for (int r = offsets[e]; r < offsets[e + 1]; r += GEMM_BM) {
                tiles[t++] = e;
                tiles[t++] = r;
            }
        }
        return tiles;
    }

    // ---- arguments, in each kernel's order ----------------------------------------------------

    public static KernelParams routerLogitsParams(KernelParams p, long x, long xLd, long wr, boolean wrBf16, long wrLd,
                                                  long logits, int tokens, int dModel, int experts) {
        return p.clear().pointer(x).i64(xLd).pointer(wr).i32(flag(wrBf16)).i64(wrLd).pointer(logits)
                .i32(tokens).i32(dModel).i32(experts);
    }

    public static KernelParams routerTopkParams(KernelParams p, long logits, int tokens, int experts, int k,
                                                boolean renormalize, long expertIds, long weights) {
        return p.clear().pointer(logits).i32(tokens).i32(experts).i32(k).i32(flag(renormalize))
                .pointer(expertIds).pointer(weights);
    }

    /** {@code inRows} may be 0 (identity). */
    public static KernelParams gemmBf16Params(KernelParams p, long in, boolean inBf16, long inLd, long inRows,
                                              long w, long wLd, int k, int n, long offsets, long tiles,
                                              long out, boolean outBf16, long outLd) {
        return p.clear().pointer(in).i32(flag(inBf16)).i64(inLd).pointer(inRows)
                .pointer(w).i64(wLd).i32(k).i32(n)
                .pointer(offsets).pointer(tiles)
                .pointer(out).i32(flag(outBf16)).i64(outLd);
    }

    /** {@code qzeros} 0 for symmetric weights; {@code scaleType} 0 fp32, 1 bf16, 2 fp16. */
    public static KernelParams gemmW4a16Params(KernelParams p, long in, boolean inBf16, long inLd, long inRows,
                                               long qweight, long qzeros, long scales, int scaleType, int group,
                                               int k, int n, long offsets, long tiles,
                                               long out, boolean outBf16, long outLd) {
        return p.clear().pointer(in).i32(flag(inBf16)).i64(inLd).pointer(inRows)
                .pointer(qweight).pointer(qzeros).pointer(scales).i32(scaleType).i32(group).i32(k).i32(n)
                .pointer(offsets).pointer(tiles)
                .pointer(out).i32(flag(outBf16)).i64(outLd);
    }

    public static KernelParams swigluParams(KernelParams p, long h, boolean hBf16, long hLd, long a, boolean aBf16,
                                            long aLd, int rows, int dFf) {
        return p.clear().pointer(h).i32(flag(hBf16)).i64(hLd).pointer(a).i32(flag(aBf16)).i64(aLd)
                .i32(rows).i32(dFf);
    }

    public static KernelParams combineParams(KernelParams p, long y, boolean yBf16, long yLd, long copyOf,
                                             long weights, int k, long out, boolean outBf16, long outLd,
                                             int tokens, int dModel) {
        return p.clear().pointer(y).i32(flag(yBf16)).i64(yLd).pointer(copyOf).pointer(weights).i32(k)
                .pointer(out).i32(flag(outBf16)).i64(outLd).i32(tokens).i32(dModel);
    }

    static int flag(boolean b) {
        return b ? 1 : 0;
    }

    static int ceilDiv(int a, int b) {
        return (int) (((long) a + b - 1) / b);
    }

    private static int checkX(long blocks, String kernel) {
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(kernel + ": grid of " + blocks + " blocks exceeds 2^31 − 1");
        }
        return (int) blocks;
    }

    private static int checkY(int blocks, String kernel) {
        if (blocks > GRID_YZ_MAX) {
            throw new IllegalArgumentException(kernel + ": gridDim.y = " + blocks + " exceeds " + GRID_YZ_MAX);
        }
        return blocks;
    }
}
