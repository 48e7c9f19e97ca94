package org.offload4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Renders benchmark results as an aligned text table, JSON or CSV. */
public final class Reports {
    private Reports() {}

    public enum Format { TABLE, JSON, CSV }

    /**
     * Facts about the run printed with the results; {@code torch} says what the torch columns
     * compare with ({@code torch 2.11.0 on NVIDIA H200}, or why they are empty), null without
     * {@code --compare torch}; {@code ceilingsMethod} is {@link org.offload4j.core.Floors#method()}
     * (what the matmul rate is: CPU, a measured fp32 GEMM; CUDA, a data-sheet tensor rate), or null;
     * {@code ceilingsEach} is null when the ceilings were measured once, before the first case, and
     * with {@code --ceilings each} the ranges of all their measurements ({@link Ceilings#ranges}):
     * then each result carries its own ceilings and the table shows them.
     */
    public record RunInfo(String backend, String backendDescription, double copyBytesPerSecond,
                          double flopsPerSecond, String jvm, String date, double inPlaceBytesPerSecond,
                          double fmaPeakFlopsPerSecond, String torch, String ceilingsMethod, String ceilingsEach) {
        /** Ceilings measured once. */
        public RunInfo(String backend, String backendDescription, double copyBytesPerSecond, double flopsPerSecond,
                       String jvm, String date, double inPlaceBytesPerSecond, double fmaPeakFlopsPerSecond, String torch,
                       String ceilingsMethod) {
            this(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date, inPlaceBytesPerSecond,
                    fmaPeakFlopsPerSecond, torch, ceilingsMethod, null);
        }

        /** Without the in-place bandwidth and the FMA peak, without torch. */
        public RunInfo(String backend, String backendDescription, double copyBytesPerSecond, double flopsPerSecond,
                       String jvm, String date) {
            this(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date, Double.NaN, Double.NaN, null, null);
        }

        /** With the in-place bandwidth and the FMA peak, without torch. */
        public RunInfo(String backend, String backendDescription, double copyBytesPerSecond, double flopsPerSecond,
                       String jvm, String date, double inPlaceBytesPerSecond, double fmaPeakFlopsPerSecond) {
            this(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date, inPlaceBytesPerSecond,
                    fmaPeakFlopsPerSecond, null, null);
        }

        public RunInfo withTorch(String torch) {
            return new RunInfo(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date,
                    inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, torch, ceilingsMethod, ceilingsEach);
        }

        public RunInfo withCeilingsMethod(String method) {
            return new RunInfo(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date,
                    inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, torch, method, ceilingsEach);
        }

        /** {@code --ceilings each}, with the ranges of the measurements. */
        public RunInfo withCeilingsEach(String ranges) {
            return new RunInfo(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date,
                    inPlaceBytesPerSecond, fmaPeakFlopsPerSecond, torch, ceilingsMethod, ranges);
        }
    }

    private static final String[] HEADER = {"op", "case", "dtype", "backend", "rel.err", "ok", "median", "GB/s",
            "TFLOP/s", "bound", "% floor", "% copy", "% in-place", "% FMA peak"};
    private static final String[] TORCH_HEADER = {"torch", "ours/torch"};
    /** With {@code --ceilings each}: the ceilings each row's ratios are taken against. */
    private static final String[] CEILINGS_HEADER = {"copy GB/s", "in-place GB/s", "FMA GFLOP/s"};

    /** Whether any result carries a torch comparison (then the torch columns appear). */
    static boolean compared(List<BenchResult> results) {
        return results.stream().anyMatch(r -> r.torch() != null);
    }

    /** The torch cell: each variant's time ({@code dequant+mm 1.20 ms; bf16 mm 402.1 µs}), or why there is none. */
    static String torchTimes(TorchComparator.Timing t) {
        if (t == null) {
            return "";
        }
        if (t.variants().isEmpty()) {
            return t.note() == null ? "no time" : t.note();
        }
        StringBuilder sb = new StringBuilder();
        for (TorchComparator.Variant v : t.variants()) {
            sb.append(sb.isEmpty() ? "" : "; ").append(v.name()).append(' ').append(time(v.medianNanos()));
        }
        return sb.toString();
    }

