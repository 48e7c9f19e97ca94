package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The scripts of {@code ./offload bundle} (bench/src/main/sh), checked as text and by {@code sh -n}
 * without building a bundle (that takes a full build and jlink). Skipped where the sources are
 * not beside the tests (inside the bundle itself).
 */
class BundleScriptsTest {
    private static final Path SH = Path.of("src/main/sh");

    @BeforeAll
    static void sourcesPresent() {
        assumeTrue(Files.isDirectory(SH) && Files.exists(Path.of("../offload")), "run from the bench module's folder");
    }

    private static String read(String path) throws Exception {
        return Files.readString(Path.of(path));
    }

    private static String one(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), regex);
        return m.group(1);
    }

    @Test
    void theBundleLauncherRunsTheSameMainClassWithThePomsJvmFlags() throws Exception {
        String bundle = read("src/main/sh/bundle-offload.sh");
        String root = read("../offload");
        String mainClass = "org.offload4j.bench.OffloadCli";
        assertTrue(root.contains(mainClass) && bundle.contains("-cp \"$home/lib/*\" " + mainClass + " \"$@\""), bundle);
        String flags = one(read("../pom.xml"), "<offload.jvm.flags>(.*)</offload.jvm.flags>");
        assertEquals(flags, one(bundle, "flags=\"(.*)\""), "bin/offload passes the JVM flags every run needs");
        assertTrue(bundle.contains("\"$home/runtime/bin/java\""), "the bundled runtime, never a java from PATH");
    }

    @Test
    void everyFileMakeBundleCopiesExists() throws Exception {
        Matcher m = Pattern.compile("\"\\$root/(bench/src/main/[^\"]+)\"").matcher(read("src/main/sh/make-bundle.sh"));
        int n = 0;
        while (m.find()) {
            assertTrue(Files.isRegularFile(Path.of("..", m.group(1))), m.group(1));
            n++;
        }
        assertTrue(n >= 3, "bundle-offload.sh, run-gpu-suite.sh, torch_compare.py");
    }

    @Test
    void everyGpuSuiteStepHasATimeoutInsideTheTotal() throws Exception {
        String suite = read("src/main/sh/run-gpu-suite.sh");
        int total = Integer.parseInt(one(suite, "OFFLOAD_SUITE_SECONDS:-(\\d+)"));
        assertTrue(total <= 540, "well under the 10 minutes a GPU host command gets");
        Matcher steps = Pattern.compile("(?m)^\\s*(optional_)?step ([a-z-]+) (\\d+) ").matcher(suite);
        int n = 0;
        int required = 0;
        while (steps.find()) {
            int limit = Integer.parseInt(steps.group(3));
            assertTrue(limit <= total, steps.group(2));
            required += steps.group(1) == null ? limit : 0;
            n++;
        }
        assertTrue(n >= 8, "info, devices, selftests, bench, sass, launch, torch");
        assertTrue(required <= total, "the required steps fit the total even at their limits: " + required + " s");
        assertTrue(suite.contains("timeout -s QUIT -k 10 \"$limit\""), "each step runs under coreutils timeout");
        assertTrue(suite.contains("kill -s KILL -- \"-$pid\""), "and its process group is swept after it (GpuSuiteRunTest)");
    }

    @Test
    void theScriptsParseAsPosixSh() throws Exception {
        for (String s : new String[] {"make-bundle.sh", "bundle-offload.sh", "run-gpu-suite.sh", "sass-summary.sh"}) {
            Process p = new ProcessBuilder("sh", "-n", SH.resolve(s).toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), s + ": " + out);
        }
    }
}
