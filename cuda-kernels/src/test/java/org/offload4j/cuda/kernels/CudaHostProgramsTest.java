package org.offload4j.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.offload4j.hadamard.HadamardMatrices;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs the nvcc-built host program over the Hadamard kernel's index helpers with Java's own
 * {@link HadamardMatrices}, so the kernel-side algorithm is checked against the exact matrices the
 * backend uploads. The build already ran it with matrices built in C++; skipped where nvcc is absent.
 */
class CudaHostProgramsTest {

    @Test
    void hadamardHostTestWithJavasMatrices() throws IOException, InterruptedException {
        Path exe = Path.of("target/cuda-host-tests/hadamard_host_test");
        Assumptions.assumeTrue(Files.isExecutable(exe), "no " + exe + " (nvcc missing, or host tests skipped)");
        Path file = Files.createTempFile("offload4j-hm", ".txt");
        try {
            StringBuilder sb = new StringBuilder();
            for (int m : HadamardMatrices.SPECIAL_ORDERS) {
                sb.append(m);
                for (int[] row : HadamardMatrices.of(m)) {
                    for (int v : row) {
                        sb.append(' ').append(v);
                    }
                }
                sb.append('\n');
            }
            Files.writeString(file, sb);
            Process p = new ProcessBuilder(exe.toString(), file.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            Assumptions.assumeTrue(p.waitFor(5, TimeUnit.MINUTES), "timeout");
            assertEquals(0, p.exitValue(), out);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
