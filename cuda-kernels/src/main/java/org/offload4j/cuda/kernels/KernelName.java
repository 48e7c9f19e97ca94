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
    W4A16_REDUCE_F16("o4j_w4a16_reduce_f16");

    private final String symbol;

    KernelName(String symbol) {
        this.symbol = symbol;
    }

    /** The unmangled symbol in the module image. */
    public String symbol() {
        return symbol;
    }
}
