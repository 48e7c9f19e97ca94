package org.offload4j.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code offload bench --recheck}: each case's time among the others compared with its time alone.
 *
 * <p>Why: the JIT compiles a kernel from the profiles of the calls it has seen. A kernel method
 * shared by several dtypes or layouts can be recompiled, once another case has run, into code that
 * is several times slower for the rest of the JVM's life. Two such slowdowns were found in the CPU
 * Hadamard kernel (fp32 2–2.7× slower after fp16 and bf16 had run; m = 40 as a JVM's second dtype
 * 4–5× slower; docs/results/2026-12-06c-cpu-zen4.md); a run of one dtype never shows them, and a
 * run of several shows them only as a slow figure, nothing marks it.
 *
 * <p>So each case is measured three times: in the run's first pass (after the cases before it),
 * in a second pass after every case has run once (after all the others), and alone, in a fresh
 * JVM ({@link ChildJvm}: the same java, JVM options less agents and file outputs, class path) that
 * runs only that case (its correctness check and then its timing, as in the first pass, without
 * the ceilings; the ceilings' GEMM probe is another kernel, so a flag on a GEMM-like case could
 * also come from it) and names the case it ran, so that a median of another case is refused. A case
 * slowed by the cases before it is slow in both passes; one slowed by the cases after it, in the
 * second. A case whose slower in-run median is more than {@link #SLOWER} times its median alone
 * is a candidate, and is timed once more in this JVM and once more alone: it is flagged only if
 * both of its last two in-run medians (the second pass and this one) are still more than
 * {@link #SLOWER} times the better of its two medians alone. A recompile that made a kernel slower
 * stays for the life of the JVM; the noise of a shared VM (on the 2-vCPU development VM one run's
 * medians alone moved by up to 2× within minutes) rarely hits the same case twice. Where the
 * fresh JVM could not run, the in-run medians are compared with the first pass's instead.
 */
final class Recheck {
    private Recheck() {}

    /** Slower in-run median over the median alone above which a case is flagged. */
    static final double SLOWER = 1.5;

    /** What the fresh JVM prints before the median, in nanoseconds, of the one case it ran. */
    static final String ALONE_PREFIX = "offload-bench-alone-median-nanos ";

    /**
     * One case: timed in the run twice, alone once, and, when those make it a candidate, once more
     * in the run and once more alone.
     *
     * @param first      the case's result in the first pass
     * @param again      the same case's result in the second pass
     * @param aloneNanos its best median alone in a fresh JVM, or NaN where that JVM failed
     * @param aloneError why the fresh JVM gave no median, or null
     * @param aloneWrong whether the case failed its correctness check in the fresh JVM
     * @param confirm    its result when timed once more in this run (candidates only), or null
     */
    record Entry(BenchResult first, BenchResult again, double aloneNanos, String aloneError, boolean aloneWrong,
                 BenchResult confirm) {
        /** Before a candidate is timed once more. */
        Entry(BenchResult first, BenchResult again, Alone alone) {
            this(first, again, alone.medianNanos(), alone.error(), alone.wrong(), null);
        }

        boolean aloneKnown() {
            return Double.isFinite(aloneNanos) && aloneNanos > 0;
        }

        /** What the in-run medians are compared with: the best median alone, else the first pass's. */
        private double reference() {
            return aloneKnown() ? aloneNanos : first.medianNanos();
        }

        /** Whether the first two in-run medians make this case worth timing once more. */
        boolean candidate() {
            double inRun = aloneKnown() ? Math.max(first.medianNanos(), again.medianNanos()) : again.medianNanos();
            return inRun > SLOWER * reference();
        }

        /**
         * The in-run median over the reference: for a case timed once more, the better of its last
         * two in-run medians; otherwise the slower of the two passes (the second where there is no
         * time alone).
         */
        double ratio() {
            if (confirm != null) {
                return Math.min(again.medianNanos(), confirm.medianNanos()) / reference();
            }
            return (aloneKnown() ? Math.max(first.medianNanos(), again.medianNanos()) : again.medianNanos()) / reference();
        }

        /** A candidate whose last two in-run medians are both still above the factor. */
        boolean slower() {
            return confirm != null && ratio() > SLOWER;
        }

        boolean correct() {
            return first.correct() && again.correct() && !aloneWrong && (confirm == null || confirm.correct());
        }
    }

    /** How many entries are flagged as slower. */
    static long slowerCount(List<Entry> entries) {
        return entries.stream().filter(Entry::slower).count();
    }

    /**
     * Outcome of one fresh JVM.
     *
     * @param medianNanos its median, or NaN where it gave none
     * @param error       why it gave none, or null
     * @param wrong       whether the case failed its correctness check there
     */
    record Alone(double medianNanos, String error, boolean wrong) {}

    /** What the fresh JVM prints, instead of a median, when the case fails its check. */
    static final String ALONE_WRONG_PREFIX = "offload-bench-alone-wrong ";

    /**
     * Runs {@code benchArgs} ({@code bench OP … --time-alone}) in a fresh JVM ({@link ChildJvm})
     * and reads its median; gives up after {@code timeoutSeconds}.
     */
    static Alone timeAlone(List<String> benchArgs, BenchResult first, Timing.Budget budget) {
        if (Thread.currentThread().isInterrupted()) {
            return new Alone(Double.NaN, "interrupted", false);
        }
        // Start-up and the check, the warm-up's wait for the JIT, then at most the warm-up and timed runs
        // the budget allows, at thrice the first pass's median.
        long timeoutSeconds = 120 + Timing.MAX_JIT_WAIT_NANOS / 1_000_000_000L
                + (long) (3e-9 * (budget.minWarmupRuns() + budget.maxRuns()) * first.medianNanos());
        String expected = identity(first.op(), first.label(), first.dtype());
        List<String> command = ChildJvm.command(List.of(), List.of(), benchArgs);
        Path log = null;
        Process p = null;
        Thread killer = null;
        try {
            // Into a file, not a pipe: a pipe read would block past the timeout if the child hung.
            log = Files.createTempFile("offload-bench-alone", ".log");
            p = ChildJvm.builder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            Process child = p;
            killer = new Thread(child::destroyForcibly); // a parent stopped by a signal takes its child with it
            Runtime.getRuntime().addShutdownHook(killer);
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                return new Alone(Double.NaN, "the fresh JVM ran over " + timeoutSeconds + " s", false);
            }
            // Latin-1 reads any bytes; the lines looked for are ASCII, log lines in other encodings are only skipped.
            List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
            for (String line : lines.reversed()) {
                if (line.startsWith(ALONE_PREFIX)) {
                    String[] parts = line.substring(ALONE_PREFIX.length()).trim().split(" ", 2);
                    if (parts.length < 2 || !parts[1].equals(expected)) {
                        return new Alone(Double.NaN, "the fresh JVM ran another case: " + shorten(line), false);
                    }
                    return new Alone(Double.parseDouble(parts[0]), null, false);
                }
                if (line.startsWith(ALONE_WRONG_PREFIX)) {
                    return new Alone(Double.NaN, "wrong in a fresh JVM: " + line.substring(ALONE_WRONG_PREFIX.length()).trim(), true);
                }
            }
            return new Alone(Double.NaN, "the fresh JVM exited " + p.exitValue() + " without a median" + reason(lines), false);
        } catch (IOException e) {
            return new Alone(Double.NaN, "the fresh JVM (" + command.get(0) + ") failed: " + e.getMessage(), false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Alone(Double.NaN, "interrupted", false);
        } finally {
            if (p != null && p.isAlive()) {
                p.destroyForcibly();
            }
            if (killer != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(killer);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running or about to: it only kills a child that has ended anyway
                }
            }
            if (log != null) {
                try {
                    Files.deleteIfExists(log);
                } catch (IOException ignored) {
                    // a temporary file left behind is harmless
                }
            }
        }
    }

    /** How the fresh JVM names its case, for the parent to check it ran the same one. */
    static String identity(String op, String label, String dtype) {
        return (op + "|" + label + "|" + dtype).replace(' ', '_');
    }

    /** The child's own one-line reason ({@code offload bench: …}), else its exception's line, else nothing. */
    private static String reason(List<String> lines) {
        for (String line : lines.reversed()) {
            if (line.startsWith("offload bench:")) {
                return "; " + shorten(line);
            }
        }
        return lines.stream().filter(l -> l.contains("Exception") || l.contains("Error:")).findFirst()
                .map(l -> "; " + shorten(l.strip())).orElse("");
    }

    private static String shorten(String line) {
        return line.length() <= 160 ? line : line.substring(0, 157) + "...";
    }

    /** The entry's note: flagged, a candidate not confirmed, and why there is no time alone; or empty. */
    static String note(Entry e) {
        String note = e.slower() ? String.format(Locale.ROOT, "SLOWER (> %.1fx)", SLOWER)
                : e.confirm() != null ? "not confirmed" : "";
        if (!e.aloneKnown()) {
            note = (note.isEmpty() ? "" : note + "; ") + "vs the first pass (no time alone: " + e.aloneError() + ")";
        }
        return note;
    }

    /** A plain-text table: case, median alone, first and second pass, ratio, and a flag on the slower ones. */
    static String table(List<Entry> entries) {
        String[] header = {"op", "case", "dtype", "alone", "first", "again", "once more", "ratio", "ok", "note"};
        String[][] rows = new String[entries.size()][];
        for (int i = 0; i < rows.length; i++) {
            Entry e = entries.get(i);
            BenchResult r = e.first();
            boolean alone = e.aloneKnown();
            String note = note(e);
            rows[i] = new String[] {r.op(), r.label(), r.dtype(), alone ? Reports.time(e.aloneNanos()) : "-",
                    Reports.time(r.medianNanos()), Reports.time(e.again().medianNanos()),
                    e.confirm() == null ? "-" : Reports.time(e.confirm().medianNanos()),
                    String.format(Locale.ROOT, "%.2f", e.ratio()), e.correct() ? "yes" : "NO", note};
        }
        StringBuilder sb = new StringBuilder();
        sb.append("recheck: each case in this run (first pass, again after all cases) against its time alone in a fresh JVM;\n");
        sb.append("ratio: in-run time / time alone (the slower pass, or for a case timed once more the better of its last two);\n");
        sb.append("flagged: both of the last two in-run times over ").append(SLOWER).append("x the better of two times alone\n");
        int[] width = Reports.columnWidths(header, rows);
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

    /** Cells padded to their column's width; the numeric columns (times, ratio) right-aligned. */
    private static void appendRow(StringBuilder sb, String[] cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            String pad = " ".repeat(width[c] - cells[c].length());
            line.append(c >= 3 && c <= 7 ? pad + cells[c] : cells[c] + pad).append(c + 1 < cells.length ? "  " : "");
        }
        sb.append(line.toString().stripTrailing()).append('\n');
    }
}
