package org.offload4j.bench;

import java.util.List;
import java.util.Locale;

/** Renders benchmark results as an aligned text table, JSON or CSV. */
public final class Reports {
    private Reports() {}

    public enum Format { TABLE, JSON, CSV }

    /** Facts about the run printed with the results. */
    public record RunInfo(String backend, String backendDescription, double copyBytesPerSecond,
                          double flopsPerSecond, String jvm, String date, double inPlaceBytesPerSecond,
                          double fmaPeakFlopsPerSecond) {
        /** Without the in-place bandwidth and the FMA peak. */
        public RunInfo(String backend, String backendDescription, double copyBytesPerSecond, double flopsPerSecond,
                       String jvm, String date) {
            this(backend, backendDescription, copyBytesPerSecond, flopsPerSecond, jvm, date, Double.NaN, Double.NaN);
        }
    }

    private static final String[] HEADER = {"op", "case", "dtype", "backend", "rel.err", "ok", "median", "GB/s",
            "TFLOP/s", "bound", "% floor", "% copy", "% in-place", "% FMA peak"};

    public static String render(Format format, RunInfo info, List<BenchResult> results) {
        return switch (format) {
            case TABLE -> table(info, results);
            case JSON -> json(info, results);
            case CSV -> csv(results);
        };
    }

    static String table(RunInfo info, List<BenchResult> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "backend %s: %s%n", info.backend(), info.backendDescription()));
        sb.append(String.format(Locale.ROOT, "ceilings measured now: copy %.1f GB/s (read + write)%s%n",
                info.copyBytesPerSecond() / 1e9,
                info.flopsPerSecond() > 0 ? String.format(Locale.ROOT, ", fp32 GEMM %.1f GFLOP/s", info.flopsPerSecond() / 1e9) : ""));
        if (Double.isFinite(info.inPlaceBytesPerSecond()) || Double.isFinite(info.fmaPeakFlopsPerSecond())) {
            sb.append(String.format(Locale.ROOT, "                       in-place x = -x %.1f GB/s (read + write), FMA peak %.1f GFLOP/s%n",
                    info.inPlaceBytesPerSecond() / 1e9, info.fmaPeakFlopsPerSecond() / 1e9));
        }
        String[][] rows = new String[results.size()][];
        for (int i = 0; i < rows.length; i++) {
            BenchResult r = results.get(i);
            rows[i] = new String[] {r.op(), r.label(), r.dtype(), r.backend(), sci(r.error()), r.correct() ? "yes" : "NO",
                    time(r.medianNanos()), fmt(r.gigabytesPerSecond(), 1), fmt(r.teraflopsPerSecond(), 3), r.bound(),
                    fmt(r.percentOfFloor(), 1), pct(r.percentOfCopy()), pct(r.percentOfInPlace()), pct(r.percentOfFmaPeak())};
        }
        int[] width = new int[HEADER.length];
        for (int c = 0; c < HEADER.length; c++) {
            width[c] = HEADER[c].length();
            for (String[] row : rows) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        appendRow(sb, HEADER, width);
        StringBuilder rule = new StringBuilder();
        for (int c = 0; c < width.length; c++) {
            rule.append("-".repeat(width[c])).append(c + 1 < width.length ? "  " : "");
        }
        sb.append(rule).append('\n');
        for (String[] row : rows) {
            appendRow(sb, row, width);
        }
        return sb.toString();
    }

    private static void appendRow(StringBuilder sb, String[] cells, int[] width) {
        for (int c = 0; c < cells.length; c++) {
            boolean numeric = c >= 4;
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
        StringBuilder sb = new StringBuilder("op,case,dtype,backend,rel_error,tolerance,correct,median_ns,runs,bytes,flops,"
                + "gb_per_s,tflop_per_s,copy_gb_per_s,bound,percent_of_floor,in_place_gb_per_s,fma_peak_gflop_per_s,"
                + "percent_of_copy,percent_of_in_place,percent_of_fma_peak\n");
        for (BenchResult r : results) {
            sb.append(String.join(",", r.op(), quoteCsv(r.label()), r.dtype(), r.backend(), num(r.error()),
                    num(r.tolerance()), Boolean.toString(r.correct()), num(r.medianNanos()), Integer.toString(r.runs()),
                    num(r.bytes()), num(r.flops()), num(r.gigabytesPerSecond()), num(r.teraflopsPerSecond()),
                    num(r.copyBytesPerSecond() / 1e9), r.bound(), num(r.percentOfFloor()),
                    num(r.inPlaceBytesPerSecond() / 1e9), num(r.fmaPeakFlopsPerSecond() / 1e9), num(r.percentOfCopy()),
                    num(r.percentOfInPlace()), num(r.percentOfFmaPeak()))).append('\n');
        }
        return sb.toString();
    }

    static String json(RunInfo info, List<BenchResult> results) {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append("  \"backend\": ").append(quoteJson(info.backend())).append(",\n");
        sb.append("  \"backend_description\": ").append(quoteJson(info.backendDescription())).append(",\n");
        sb.append("  \"jvm\": ").append(quoteJson(info.jvm())).append(",\n");
        sb.append("  \"date\": ").append(quoteJson(info.date())).append(",\n");
        sb.append("  \"copy_bytes_per_s\": ").append(num(info.copyBytesPerSecond())).append(",\n");
        sb.append("  \"flops_per_s\": ").append(num(info.flopsPerSecond())).append(",\n");
        sb.append("  \"in_place_bytes_per_s\": ").append(num(info.inPlaceBytesPerSecond())).append(",\n");
        sb.append("  \"fma_peak_flops_per_s\": ").append(num(info.fmaPeakFlopsPerSecond())).append(",\n");
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
                    .append(", \"percent_of_fma_peak\": ").append(num(r.percentOfFmaPeak())).append('}');
        }
        sb.append(results.isEmpty() ? "]\n}\n" : "\n  ]\n}\n");
        return sb.toString();
    }

    private static String time(double nanos) {
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

    /** A percentage, or "-" when its ceiling was not measured (or does not apply). */
    private static String pct(double v) {
        return Double.isFinite(v) ? fmt(v, 1) : "-";
    }

    private static String sci(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2e", v) : "NaN";
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
