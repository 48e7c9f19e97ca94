package org.offload4j.bench;

/**
 * One benchmark case: an op on fixed inputs, already allocated and filled with seeded random
 * values by its factory. {@link #run()} is what is timed; {@link #check()} runs the op on poisoned
 * outputs and compares a sample of the result with the float64 reference.
 */
public interface BenchCase extends AutoCloseable {

    /** The op, as named on the command line ({@code hadamard}, {@code w4a16}, …). */
    String op();

    /** The size, e.g. {@code d=1024 rows=32768} or {@code m=1 n=4096 k=4096 g=128}. */
    String label();

    /** The x-axis value for plots (e.g. d, or n·k). */
    double sizeMetric();

    /** Data type of the activations / input. */
    String dtype();

    /** Bytes the op must move: each input read once, each output written once. */
    double bytesMoved();

    /** Floating-point operations of the op (multiply-add counted as two). */
    double flops();

    /**
     * Whether the fp32 GEMM rate bounds this op: true for ops made of matrix products. False for
     * ops whose arithmetic is adds and subtracts (the Hadamard butterflies), which that rate does
     * not measure; their floor is the memory floor alone.
     */
    default boolean matmulBound() {
        return true;
    }

    /** Whether the op rewrites its input in place (its memory floor is then the in-place stream's). */
    default boolean inPlace() {
        return false;
    }

    /**
     * The case for {@code torch_compare.py} ({@code offload bench --compare torch}): {@code op},
     * {@code dtype} and the op's dimensions, in the script's request format; null where PyTorch has
     * no equivalent.
     */
    default java.util.Map<String, Object> torchCase() {
        return null;
    }

    /** Runs the op once on the case's inputs (timed). */
    void run();

    /** Poisons the outputs, runs the op, returns the relative L2 error of a sample vs the float64 reference. */
    double check();

    /** The op contract's tolerance for {@link #check()}. */
    double tolerance();

    @Override
    void close();
}
