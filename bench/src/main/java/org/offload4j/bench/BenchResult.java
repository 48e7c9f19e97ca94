package org.offload4j.bench;

/**
 * The measured outcome of one {@link BenchCase}.
 *
 * @param op          op name
 * @param label       size label
 * @param sizeMetric  x-axis value for plots
 * @param dtype       data type
 * @param backend     backend name
 * @param error       relative L2 error of the checked sample vs float64 (NaN if non-finite output)
 * @param tolerance   the contract's tolerance
 * @param medianNanos median time of one run
 * @param runs        timed runs
 * @param bytes       bytes the op must move
 * @param flops       floating-point operations
 * @param copyBytesPerSecond the measured copy bandwidth (read + written bytes per second)
 * @param flopsPerSecond the measured matrix rate (0 if not measured)
 * @param torch       PyTorch's times for the same case ({@code --compare torch}), or null when not compared
 */
public record BenchResult(String op, String label, double sizeMetric, String dtype, String backend,
                          double error, double tolerance, double medianNanos, int runs, double bytes, double flops,
                          double copyBytesPerSecond, double flopsPerSecond, TorchComparator.Timing torch) {

    /** A result without a torch comparison. */
    public BenchResult(String op, String label, double sizeMetric, String dtype, String backend,
                       double error, double tolerance, double medianNanos, int runs, double bytes, double flops,
                       double copyBytesPerSecond, double flopsPerSecond) {
        this(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, null);
    }

    /** This result with PyTorch's times for the same case. */
    public BenchResult withTorch(TorchComparator.Timing timing) {
        return new BenchResult(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, timing);
    }

    public boolean correct() {
        return Double.isFinite(error) && error <= tolerance;
    }

    public double gigabytesPerSecond() {
        return bytes / medianNanos;
    }

    public double teraflopsPerSecond() {
        return flops / medianNanos / 1e3;
    }

    /** The floor: the larger of the memory time and the compute time the device needs at best. */
    public double floorNanos() {
        double memory = bytes / copyBytesPerSecond * 1e9;
        double compute = flopsPerSecond > 0 ? flops / flopsPerSecond * 1e9 : 0;
        return Math.max(memory, compute);
    }

    /** Which floor is larger: {@code memory} or {@code compute}. */
    public String bound() {
        double memory = bytes / copyBytesPerSecond * 1e9;
        double compute = flopsPerSecond > 0 ? flops / flopsPerSecond * 1e9 : 0;
        return compute > memory ? "compute" : "memory";
    }

    /** Percentage of the floor reached: 100 · floor / measured. */
    public double percentOfFloor() {
        return 100.0 * floorNanos() / medianNanos;
    }
}
