package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What the bench writes while it runs: a bar on a terminal, a line per case start and end in a log. */
class ProgressBarTest {

    @Test
    void aLogGetsALineWhenACaseStartsAndOneWhenItEnds() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 2, false)) {
            bar.started(0, "hadamard 1024 bf16");
            bar.finished(0, "hadamard 1024 bf16", "median 1.0 ms");
            bar.started(1, "w4a16 1x4096x4096:128 bf16");
            bar.update(1, "only a terminal shows this");
        }
        assertEquals("[1/2] hadamard 1024 bf16 ...\n[1/2] hadamard 1024 bf16: median 1.0 ms\n"
                + "[2/2] w4a16 1x4096x4096:128 bf16 ...\n", bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aTerminalGetsOneRedrawnLineAndNoNewlines() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 2, true)) {
            bar.started(0, "hadamard");
            bar.finished(0, "hadamard", "not shown");
        }
        String drawn = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(drawn.contains("] 1/2 hadamard"), drawn);
        assertTrue(!drawn.contains("\n") && !drawn.contains("not shown"), drawn);
    }

    /** A case that throws becomes a failed row and a line; the cases after it still run. */
    @Test
    void aCaseThatThrowsIsReportedAndTheOthersStillRun() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        java.util.List<String> failures = new java.util.ArrayList<>();
        BenchResult ok = new BenchResult("hadamard", "d=1024", 1024, "bf16", "cuda", 1.5e-3, 4e-3, 2.5e6, 10, 1, 1, 1, 1);
        BenchResult failed = new BenchResult("w4a16", "1x8x8", Double.NaN, "bf16", "cuda", Double.NaN, 0, Double.NaN, 0, 0, 0,
                Double.NaN, 0);
        java.util.List<BenchResult> results;
        try (ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 3, false)) {
            results = BenchCommand.runEach(3, i -> "case " + i, i -> {
                if (i == 1) {
                    throw new IllegalStateException("cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE");
                }
                return ok;
            }, i -> failed, bar, failures);
        }
        assertEquals(java.util.List.of(ok, failed, ok), results);
        assertEquals(java.util.List.of("case 1: java.lang.IllegalStateException: cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE"),
                failures);
        String log = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("[2/3] case 1: FAILED: java.lang.IllegalStateException: cuLaunchKernel failed")
                && log.contains("[3/3] case 2: median 2.50 ms"), log);
        String table = Reports.render(Reports.Format.TABLE, new Reports.RunInfo("cuda", "test", 1e12, 1e15, "jvm", "now"), results);
        assertTrue(!table.contains("NaN s") && table.contains("NO"), table);
    }

    /** A size too large for the machine still ends the run with its one line (a usage error). */
    @Test
    void aSizeTooLargeStillEndsTheRun() {
        IllegalArgumentException usage = new IllegalArgumentException("moe size 'x' does not fit in the GPU's memory");
        try (ProgressBar bar = new ProgressBar(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), 2, false)) {
            var thrown = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> BenchCommand.runEach(2, i -> "case " + i, i -> {
                        throw new BenchCommand.CaseTooLarge(usage);
                    }, i -> null, bar, new java.util.ArrayList<>()));
            assertEquals(usage, thrown);
        }
    }

    @Test
    void anOutcomeNamesTheMedianAndTheErrorAgainstTheTolerance() {
        BenchResult ok = new BenchResult("hadamard", "d=1024", 1024, "bf16", "cpu", 1.5e-3, 4e-3, 2.5e6, 10, 1, 1, 1, 1);
        BenchResult wrong = new BenchResult("hadamard", "d=1024", 1024, "bf16", "cpu", 0.5, 4e-3, 2.5e6, 10, 1, 1, 1, 1);
        assertEquals("median 2.50 ms, rel. error 1.50e-03 (ok)", BenchCommand.outcome(ok));
        assertEquals("median 2.50 ms, rel. error 5.00e-01 > 4.00e-03 (NO)", BenchCommand.outcome(wrong));
    }
}
