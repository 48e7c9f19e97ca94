package org.offload4j.cuda.kernels;

/**
 * Every {@code extern "C" __global__} entry point in {@code offload4j.fatbin}, by the name
 * {@code cuModuleGetFunction} looks up. The single Java-side list of kernels: a test checks it
 * against the {@code .cu} sources and against the names the build recorded.
 */
public enum KernelName {
    /** Hadamard, fp32 rows: {@code hadamard.cu}, launch in {@code HadamardLaunch}. */
    HADAMARD_F32("o4j_hadamard_f32"),
    /** Hadamard, bf16 rows. */
    HADAMARD_BF16("o4j_hadamard_bf16"),
    /** Hadamard, fp16 rows. */
    HADAMARD_F16("o4j_hadamard_f16"),
    /** W4A16 stage 1 (SplitK partial sums), bf16 x: {@code w4a16.cu}, launch in {@code W4A16Launch}. */
    W4A16_SPLITK_BF16("o4j_w4a16_splitk_bf16"),
    /** W4A16 stage 1, fp16 x. */
    W4A16_SPLITK_F16("o4j_w4a16_splitk_f16"),
    /** W4A16 stage 2 (fixed-order reduce, bias, rounding), bf16 y. */
    W4A16_REDUCE_BF16("o4j_w4a16_reduce_bf16"),
    /** W4A16 stage 2, fp16 y. */
    W4A16_REDUCE_F16("o4j_w4a16_reduce_f16"),
    /** W4A16 act-order column gather (16-bit values, either dtype), before either W4A16 path; launch in {@code ActOrderGather}. */
    W4A16_GATHER_COLUMNS("o4j_w4a16_gather_columns"),
    /** FP8 attention forward, D = 64: {@code attention.cu}, launch in {@code AttentionLaunch}. */
    ATTENTION_FP8_FWD_D64("o4j_attention_fp8_fwd_d64"),
    /** FP8 attention forward, D = 128. */
    ATTENTION_FP8_FWD_D128("o4j_attention_fp8_fwd_d128"),
    /** FP8 attention forward, D = 256. */
    ATTENTION_FP8_FWD_D256("o4j_attention_fp8_fwd_d256"),
    /** MoE router logits X·Wr: {@code moe.cu}, launch in {@code MoeLaunch}. */
    MOE_ROUTER_LOGITS("o4j_moe_router_logits"),
    /** MoE softmax and top-k per token. */
    MOE_ROUTER_TOPK("o4j_moe_router_topk"),
    /** MoE grouped GEMM over bf16 expert weights. */
    MOE_GROUPED_GEMM_BF16("o4j_moe_grouped_gemm_bf16"),
    /** MoE grouped GEMM over W4A16 expert weights. */
    MOE_GROUPED_GEMM_W4A16("o4j_moe_grouped_gemm_w4a16"),
    /** MoE SwiGLU of gate|up. */
    MOE_SWIGLU("o4j_moe_swiglu"),
    /** MoE weighted combine back to tokens. */
    MOE_COMBINE("o4j_moe_combine"),
    /** W4A16 tensor-core SplitK ({@code w4a16_tc.cu}, plan in {@code TcSplitKPlanner}): x dtype, rows per block, columns per block. */
    W4A16_TC_F16_M16_N64("o4j_w4a16_tc_f16_m16_n64"),
    W4A16_TC_F16_M16_N128("o4j_w4a16_tc_f16_m16_n128"),
    W4A16_TC_F16_M16_N256("o4j_w4a16_tc_f16_m16_n256"),
    W4A16_TC_F16_M32_N64("o4j_w4a16_tc_f16_m32_n64"),
    W4A16_TC_F16_M32_N128("o4j_w4a16_tc_f16_m32_n128"),
    W4A16_TC_F16_M32_N256("o4j_w4a16_tc_f16_m32_n256"),
    W4A16_TC_F16_M64_N64("o4j_w4a16_tc_f16_m64_n64"),
    W4A16_TC_F16_M64_N128("o4j_w4a16_tc_f16_m64_n128"),
    W4A16_TC_F16_M64_N256("o4j_w4a16_tc_f16_m64_n256"),
    W4A16_TC_BF16_M16_N64("o4j_w4a16_tc_bf16_m16_n64"),
    W4A16_TC_BF16_M16_N128("o4j_w4a16_tc_bf16_m16_n128"),
    W4A16_TC_BF16_M16_N256("o4j_w4a16_tc_bf16_m16_n256"),
    W4A16_TC_BF16_M32_N64("o4j_w4a16_tc_bf16_m32_n64"),
    W4A16_TC_BF16_M32_N128("o4j_w4a16_tc_bf16_m32_n128"),
    W4A16_TC_BF16_M32_N256("o4j_w4a16_tc_bf16_m32_n256"),
    W4A16_TC_BF16_M64_N64("o4j_w4a16_tc_bf16_m64_n64"),
    W4A16_TC_BF16_M64_N128("o4j_w4a16_tc_bf16_m64_n128"),
    W4A16_TC_BF16_M64_N256("o4j_w4a16_tc_bf16_m64_n256"),
    /** Tensor-core Hadamard ({@code hadacore_tc.cu}, launch in {@code HadaCoreLaunch}): R register tiles, or K = log2 d with shared memory. */
    HADAMARD_TC_M_R1_BF16("o4j_hadamard_tc_m_r1_bf16"),
    HADAMARD_TC_M_R2_BF16("o4j_hadamard_tc_m_r2_bf16"),
    HADAMARD_TC_M_R4_BF16("o4j_hadamard_tc_m_r4_bf16"),
    HADAMARD_TC_M_R8_BF16("o4j_hadamard_tc_m_r8_bf16"),
    HADAMARD_TC_M_R1_F16("o4j_hadamard_tc_m_r1_f16"),
    HADAMARD_TC_M_R2_F16("o4j_hadamard_tc_m_r2_f16"),
    HADAMARD_TC_M_R4_F16("o4j_hadamard_tc_m_r4_f16"),
    HADAMARD_TC_M_R8_F16("o4j_hadamard_tc_m_r8_f16"),
    HADAMARD_TC_M_R1_F32("o4j_hadamard_tc_m_r1_f32"),
    HADAMARD_TC_M_R2_F32("o4j_hadamard_tc_m_r2_f32"),
    HADAMARD_TC_M_R4_F32("o4j_hadamard_tc_m_r4_f32"),
    /** Fused Hadamard + FP8 quantize (hadacore_tc.cu): the amax launch and the quantizing launch. */
    HADAMARD_TC_REGS1_BF16_AMAX("o4j_hadamard_tc_regs1_bf16_amax"),
    HADAMARD_TC_REGS1_BF16_FP8("o4j_hadamard_tc_regs1_bf16_fp8"),
    HADAMARD_TC_REGS2_BF16_AMAX("o4j_hadamard_tc_regs2_bf16_amax"),
    HADAMARD_TC_REGS2_BF16_FP8("o4j_hadamard_tc_regs2_bf16_fp8"),
    HADAMARD_TC_REGS4_BF16_AMAX("o4j_hadamard_tc_regs4_bf16_amax"),
    HADAMARD_TC_REGS4_BF16_FP8("o4j_hadamard_tc_regs4_bf16_fp8"),
    HADAMARD_TC_REGS8_BF16_AMAX("o4j_hadamard_tc_regs8_bf16_amax"),
    HADAMARD_TC_REGS8_BF16_FP8("o4j_hadamard_tc_regs8_bf16_fp8"),
    HADAMARD_TC_SMEM12_BF16_AMAX("o4j_hadamard_tc_smem12_bf16_amax"),
    HADAMARD_TC_SMEM12_BF16_FP8("o4j_hadamard_tc_smem12_bf16_fp8"),
    HADAMARD_TC_SMEM13_BF16_AMAX("o4j_hadamard_tc_smem13_bf16_amax"),
    HADAMARD_TC_SMEM13_BF16_FP8("o4j_hadamard_tc_smem13_bf16_fp8"),
    HADAMARD_TC_SMEM14_BF16_AMAX("o4j_hadamard_tc_smem14_bf16_amax"),
    HADAMARD_TC_SMEM14_BF16_FP8("o4j_hadamard_tc_smem14_bf16_fp8"),
    HADAMARD_TC_SMEM15_BF16_AMAX("o4j_hadamard_tc_smem15_bf16_amax"),
    HADAMARD_TC_SMEM15_BF16_FP8("o4j_hadamard_tc_smem15_bf16_fp8"),
    HADAMARD_TC_REGS1_F16_AMAX("o4j_hadamard_tc_regs1_f16_amax"),
    HADAMARD_TC_REGS1_F16_FP8("o4j_hadamard_tc_regs1_f16_fp8"),
    HADAMARD_TC_REGS2_F16_AMAX("o4j_hadamard_tc_regs2_f16_amax"),
    HADAMARD_TC_REGS2_F16_FP8("o4j_hadamard_tc_regs2_f16_fp8"),
    HADAMARD_TC_REGS4_F16_AMAX("o4j_hadamard_tc_regs4_f16_amax"),
    HADAMARD_TC_REGS4_F16_FP8("o4j_hadamard_tc_regs4_f16_fp8"),
    HADAMARD_TC_REGS8_F16_AMAX("o4j_hadamard_tc_regs8_f16_amax"),
    HADAMARD_TC_REGS8_F16_FP8("o4j_hadamard_tc_regs8_f16_fp8"),
    HADAMARD_TC_SMEM12_F16_AMAX("o4j_hadamard_tc_smem12_f16_amax"),
    HADAMARD_TC_SMEM12_F16_FP8("o4j_hadamard_tc_smem12_f16_fp8"),
    HADAMARD_TC_SMEM13_F16_AMAX("o4j_hadamard_tc_smem13_f16_amax"),
    HADAMARD_TC_SMEM13_F16_FP8("o4j_hadamard_tc_smem13_f16_fp8"),
    HADAMARD_TC_SMEM14_F16_AMAX("o4j_hadamard_tc_smem14_f16_amax"),
    HADAMARD_TC_SMEM14_F16_FP8("o4j_hadamard_tc_smem14_f16_fp8"),
    HADAMARD_TC_SMEM15_F16_AMAX("o4j_hadamard_tc_smem15_f16_amax"),
    HADAMARD_TC_SMEM15_F16_FP8("o4j_hadamard_tc_smem15_f16_fp8"),
    HADAMARD_TC_REGS1_BF16("o4j_hadamard_tc_regs1_bf16"),
    HADAMARD_TC_REGS2_BF16("o4j_hadamard_tc_regs2_bf16"),
    HADAMARD_TC_REGS4_BF16("o4j_hadamard_tc_regs4_bf16"),
    HADAMARD_TC_REGS8_BF16("o4j_hadamard_tc_regs8_bf16"),
    HADAMARD_TC_SMEM12_BF16("o4j_hadamard_tc_smem12_bf16"),
    HADAMARD_TC_SMEM13_BF16("o4j_hadamard_tc_smem13_bf16"),
    HADAMARD_TC_SMEM14_BF16("o4j_hadamard_tc_smem14_bf16"),
    HADAMARD_TC_SMEM15_BF16("o4j_hadamard_tc_smem15_bf16"),
    HADAMARD_TC_REGS1_F16("o4j_hadamard_tc_regs1_f16"),
    HADAMARD_TC_REGS2_F16("o4j_hadamard_tc_regs2_f16"),
    HADAMARD_TC_REGS4_F16("o4j_hadamard_tc_regs4_f16"),
    HADAMARD_TC_REGS8_F16("o4j_hadamard_tc_regs8_f16"),
    HADAMARD_TC_SMEM12_F16("o4j_hadamard_tc_smem12_f16"),
    HADAMARD_TC_SMEM13_F16("o4j_hadamard_tc_smem13_f16"),
    HADAMARD_TC_SMEM14_F16("o4j_hadamard_tc_smem14_f16"),
    HADAMARD_TC_SMEM15_F16("o4j_hadamard_tc_smem15_f16"),
    HADAMARD_TC_REGS1_F32("o4j_hadamard_tc_regs1_f32"),
    HADAMARD_TC_REGS2_F32("o4j_hadamard_tc_regs2_f32"),
    HADAMARD_TC_REGS4_F32("o4j_hadamard_tc_regs4_f32"),
    HADAMARD_TC_SMEM12_F32("o4j_hadamard_tc_smem12_f32"),
    HADAMARD_TC_SMEM13_F32("o4j_hadamard_tc_smem13_f32"),
    HADAMARD_TC_SMEM14_F32("o4j_hadamard_tc_smem14_f32"),
    HADAMARD_TC_SMEM15_F32("o4j_hadamard_tc_smem15_f32"),
    /** The empty kernel ({@code empty.cu}) that {@code offload bench launch} times: no arguments, grid 1, block 1. */
    EMPTY("o4j_empty");

    private final String symbol;

    KernelName(String symbol) {
        this.symbol = symbol;
    }

    /** The unmangled symbol in the module image. */
    public String symbol() {
        return symbol;
    }
}