    /** The ratio cell: ours / torch for each variant, in the same order ({@code 0.85; 2.51}); "-" when none. */
    static String torchRatios(BenchResult r) {
        TorchComparator.Timing t = r.torch();
        if (t == null || t.variants().isEmpty()) {
            return "-";
        }
        StringBuilder sb = new StringBuilder();
        for (TorchComparator.Variant v : t.variants()) {
            sb.append(sb.isEmpty() ? "" : "; ").append(fmt(r.medianNanos() / v.medianNanos(), 2));
        }
        return sb.toString();
    }

    public static String render(Format format, RunInfo info, List<BenchResult> results) {
        return render(format, info, results, List.of());
    }

    /**
     * The report with {@code --recheck}'s entries (one per result, same order; empty without it):
     * the table gains the recheck table, JSON a {@code "recheck"} object per case, CSV the same
     * fields as columns {@code recheck_*}.
     */
    static String render(Format format, RunInfo info, List<BenchResult> results, List<Recheck.Entry> rechecks) {
        return switch (format) {
            case TABLE -> table(info, results) + (rechecks.isEmpty() ? "" : "\n" + Recheck.table(rechecks));
            case JSON -> json(info, results, rechecks);
            case CSV -> csv(results, rechecks);
        };
    }

    static String table(RunInfo info, List<BenchResult> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "backend %s: %s%n", info.backend(), info.backendDescription()));
        // Only what the backend measured: CUDA, say, measures copy and GEMM but no in-place stream or FMA peak.
        sb.append(String.format(Locale.ROOT, "ceilings measured %s: %s%s%n", info.ceilingsEach() == null ? "now" : "first",
                Double.isFinite(info.copyBytesPerSecond())
                        ? String.format(Locale.ROOT, "copy %.1f GB/s (read + write)", info.copyBytesPerSecond() / 1e9)
                        : "none (this backend cannot measure them)",
                info.flopsPerSecond() > 0 ? String.format(Locale.ROOT, ", matmul %.1f GFLOP/s", info.flopsPerSecond() / 1e9) : ""));
        if (info.ceilingsMethod() != null) {
            sb.append("                       (").append(info.ceilingsMethod()).append(")\n");
        }
        List<String> more = new ArrayList<>();
        if (Double.isFinite(info.inPlaceBytesPerSecond())) {
            more.add(String.format(Locale.ROOT, "in-place x = -x %.1f GB/s (read + write)", info.inPlaceBytesPerSecond() / 1e9));
        }
        if (Double.isFinite(info.fmaPeakFlopsPerSecond()) && info.fmaPeakFlopsPerSecond() > 0) {
            more.add(String.format(Locale.ROOT, "FMA peak %.1f GFLOP/s", info.fmaPeakFlopsPerSecond() / 1e9));
        }
        if (!more.isEmpty()) {
            sb.append("                       ").append(String.join(", ", more)).append('\n');
        }
        boolean each = info.ceilingsEach() != null;
        if (each) {
            sb.append("copy, in-place and FMA peak again after every case (--ceilings each; matmul once): ").append(info.ceilingsEach())
                    .append(";\neach row against the mean of the measurements just before and just after it (its last columns)\n");
        }
        boolean torch = compared(results);
        if (info.torch() != null) {
            sb.append("compared with ").append(info.torch()).append(torch && results.stream().anyMatch(
                    r -> r.torch() != null && !r.torch().variants().isEmpty()) ? " (ours/torch > 1: torch is faster)\n" : "\n");
        }
        String[] numeric = each ? concat(HEADER, CEILINGS_HEADER) : HEADER;
        String[] header = torch ? concat(numeric, TORCH_HEADER) : numeric;
        String[][] rows = new String[results.size()][];
        for (int i = 0; i < rows.length; i++) {
            BenchResult r = results.get(i);
            String[] row = {r.op(), r.label(), r.dtype(), r.backend(), sci(r.error()), r.correct() ? "yes" : "NO",
                    time(r.medianNanos()), finiteOrDash(r.gigabytesPerSecond(), 1), finiteOrDash(r.teraflopsPerSecond(), 3), r.bound(),
                    pct(r.percentOfFloor()), pct(r.percentOfCopy()), pct(r.percentOfInPlace()), pct(r.percentOfFmaPeak())};
            if (each) {
                row = concat(row, new String[] {ceilingCell(r.copyBytesPerSecond()), ceilingCell(r.inPlaceBytesPerSecond()),
                        ceilingCell(r.fmaPeakFlopsPerSecond())});
            }
            rows[i] = torch ? concat(row, new String[] {torchTimes(r.torch()), torchRatios(r)}) : row;
        }
        int[] width = columnWidths(header, rows);
        appendRow(sb, header, width, numeric.length);
        StringBuilder rule = new StringBuilder();
        for (int c = 0; c < width.length; c++) {
            rule.append("-".repeat(width[c])).append(c + 1 < width.length ? "  " : "");
        }
        sb.append(rule).append('\n');
        for (String[] row : rows) {
            appendRow(sb, row, width, numeric.length);
        }
        // Notes beside times (what differs from ours, a variant that failed) go under the table.
        for (BenchResult r : results) {
            if (r.torch() != null && r.torch().note() != null && !r.torch().variants().isEmpty()) {
                sb.append("torch, ").append(r.op()).append(' ').append(r.label()).append(": ").append(r.torch().note()).append('\n');
            }
        }
        return sb.toString();
    }

    /** Each column's width: its longest cell, header included. */
    static int[] columnWidths(String[] header, String[][] rows) {
        int[] width = new int[header.length];
        for (int c = 0; c < header.length; c++) {
            width[c] = header[c].length();
            for (String[] row : rows) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        return width;
    }

    private static String[] concat(String[] a, String[] b) {
        String[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    /** A rate in units of 10^9 (GB/s, GFLOP/s) with one decimal, or "-" where it was not measured or not used. */
    private static String ceilingCell(double perSecond) {
        return Double.isFinite(perSecond) && perSecond > 0 ? fmt(perSecond / 1e9, 1) : "-";
    }

    /** One row, the cells from column 4 up to {@code numericEnd} right-aligned. */
    private static void appendRow(StringBuilder sb, String[] cells, int[] width, int numericEnd) {
        for (int c = 0; c < cells.length; c++) {
            boolean numeric = c >= 4 && c < numericEnd;
            String cell = cells[c];
            String pad = " ".repeat(width[c] - cell.length());
            sb.append(numeric ? pad + cell : cell + pad);
            if (c + 1 < cells.length) {
                sb.append("  ");
            }
        }
        sb.append('\n');
    }

    static String csv(List<BenchResult> results) {
        return csv(results, List.of());
    }

    /** The CSV report; with {@code rechecks} (one per result, same order), the recheck's fields as the last columns. */
    static String csv(List<BenchResult> results, List<Recheck.Entry> rechecks) {
        boolean torch = compared(results);
        StringBuilder sb = new StringBuilder("op,case,dtype,backend,rel_error,tolerance,correct,median_ns,runs,bytes,flops,"
                + "gb_per_s,tflop_per_s,copy_gb_per_s,bound,percent_of_floor,in_place_gb_per_s,fma_peak_gflop_per_s,"
                + "percent_of_copy,percent_of_in_place,percent_of_fma_peak" + (torch ? ",torch,ours_over_torch,torch_note" : "")
                + (rechecks.isEmpty() ? "" : ",recheck_" + String.join(",recheck_", RECHECK_FIELDS)) + "\n");
        for (int i = 0; i < results.size(); i++) {
            BenchResult r = results.get(i);
            sb.append(String.join(",", r.op(), quoteCsv(r.label()), r.dtype(), r.backend(), num(r.error()),
                    num(r.tolerance()), Boolean.toString(r.correct()), num(r.medianNanos()), Integer.toString(r.runs()),
                    num(r.bytes()), num(r.flops()), num(r.gigabytesPerSecond()), num(r.teraflopsPerSecond()),
                    ceiling(r.copyBytesPerSecond() / 1e9), r.bound(), num(r.percentOfFloor()),
                    ceiling(r.inPlaceBytesPerSecond() / 1e9), ceiling(r.fmaPeakFlopsPerSecond() / 1e9), num(r.percentOfCopy()),
                    num(r.percentOfInPlace()), num(r.percentOfFmaPeak())));
            if (torch) {
                TorchComparator.Timing t = r.torch();
                boolean times = t != null && !t.variants().isEmpty();
                sb.append(',').append(quoteCsv(times ? torchTimes(t) : "")).append(',').append(quoteCsv(times ? torchRatios(r) : ""))
                        .append(',').append(quoteCsv(t == null || t.note() == null ? "" : t.note()));
            }
            if (!rechecks.isEmpty()) {
                for (Object v : recheckValues(rechecks.get(i))) {
                    sb.append(',').append(v instanceof String note ? quoteCsv(note) : value(v));
                }
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    static String json(RunInfo info, List<BenchResult> results) {
        return json(info, results, List.of());
    }

    /**
     * The JSON report; with {@code rechecks} (one per result, same order: {@code --recheck}), each
     * result also carries a {@code "recheck"} object with the medians alone, again and once more,
     * the ratio, whether it was flagged, and the note.
     */
    static String json(RunInfo info, List<BenchResult> results, List<Recheck.Entry> rechecks) {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"backend\": ").append(quoteJson(info.backend())).append(",\n");
        sb.append("  \"backend_description\": ").append(quoteJson(info.backendDescription())).append(",\n");
        sb.append("  \"jvm\": ").append(quoteJson(info.jvm())).append(",\n");
        sb.append("  \"date\": ").append(quoteJson(info.date())).append(",\n");
        sb.append("  \"copy_bytes_per_s\": ").append(ceiling(info.copyBytesPerSecond())).append(",\n");
        sb.append("  \"flops_per_s\": ").append(ceiling(info.flopsPerSecond())).append(",\n");
        sb.append("  \"in_place_bytes_per_s\": ").append(ceiling(info.inPlaceBytesPerSecond())).append(",\n");
        sb.append("  \"fma_peak_flops_per_s\": ").append(ceiling(info.fmaPeakFlopsPerSecond())).append(",\n");
        if (info.ceilingsMethod() != null) {
            sb.append("  \"ceilings_method\": ").append(quoteJson(info.ceilingsMethod())).append(",\n");
        }
        if (info.torch() != null) {
            sb.append("  \"torch\": ").append(quoteJson(info.torch())).append(",\n");
        }
        sb.append("  \"ceilings\": ").append(quoteJson(info.ceilingsEach() == null ? "once" : "each")).append(",\n");
        if (info.ceilingsEach() != null) {
            sb.append("  \"ceilings_ranges\": ").append(quoteJson(info.ceilingsEach())).append(",\n");
        }
        sb.append("  \"results\": [");
        for (int i = 0; i < results.size(); i++) {
            BenchResult r = results.get(i);
            sb.append(i == 0 ? "\n" : ",\n");
            sb.append("    {\"op\": ").append(quoteJson(r.op()))
                    .append(", \"case\": ").append(quoteJson(r.label()))
                    .append(", \"size\": ").append(num(r.sizeMetric()))
                    .append(", \"dtype\": ").append(quoteJson(r.dtype()))
                    .append(", \"backend\": ").append(quoteJson(r.backend()))
                    .append(", \"rel_error\": ").append(num(r.error()))
                    .append(", \"tolerance\": ").append(num(r.tolerance()))
                    .append(", \"correct\": ").append(r.correct())
                    .append(", \"median_ns\": ").append(num(r.medianNanos()))
                    .append(", \"runs\": ").append(r.runs())
                    .append(", \"bytes\": ").append(num(r.bytes()))
                    .append(", \"flops\": ").append(num(r.flops()))
                    .append(", \"gb_per_s\": ").append(num(r.gigabytesPerSecond()))
                    .append(", \"tflop_per_s\": ").append(num(r.teraflopsPerSecond()))
                    .append(", \"bound\": ").append(quoteJson(r.bound()))
                    .append(", \"percent_of_floor\": ").append(num(r.percentOfFloor()))
                    .append(", \"percent_of_copy\": ").append(num(r.percentOfCopy()))
                    .append(", \"percent_of_in_place\": ").append(num(r.percentOfInPlace()))
                    .append(", \"percent_of_fma_peak\": ").append(num(r.percentOfFmaPeak()))
                    .append(", \"copy_bytes_per_s\": ").append(ceiling(r.copyBytesPerSecond()))
                    .append(", \"in_place_bytes_per_s\": ").append(ceiling(r.inPlaceBytesPerSecond()))
                    .append(", \"fma_peak_flops_per_s\": ").append(ceiling(r.fmaPeakFlopsPerSecond()));
            if (r.torch() != null) {
                sb.append(", \"torch\": [");
                List<TorchComparator.Variant> vs = r.torch().variants();
                for (int v = 0; v < vs.size(); v++) {
                    sb.append(v == 0 ? "" : ", ").append("{\"variant\": ").append(quoteJson(vs.get(v).name()))
                            .append(", \"median_ns\": ").append(num(vs.get(v).medianNanos()))
                            .append(", \"ours_over_torch\": ").append(num(r.medianNanos() / vs.get(v).medianNanos())).append('}');
                }
                sb.append("], \"torch_note\": ").append(r.torch().note() == null ? "null" : quoteJson(r.torch().note()));
            }
            if (!rechecks.isEmpty()) {
                Object[] values = recheckValues(rechecks.get(i));
                sb.append(", \"recheck\": {");
                for (int f = 0; f < values.length; f++) {
                    sb.append(f == 0 ? "" : ", ").append(quoteJson(RECHECK_FIELDS.get(f))).append(": ")
                            .append(values[f] instanceof String note ? quoteJson(note) : value(values[f]));
                }
                sb.append('}');
            }
            sb.append('}');
        }
        sb.append(results.isEmpty() ? "]\n}\n" : "\n  ]\n}\n");
        return sb.toString();
    }

    /** The fields of a case's recheck, as JSON names them (CSV: {@code recheck_} + the name); {@link #recheckValues} in this order. */
    private static final List<String> RECHECK_FIELDS = List.of("alone_ns", "again_ns", "once_more_ns", "ratio", "correct",
            "flagged", "note");

    /** A recheck's values in {@link #RECHECK_FIELDS}' order: medians and ratio as doubles (NaN where there is none), flags, the note. */
    private static Object[] recheckValues(Recheck.Entry e) {
        return new Object[] {e.aloneKnown() ? e.aloneNanos() : Double.NaN, e.again().medianNanos(),
                e.confirm() == null ? Double.NaN : e.confirm().medianNanos(), e.ratio(), e.correct(), e.slower(), Recheck.note(e)};
    }

    /** A number as {@link #num} writes it, or a flag. */
    private static String value(Object v) {
        return v instanceof Double d ? num(d) : String.valueOf(v);
    }

    static String time(double nanos) {
        if (!Double.isFinite(nanos)) {
            return "-"; // a case that failed to run
        }
        if (nanos < 1e3) {
            return fmt(nanos, 0) + " ns";
        } else if (nanos < 1e6) {
            return fmt(nanos / 1e3, 1) + " µs";
        } else if (nanos < 1e9) {
            return fmt(nanos / 1e6, 2) + " ms";
        }
        return fmt(nanos / 1e9, 2) + " s";
    }

    private static String fmt(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** A rate, or "-" for a case that failed to run (no time). */
    private static String finiteOrDash(double v, int decimals) {
        return Double.isFinite(v) ? fmt(v, decimals) : "-";
    }

    /** A percentage, or "-" when its ceiling was not measured (or does not apply). */
    private static String pct(double v) {
        return finiteOrDash(v, 1);
    }

    private static String sci(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2e", v) : "NaN";
    }

    /**
     * A measured ceiling, or {@code null} where it was not measured: the records mark that with
     * NaN (in-place bandwidth) or 0 (GEMM rate, FMA peak), and a JSON or CSV reader should not
     * have to know which, nor divide by a 0 it took for a rate.
     */
    private static String ceiling(double v) {
        return v > 0 ? num(v) : "null";
    }

    /** JSON has no NaN or Infinity: those become null. */
    private static String num(double v) {
        if (!Double.isFinite(v)) {
            return "null";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.6g", v);
    }

    private static String quoteCsv(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    static String quoteJson(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
