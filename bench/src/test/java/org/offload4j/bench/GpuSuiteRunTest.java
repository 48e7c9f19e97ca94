package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code run-gpu-suite.sh} run for real against a fake {@code bin/offload} whose chosen step hangs
 * in a process that ignores SIGQUIT, as a JVM stuck in a CUDA call outlives its launcher's shell:
 * the step must end at the suite's deadline, its process group must be gone before the next step
 * and the summary must say what happened. (The GPU host gets one try; a suite that hangs or keeps
 * a process on the GPU loses it.) Linux only: the sweep is checked through /proc.
 */
class GpuSuiteRunTest {
    private static final Path SUITE = Path.of("src/main/sh/run-gpu-suite.sh");

    @BeforeAll
    static void canRun() {
        assumeTrue(Files.isRegularFile(SUITE), "run from the bench module's folder");
        assumeTrue(Files.isDirectory(Path.of("/proc/self")), "needs /proc");
        assumeTrue(onPath("timeout"), "needs coreutils timeout");
    }

    @Test
    void aHungOptionalStepIsCutShortAtTheDeadlineWithoutFailingTheSuite(@TempDir Path dir) throws Exception {
        Suite run = runSuite(dir, "selftest", 14);
        assertEquals(0, run.exit, run.summary);
        assertTrue(run.summary.matches("(?s).*selftest +exit 124 .*cut short.*optional, not a failure.*"), run.summary);
        assertTrue(run.summary.contains("bench-cuda       exit   0"), run.summary);
        assertSweptAway(run.hungPid);
    }

    @Test
    void aHungRequiredStepFailsTheSuiteAndTheStepsWithoutTimeAreNotRun(@TempDir Path dir) throws Exception {
        Suite run = runSuite(dir, "info", 11);
        assertEquals(1, run.exit, run.summary);
        assertTrue(run.summary.matches("(?s).*info +exit 124 .*killed at its 11s limit.*"), run.summary);
        assertTrue(run.summary.contains("devices: not run (the suite's time is spent)"), run.summary);
        assertSweptAway(run.hungPid);
    }

    /** A step killed before its limit (say by the OOM killer: 137 too) is a failure, optional or not. */
    @Test
    void aStepKilledBeforeItsLimitFailsTheSuite(@TempDir Path dir) throws Exception {
        Suite run = runSuite(dir, "none", 40, "selftest");
        assertEquals(1, run.exit, run.summary);
        assertTrue(run.summary.matches("(?s).*\\nselftest +exit 137 +\\d+s\\n.*"), run.summary);
        assertFalse(run.summary.contains("cut short"), run.summary);
    }

    private record Suite(int exit, String summary, long hungPid) {}

    /** Runs the suite with a fake bundle whose step {@code hang} never ends; the others succeed at once. */
    private static Suite runSuite(Path dir, String hang, int seconds) throws Exception {
        return runSuite(dir, hang, seconds, "none");
    }

    /** As above; the step named {@code die} kills itself with SIGKILL at once. */
    private static Suite runSuite(Path dir, String hang, int seconds, String die) throws Exception {
        Path bundle = Files.createDirectories(dir.resolve("bundle/bin"));
        Path pidFile = dir.resolve("hung.pid");
        Files.writeString(bundle.resolve("offload"), """
                #!/bin/sh
                # A fake bin/offload: prints its arguments; the step named in HANG starts a process that
                # ignores SIGQUIT (a JVM survives it) and waits for it, as the real selftest's sh waits for its JVM.
                echo "offload $*"
                [ "$1" = bench ] && [ "${2-}" = --help ] && { echo "launch"; exit 0; }
                [ "$1" = "$DIE" ] && [ "${2-}" != --gpu ] && kill -s KILL $$
                if [ "$1" = "$HANG" ] && { [ "$1" != selftest ] || [ "${2-}" != --gpu ]; }; then
                  (trap '' QUIT; exec sleep 300) &
                  echo $! > "$PID_FILE"
                  wait
                fi
                exit 0
                """);
        Files.writeString(bundle.getParent().resolve("sass-summary.sh"), "echo 'not run: fake'\n");
        Files.copy(SUITE, bundle.getParent().resolve("run-gpu-suite.sh"));
        ProcessBuilder pb = new ProcessBuilder("sh", bundle.getParent().resolve("run-gpu-suite.sh").toString(),
                dir.resolve("out").toString()).redirectErrorStream(true).redirectOutput(dir.resolve("suite.log").toFile());
        pb.environment().put("OFFLOAD_SUITE_SECONDS", Integer.toString(seconds));
        pb.environment().put("HANG", hang);
        pb.environment().put("DIE", die);
        pb.environment().put("PID_FILE", pidFile.toString());
        bundle.resolve("offload").toFile().setExecutable(true);
        Process p = pb.start();
        assertTrue(p.waitFor(seconds + 30L, TimeUnit.SECONDS), "the suite ends soon after its deadline");
        String summary = Files.readString(dir.resolve("out/summary.txt"), StandardCharsets.UTF_8);
        long pid = Files.exists(pidFile) ? Long.parseLong(Files.readString(pidFile).trim()) : -1;
        return new Suite(p.exitValue(), summary, pid);
    }

    /** Gone, or a zombie that only waits for its reaper (a sandbox's PID 1 may never reap it). */
    private static void assertSweptAway(long pid) throws IOException {
        Path stat = Path.of("/proc/" + pid + "/stat");
        if (!Files.exists(stat)) {
            return;
        }
        String s = Files.readString(stat);
        char state = s.charAt(s.lastIndexOf(')') + 2);
        assertFalse(state != 'Z' && state != 'X', "the hung step's process " + pid + " still runs: " + s);
    }

    private static boolean onPath(String command) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) {
                return true;
            }
        }
        return false;
    }
}
