package org.offload4j.bench;

import java.util.List;
import java.util.Locale;

/**
 * {@code offload bench --recheck}: every case timed a second time in the same JVM, after all cases
 * have run once, and compared with its first median.
 *
 * <p>Why: the JIT compiles a kernel from the profiles of the calls it has seen. A kernel method
 * shared by several dtypes or layouts can be recompiled, once another case has run, into code that
 * is several times slower for the rest of the JVM's life. Two such slowdowns were found in the
 * CPU Hadamard kernel (fp32 2–2.7× slower after fp16 and bf16 had run; m = 40 in a JVM's second
 * dtype 4–5× slower; docs/results/2026-12-06c-cpu-zen4.md), and neither shows in a run of one
 * dtype, nor in the first pass of a run of several: the case that suffers has already been timed
 * when the polluting case runs. The second pass times each case after every other case, so such
 * a recompile shows as a ratio.
 *
 * <p>A case is flagged when its second median is more than {@link #SLOWER} times its first. The
 * factor is well above this project's run-to-run noise on a shared 2-vCPU VM (copy bandwidth moving
 * ±30 % within minutes), and well below the slowdowns it is meant to catch. The second pass also
 * checks each case's correctness again.
 */
final class Recheck {
    private Recheck() {}

    /** Second median over first above which a case is flagged. */
    static final double SLOWER = 1.5;

    /**
     * One case, timed twice.
     *
     * @param first the case's result in the first pass
     * @param again the same case's result in the second pass
     */
    record Entry(BenchResult first, BenchResult again) {
        double ratio() {
            return again.medianNanos() / first.medianNanos();
        }

        boolean slower() {
            return ratio() > SLOWER;
        }
    }

    /** How many entries are flagged as slower. */
    static long slowerCount(List<Entry> entries) {
        return entries.stream().filter(Entry::slower).count();
    }

    /** A plain-text table: case, first and second median, ratio, and a flag on the slower ones. */
    static String table(List<Entry> entries) {
        String[] header = {"op", "case", "dtype", "first", "again", "again/first", "ok again", "note"};
        String[][] rows = new String[entries.size()][];
        for (int i = 0; i < rows.length; i++) {
            Entry e = entries.get(i);
            BenchResult r = e.first();
            rows[i] = new String[] {r.op(), r.label(), r.dtype(), Reports.time(r.medianNanos()),
                    Reports.time(e.again().medianNanos()), String.format(Locale.ROOT, "%.2f", e.ratio()),
                    e.again().correct() ? "yes" : "NO",
                    e.slower() ? String.format(Locale.ROOT, "SLOWER (> %.1fx)", SLOWER) : ""};
        }
        StringBuilder sb = new StringBuilder();
        sb.append("recheck: every case timed again in the same JVM, after all cases ran once\n");
        int[] width = new int[header.length];
        for (int c = 0; c < header.length; c++) {
            width[c] = header[c].length();
            for (String[] row : rows) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        appendRow(sb, header, width);
        String[] rule = new String[header.length];
        for (int c = 0; c < rule.length; c++) {
            rule[c] = "-".repeat(width[c]);
        }
        appendRow(sb, rule, width);
        for (String[] row : rows) {
            appendRow(sb, row, width);
        }
        return sb.toString();
    }

    /** Cells padded to their column's width; the three numeric columns (times, ratio) right-aligned. */
    private static void appendRow(StringBuilder sb, String[] cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            String pad = " ".repeat(width[c] - cells[c].length());
            line.append(c >= 3 && c <= 5 ? pad + cells[c] : cells[c] + pad).append(c + 1 < cells.length ? "  " : "");
        }
        sb.append(line.toString().stripTrailing()).append('\n');
    }
}
