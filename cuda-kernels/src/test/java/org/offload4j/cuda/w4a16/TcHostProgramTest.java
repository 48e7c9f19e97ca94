package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Compiles {@code src/test/cuda/w4a16_tc_host_test.cu} with nvcc as a host program and runs it: the
 * CPU replay of the tensor-core kernel's warp data flow (packing, LOP3/magic-number dequant,
 * ldmatrix and mma fragment ownership from the PTX tables, in-block and SplitK reductions) against
 * a float64 reference. Skipped, with the reason, where nvcc is missing. The test runs in the module
 * directory (Maven's default working directory).
 */
class TcHostProgramTest {

    static Path nvcc() {
        String env = System.getenv("OFFLOAD_NVCC");
        String home = System.getenv("CUDA_HOME");
        for (String c : new String[] {env, home == null ? null : home + "/bin/nvcc", "/usr/local/cuda/bin/nvcc"}) {
            if (c != null && !c.equals("none") && Files.isExecutable(Path.of(c))) {
                return Path.of(c);
            }
        }
        return null;
    }

    private static String run(List<String> cmd, long minutes) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(minutes, TimeUnit.MINUTES), "timeout: " + cmd);
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + "\n" + out);
        return out;
    }

    @Test
    void warpDataFlowReplayMatchesFloat64Reference() throws IOException, InterruptedException {
        Path nvcc = nvcc();
        Assumptions.assumeTrue(nvcc != null, "nvcc not found ($OFFLOAD_NVCC, $CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc)");
        Path src = Path.of("src/test/cuda/w4a16_tc_host_test.cu");
        Assumptions.assumeTrue(Files.exists(src), "run from the cuda-kernels module directory (no " + src + ")");
        Path dir = Files.createDirectories(Path.of("target/cuda-host-tests"));
        Path exe = dir.resolve("w4a16_tc_host_test");
        run(List.of(nvcc.toString(), "-std=c++17", "-O1", "-x", "cu", "-Isrc/main/cuda", "-o", exe.toString(), src.toString()), 10);
        String out = run(List.of(exe.toAbsolutePath().toString()), 5);
        assertTrue(out.contains("all checks passed"), out);
    }
}
