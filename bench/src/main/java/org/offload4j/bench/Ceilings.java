package org.offload4j.bench;

import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import org.offload4j.core.Floors;

/**
 * One measurement of the ceilings that a case's ratios are taken against: the copy and in-place
 * bandwidths (bytes read plus written per second, NaN where the backend does not measure one) and
 * the FMA peak (FLOP/s, 0 where it does not). The matmul rate is not here: it is a kernel of the
 * backend's own, measured once per run.
 *
 * <p>Why measure them more than once ({@code offload bench --ceilings each}): on the 2-vCPU Zen 5
 * VM the one-thread copy ceiling read 30.8–45.2 GB/s within one JVM, and on two threads it read
 * 46–66 GB/s in one run and 77–87 in another while the bf16 Hadamard times agreed within 3 %
 * (docs/results/2026-12-08-cpu-decode-k-then-v.md), so a ratio against the ceiling measured before
 * the first case mixes the case's speed with the drift of the run.
 */
record Ceilings(double copy, double inPlace, double fmaPeak) {

    /** A backend that measures none of them. */
    static final Ceilings NONE = new Ceilings(Double.NaN, Double.NaN, 0);

    /** The three ceilings, measured now, in this order (a second or so: it loads the whole device). */
    static Ceilings measure(Floors floors) {
        double copy = floors.copyBytesPerSecond();
        double inPlace = floors.inPlaceBytesPerSecond();
        double peak = floors.fmaPeakFlopsPerSecond();
        return new Ceilings(copy, inPlace, Double.isFinite(peak) ? peak : 0);
    }

    /** Ceiling by ceiling, the mean of this measurement and {@code other}. */
    Ceilings mean(Ceilings other) {
        return new Ceilings((copy + other.copy) / 2, (inPlace + other.inPlace) / 2, (fmaPeak + other.fmaPeak) / 2);
    }

    /**
     * The report's line on a run's measurements: each ceiling's range, for instance
     * {@code copy 30.1–41.0 GB/s, in-place 40.2–44.0 GB/s, FMA peak 221.3–227.4 GFLOP/s}; a ceiling
     * the backend does not measure is left out.
     */
    static String ranges(List<Ceilings> all) {
        StringBuilder sb = new StringBuilder();
        range(sb, all, Ceilings::copy, "copy", 1e9, "GB/s");
        range(sb, all, Ceilings::inPlace, "in-place", 1e9, "GB/s");
        range(sb, all, Ceilings::fmaPeak, "FMA peak", 1e9, "GFLOP/s");
        return sb.toString();
    }

    private static void range(StringBuilder sb, List<Ceilings> all, ToDoubleFunction<Ceilings> value, String name, double unit,
                              String units) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (Ceilings c : all) {
            double v = value.applyAsDouble(c);
            if (Double.isFinite(v) && v > 0) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        if (lo <= hi) {
            sb.append(sb.isEmpty() ? "" : ", ")
                    .append(String.format(Locale.ROOT, "%s %.1f–%.1f %s", name, lo / unit, hi / unit, units));
        }
    }
}
