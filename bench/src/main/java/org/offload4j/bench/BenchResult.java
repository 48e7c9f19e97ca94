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
 * @param inPlaceBytesPerSecond the measured in-place read-modify-write bandwidth (NaN if not measured)
 * @param fmaPeakFlopsPerSecond the measured FMA peak (0 if not measured or the op is not made of products)
 * @param torch       PyTorch's times for the same case ({@code --compare torch}), or null when not compared
 * @param inPlace     whether the op rewrites its input: its memory floor is then the in-place
 *                    stream's, where measured ({@link #memoryCeiling})
 */
public record BenchResult(String op, String label, double sizeMetric, String dtype, String backend,
                          double error, double tolerance, double medianNanos, int runs, double bytes, double flops,
                          double copyBytesPerSecond, double flopsPerSecond, double inPlaceBytesPerSecond,
                          double fmaPeakFlopsPerSecond, TorchComparator.Timing torch, boolean inPlace) {

    /** With the in-place bandwidth and the FMA peak, without a torch comparison. */
    public BenchResult(String op, String label, double sizeMetric, String dtype, String backend,
                       double error, double tolerance, double medianNanos, int runs, double bytes, double flops,
                       double copyBytesPerSecond, double flopsPerSecond, double inPlaceBytesPerSecond,
                       double fmaPeakFlopsPerSecond) {
        this(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, null, false);
    }

    /** Without the in-place bandwidth, the FMA peak (backends that do not measure them) and torch. */
    public BenchResult(String op, String label, double sizeMetric, String dtype, String backend,
                       double error, double tolerance, double medianNanos, int runs, double bytes, double flops,
                       double copyBytesPerSecond, double flopsPerSecond) {
        this(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, Double.NaN, 0, null, false);
    }

    /** This result with PyTorch's times for the same case. */
    public BenchResult withTorch(TorchComparator.Timing timing) {
        return new BenchResult(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, timing, inPlace);
    }

    /**
     * This result against other bandwidth and FMA-peak ceilings ({@code offload bench --ceilings
     * each}); a ceiling the result did not use stays unused: a NaN in-place bandwidth stays NaN, and
     * a zero FMA peak (an op not made of products) stays zero.
     */
    public BenchResult withCeilings(double copyBytesPerSecond, double inPlaceBytesPerSecond, double fmaPeakFlopsPerSecond) {
        return new BenchResult(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, Double.isNaN(this.inPlaceBytesPerSecond) ? Double.NaN : inPlaceBytesPerSecond,
                this.fmaPeakFlopsPerSecond > 0 ? fmaPeakFlopsPerSecond : this.fmaPeakFlopsPerSecond, torch, inPlace);
    }

    /** This result marked as an in-place op ({@link #inPlace}). */
    public BenchResult asInPlace(boolean inPlace) {
        return new BenchResult(op, label, sizeMetric, dtype, backend, error, tolerance, medianNanos, runs, bytes, flops,
                copyBytesPerSecond, flopsPerSecond, inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, torch, inPlace);
    }

    /**
     * The bandwidth that bounds the op's memory traffic: the in-place read-modify-write stream's
     * for an op that rewrites its input (where measured), which runs faster than a copy between
     * two buffers, else the copy bandwidth.
     */
    public double memoryCeiling() {
        return inPlace && Double.isFinite(inPlaceBytesPerSecond) && inPlaceBytesPerSecond > 0 ? inPlaceBytesPerSecond
                : copyBytesPerSecond;
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
        double memory = bytes / memoryCeiling() * 1e9;
        double compute = flopsPerSecond > 0 ? flops / flopsPerSecond * 1e9 : 0;
        return Math.max(memory, compute);
    }

    /** Which floor is larger: {@code memory} or {@code compute}. */
    public String bound() {
        if (bytes == 0 && flops == 0) {
            return "-"; // a case that failed to run: nothing was counted
        }
        double memory = bytes / memoryCeiling() * 1e9;
        double compute = flopsPerSecond > 0 ? flops / flopsPerSecond * 1e9 : 0;
        return compute > memory ? "compute" : "memory";
    }

    /** Percentage of the floor reached: 100 · floor / measured. */
    public double percentOfFloor() {
        return 100.0 * floorNanos() / medianNanos;
    }

    /** Percentage of the copy bandwidth reached: 100 · (bytes / copy bandwidth) / measured. */
    public double percentOfCopy() {
        return 100.0 * bytes / copyBytesPerSecond * 1e9 / medianNanos;
    }

    /** Percentage of the in-place read-modify-write bandwidth reached; NaN when not measured. */
    public double percentOfInPlace() {
        return 100.0 * bytes / inPlaceBytesPerSecond * 1e9 / medianNanos;
    }

    /** Percentage of the FMA peak reached by the op's FLOP rate; NaN when not measured or not a product. */
    public double percentOfFmaPeak() {
        return fmaPeakFlopsPerSecond > 0 && flops > 0 ? 100.0 * flops / fmaPeakFlopsPerSecond * 1e9 / medianNanos : Double.NaN;
    }
}
