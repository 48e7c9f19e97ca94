package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.offload4j.bench.LaunchCommand.CopyRow;
import org.offload4j.bench.LaunchCommand.LaunchRow;
import picocli.CommandLine;

class LaunchCommandTest {
    private static String run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = OffloadCli.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int rc = cl.execute(args);
        assertEquals(expectedExit, rc, out + "\n" + err);
        return out.toString();
    }

    /**
     * Where a binding cannot run (here: no GPU, no driver) its row says why, one line each, and the
     * command exits 0. On a GPU host the rows carry figures instead; the test accepts both.
     */
    @Test
    void everyBindingGetsARowWithFiguresOrTheReasonAndTheExitIsZero() {
        String out = run(0, "bench", "launch", "--launches", "2000", "--rounds", "4", "--copies", "5");
        for (String label : List.of("driver (C)", "ffm", "ffm (critical)", "jcuda")) {
            List<String> lines = out.lines().filter(l -> l.startsWith(String.format("%-16s ", label))).toList();
            assertEquals(1, lines.size(), label + " has one row in\n" + out);
            String row = lines.get(0);
            assertTrue(row.contains("not run: ") || row.matches(".*\\d+\\.\\d{3}.*"), row);
            if (row.contains("not run: ")) {
                assertTrue(row.substring(row.indexOf("not run: ") + 9).strip().length() > 10, "a reason: " + row);
            }
        }
        assertTrue(out.lines().anyMatch(l -> l.startsWith("targets: ")), out);
    }

    @Test
    void withoutTheDriverLibraryJCudaSaysSo() {
        assumeNoLibcuda();
        String out = run(0, "bench", "launch", "--bindings", "jcuda");
        String row = out.lines().filter(l -> l.startsWith(String.format("%-16s ", "jcuda"))).findFirst().orElseThrow();
        assertTrue(row.contains("not run: ") && row.contains("libcuda.so.1"), row);
        assertTrue(out.contains("targets: not measured"), out);
    }

    /** On a GPU host a row that cannot run is a failure when the suite says so (--require). */
    @Test
    void aRequiredRowThatDidNotRunFailsTheCommand() {
        assumeNoLibcuda();
        String out = run(1, "bench", "launch", "--bindings", "jcuda", "--require", "jcuda");
        assertTrue(out.lines().anyMatch(l -> l.startsWith(String.format("%-16s not run: ", "jcuda"))), out);
        run(0, "bench", "launch", "--bindings", "jcuda");
    }

    @Test
    void badArgumentsAreUsageErrors() {
        run(2, "bench", "launch", "--bindings", "jcuda", "--require", "ffm");
        run(2, "bench", "launch", "--bindings", "cuda-runtime");
        run(2, "bench", "launch", "--launches", "3", "--rounds", "10");
    }

    @Test
    void theCFloorsLineIsParsed() {
        LaunchRow c = LaunchCommand.parseC(
                "launch_loop queued_us=2.104 sync_us=5.881 launches=100000 batch=512 rounds=10 device=\"NVIDIA H200\"\n").orElseThrow();
        assertEquals(2.104, c.queuedUs());
        assertEquals(5.881, c.syncUs());
        assertTrue(LaunchCommand.parseC("launch_loop: cannot load libcuda.so.1 (the NVIDIA driver): ...").isEmpty());
    }

    @Test
    void aMissingCLoopOptionIsAReason() {
        var found = LaunchCommand.Locator.launchLoop(Path.of("/no/such/launch_loop"));
        assertTrue(found.path() == null && found.why().contains("--c-loop /no/such/launch_loop"), found.toString());
    }

    @Test
    void targetsCompareFfmWithCAndJCuda() {
        List<LaunchRow> rows = List.of(new LaunchRow("driver (C)", 2.0, 5.0, null), new LaunchRow("ffm", 2.08, 5.1, null),
                new LaunchRow("jcuda", 3.0, 6.0, null));
        assertEquals("targets: FFM queued launch ≤ 5 % above C: met (+4.0 %); below JCuda: met (2.080 vs 3.000 µs)",
                LaunchCommand.targets(rows));
        List<LaunchRow> slow = List.of(new LaunchRow("driver (C)", 2.0, 5.0, null), new LaunchRow("ffm", 2.2, 5.1, null),
                LaunchRow.notRun("jcuda", "no driver"));
        assertEquals("targets: FFM queued launch ≤ 5 % above C: NOT met (+10.0 %); below JCuda: not measured (no JCuda figure)",
                LaunchCommand.targets(slow));
        assertEquals("+4.0 %", LaunchCommand.aboveC(2.08, 2.0));
        assertEquals("—", LaunchCommand.aboveC(Double.NaN, 2.0));
    }

    @Test
    void childRowsRoundTrip() {
        StringWriter w = new StringWriter();
        List<LaunchRow> rows = List.of(new LaunchRow("ffm", 2.5, 6.25, null), LaunchRow.notRun("jcuda", "no\tdriver"));
        List<CopyRow> copies = List.of(new CopyRow("ffm", "pinned", Map.of("H2D 4 B", 3.5)));
        LaunchCommand.printRows(new PrintWriter(w, true), rows, copies);
        List<LaunchRow> backRows = new ArrayList<>();
        List<CopyRow> backCopies = new ArrayList<>();
        LaunchCommand.parseRows(w.toString(), backRows, backCopies);
        assertEquals(rows.get(0), backRows.get(0));
        assertEquals("no driver", backRows.get(1).reason());
        assertEquals(copies, backCopies);
    }

    @Test
    void theKernelIsTheOneTheKernelListNames() {
        assertEquals(org.offload4j.cuda.kernels.KernelName.EMPTY.symbol(), LaunchCommand.KERNEL);
    }

    @Test
    void medianAndSizeNames() {
        assertEquals(2.0, LaunchCommand.median(new double[] {3, 1, 2}));
        assertEquals(2.5, LaunchCommand.median(new double[] {4, 1, 2, 3}));
        assertEquals("4 B", LaunchCommand.sizeName(4));
        assertEquals("64 KiB", LaunchCommand.sizeName(65536));
    }

    private static void assumeNoLibcuda() {
        for (String dir : new String[] {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"}) {
            org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of(dir, "libcuda.so.1")), "libcuda.so.1 is installed");
        }
    }
}
