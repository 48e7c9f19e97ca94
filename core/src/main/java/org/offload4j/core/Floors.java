package org.offload4j.core;

/**
 * The two ceilings of a backend's device, measured now, from which a benchmark derives each
 * op's floor: the bytes the op must move over {@link #copyBytesPerSecond()}, and its FLOPs over
 * {@link #matmulFlopsPerSecond()}; the larger time is the floor. A backend offers it through
 * {@link Backend#kernels(Class) kernels(Floors.class)}.
 *
 * <p>Both calls take a second or so and load the whole device: call them once per run, not per
 * case, and not while timing something else.
 */
public interface Floors {

    /** Bytes read plus bytes written per second by a large copy, far larger than any cache. */
    double copyBytesPerSecond();

    /** Floating-point operations per second (multiply-add counted as two) of a large fp32 matrix product. */
    double matmulFlopsPerSecond();

    /** One line: how the two were measured (sizes, threads, kernel). */
    String method();
}
