package org.offload4j.core;

/**
 * The two ceilings of a backend's device, measured now, from which a benchmark derives each
 * op's floor: the bytes the op must move over {@link #copyBytesPerSecond()}, and its FLOPs over
 * {@link #matmulFlopsPerSecond()}; the larger time is the floor. A backend offers it through
 * {@link Backend#kernels(Class) kernels(Floors.class)}.
 *
 * <p>Both calls take a second or so and load the whole device: call them once per run, or between
 * cases ({@code offload bench --ceilings each}, for a machine whose bandwidth drifts), never while
 * timing something else.
 */
public interface Floors {

    /** Bytes read plus bytes written per second by a large copy, far larger than any cache. */
    double copyBytesPerSecond();

    /** Floating-point operations per second (multiply-add counted as two) of a large fp32 matrix product. */
    double matmulFlopsPerSecond();

    /**
     * Bytes read plus bytes written per second by an in-place read-modify-write stream over a
     * buffer far larger than any cache ({@code x = −x}): the ceiling of an in-place transform,
     * which cannot use the streaming stores a copy may. NaN when the backend does not measure it.
     */
    default double inPlaceBytesPerSecond() {
        return Double.NaN;
    }

    /**
     * Peak fp32 multiply-add rate (multiply-add counted as two) of a loop of independent FMAs on
     * registers, all threads or compute units together: the roof no matrix product can pass.
     * NaN when the backend does not measure it.
     */
    default double fmaPeakFlopsPerSecond() {
        return Double.NaN;
    }

    /** One line: how the ceilings were measured (sizes, threads, kernel). */
    String method();
}
