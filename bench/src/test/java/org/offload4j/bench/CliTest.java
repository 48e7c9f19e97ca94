package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CliTest {
    @Test
    void devicesListsTheCpuBackendAndWhatOpsRunOn() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DevicesCommand.print(new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("cpu") && out.contains("available"), out);
        assertTrue(out.contains("Ops run on: cpu"), out);
    }

    /** The backends' fallback sentences read as one line each on the command line, without a timestamp line. */
    @Test
    void logRecordsAreOneLineEach() {
        OffloadCli.oneLineLogRecords();
        String line = new java.util.logging.SimpleFormatter().format(
                new java.util.logging.LogRecord(java.util.logging.Level.INFO, "Backend cuda is unavailable: no driver"));
        assertEquals("INFO: Backend cuda is unavailable: no driver" + System.lineSeparator(), line);
    }

    @Test
    void unknownOpIsAUsageError() {
        assertEquals(2, OffloadCli.execute("bench", "no-such-op"));
    }

    @Test
    void unknownBackendIsAUsageError() {
        assertEquals(2, OffloadCli.execute("bench", "--backend", "no-such-backend"));
    }

    /** The op name is case-insensitive with --accuracy as without it. */
    @Test
    void accuracyTakesTheOpNameInAnyCase() {
        assertEquals(0, OffloadCli.execute("bench", "ATTENTION", "--accuracy", "--sizes", "2x1x16x16x64"));
    }

    /** Prepared MoE layers get a line of their own in the plot, beside the unprepared ones. */
    @Test
    void preparedMoeCasesArePlottedAsTheirOwnLine(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path svg = dir.resolve("moe.svg");
        assertEquals(0, OffloadCli.execute("bench", "moe", "--sizes", "4x4x2x64x32,4x4x2x64x32:prep", "--plot", svg.toString()));
        String plot = java.nio.file.Files.readString(svg);
        assertTrue(plot.contains("— cpu bf16 prepared"), plot);
        assertEquals(2, plot.split("— cpu bf16", -1).length - 1, "two legend lines, unprepared and prepared: " + plot);
    }

    @Test
    void everyOpBenchmarksCorrectlyOnTinySizesAndWritesJsonAndPlot(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path json = dir.resolve("r.json");
        java.nio.file.Path svg = dir.resolve("r.svg");
        for (String[] op : new String[][] {{"hadamard", "256@4096"}, {"w4a16", "3x64x256:32"}, {"attention", "4x2x33x65x64c"}, {"attention", "4x2x1x65x64k100"},
                {"attention", "4x2x3x65x64ck80"},
                {"moe", "9x4x2x64x32"}, {"moe", "9x4x2x128x128:w4"}, {"moe", "9x4x2x64x32:prep"}}) {
            int rc = OffloadCli.execute("bench", op[0], "--sizes", op[1], "--format", "json", "--out", json.toString(),
                    "--plot", svg.toString());
            assertEquals(0, rc, op[0] + " failed its correctness check or crashed");
            String report = java.nio.file.Files.readString(json);
            assertTrue(report.contains("\"op\": \"" + op[0] + "\"") && report.contains("\"correct\": true"), report);
            assertTrue(java.nio.file.Files.readString(svg).contains(op[0] + ": throughput vs size"));
        }
        // Attention with bf16 inputs, which the op quantizes inside each call, against the same reference.
        assertEquals(0, OffloadCli.execute("bench", "attention", "--dtype", "bf16", "--sizes", "4x2x33x65x64c,4x2x1x65x64",
                "--format", "json", "--out", json.toString()));
        String report = java.nio.file.Files.readString(json);
        assertTrue(report.contains("\"dtype\": \"bf16\"") && !report.contains("\"correct\": false"), report);
    }

    /** Every default size, quick and full, passes the check that now runs before anything is measured. */
    @Test
    void everyDefaultSizeValidates() {
        org.offload4j.core.Backend cpu = org.offload4j.core.Backends.named("cpu");
        for (OpSuite s : java.util.stream.Stream.concat(Suites.all().stream(), Suites.extra().stream()).toList()) {
            for (boolean full : new boolean[] {false, true}) {
                for (String size : s.defaultSizes(full)) {
                    org.junit.jupiter.api.Assertions.assertDoesNotThrow(() -> s.validate(cpu, size), s.name() + " " + size);
                }
            }
        }
    }

    /** {@code offload jmh} reports a failing benchmark (JMH's own Main exits 0), and bad JMH options, in its exit status. */
    @Test
    void jmhFailuresAreTheExitStatus() {
        // The offload bundle leaves JMH out (its selftest runs these tests): there the command says so instead.
        org.junit.jupiter.api.Assumptions.assumeTrue(JmhCommand.jmhPresent(), "JMH is not on this class path (the offload bundle)");
        // In-process (-f 0) JMH keeps a failed trial's state for the next run in this JVM: the good run goes first.
        assertEquals(0, OffloadCli.execute("jmh", "-f", "0", "-wi", "0", "-i", "1", "-r", "100ms", "-p", "d=128", "-p",
                "elements=4096", "HadamardJmh"));
        assertEquals(1, OffloadCli.execute("jmh", "-f", "0", "-wi", "0", "-i", "1", "-r", "100ms", "-p", "d=7", "-p",
                "elements=1024", "HadamardJmh"));
        assertEquals(1, OffloadCli.execute("jmh", "-f", "0", "NoSuchBenchmarkAnywhere"));
        assertEquals(2, OffloadCli.execute("jmh", "-wi", "many"));
    }

    /**
     * A size that does not parse, or that the op refuses, is a usage error (2), found before anything
     * is measured or run, wherever it sits in the list; so are empty items and trailing separators.
     */
    @Test
    void badSizeIsReportedWithTheSyntax() {
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "24x"));
        assertEquals(2, OffloadCli.execute("bench", "w4a16", "--sizes", "1x4096"));
        assertEquals(2, OffloadCli.execute("bench", "w4a16", "--sizes", "1x64x128x"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@-5"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@100"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "7"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128,"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128,,256"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--dtype", "bf16,"));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--dtype", "bogus"));
        assertEquals(2, OffloadCli.execute("bench", "w4a16", "--sizes", "1x64x128:0"));
        assertEquals(2, OffloadCli.execute("bench", "w4a16", "--sizes", "1x60x128"));
        assertEquals(2, OffloadCli.execute("bench", "moe", "--sizes", "1x4x9x64x64"));
        assertEquals(2, OffloadCli.execute("bench", "moe", "--sizes", "1x4x2x64x64:w4"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--sizes", "8x2x64x64x96"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--sizes", "8x3x64x64x64"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--sizes", "8x2x1x64x64k32"), "a KV cache below Skv");
        assertEquals(2, OffloadCli.execute("bench", "attention", "--sizes", "8x2x1x64x64kx"));
        assertEquals(2, OffloadCli.execute("bench", "brgemm", "--backend", "cpu", "--sizes", "50000"), "50000² floats: no Java array");
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--compare", "torch", "--compare-timeout", "-5"));
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream said = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(said, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@1048576,nope"));
        } finally {
            System.setErr(err);
        }
        String log = said.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(log.contains("'nope'") && !log.contains("Measuring the ceilings"), "checked only after measuring: " + log);
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--json", "x.json"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--sizes", "8x2x64"));
        // A size that parses but breaks the op's rules (D = 96 is not a head dimension, Hq not a
        // multiple of Hkv) is a usage error before any case runs, as on the timed path.
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--sizes", "8x2x64x64x96"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--sizes", "8x3x64x64x64"));
        // A KV cache size times what the compact one does; its accuracy report would be the compact one's.
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--sizes", "8x2x64x64x64k128"));
    }

    /** Files the results would go to are checked before anything is measured: a usage error (2), not a lost run. */
    @Test
    void unwritableOutputFilesAreUsageErrors(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        String nowhere = dir.resolve("no/such/dir/r.json").toString();
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@4096", "--json", nowhere));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@4096", "--out", nowhere));
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@4096", "--out", dir.toString()), "a directory");
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "128@4096", "--plot", dir.resolve("p.txt").toString()));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--out", nowhere));
    }

    /** A size whose tensors no machine can hold fails in one line naming it (after the ceilings: it parses). */
    @Test
    void aCaseTooLargeForMemoryFailsInOneLine() {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream said = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(said, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            // 2^55 bf16 values: 64 PiB, beyond any address space, and no overflow of a long byte count.
            assertEquals(1, OffloadCli.execute("bench", "--backend", "cpu", "hadamard", "--sizes", "128@36028797018963968"));
        } finally {
            System.setErr(err);
        }
        String log = said.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(log.contains("hadamard size '128@36028797018963968'") && log.contains("memory") && !log.contains("\tat "), log);
    }

    @Test
    void accuracyReportHasBothConfigurationsAndIsAttentionOnly() {
        String one = AttentionSuite.accuracy(org.offload4j.core.Backends.named("cpu"), "8x2x64x64x64", 42);
        assertTrue(one.contains("no rotation") && one.contains("rotated"), one);
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--accuracy"), "--accuracy is for attention alone: a usage error");
    }
}
