package org.offload4j.cuda.attention;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Test support: compiles a host test program of {@code src/test/cuda} with nvcc (looked up as
 * the build does: {@code $OFFLOAD_NVCC}, {@code $CUDA_HOME/bin/nvcc}, {@code /usr/local/cuda/bin/nvcc})
 * and runs it; the calling test is skipped, with the reason, where nvcc is missing.
 */
public final class HostPrograms {
    private HostPrograms() {
    }

    static Optional<Path> nvcc() {
        List<String> candidates = new ArrayList<>();
        String forced = System.getenv("OFFLOAD_NVCC");
        if (forced != null) {
            candidates.add(forced);
        }
        String home = System.getenv("CUDA_HOME");
        if (home != null) {
            candidates.add(home + "/bin/nvcc");
        }
        candidates.add("/usr/local/cuda/bin/nvcc");
        return candidates.stream().map(Path::of).filter(Files::isExecutable).findFirst();
    }

    /** The program's exit status and output lines; compiled into target/cuda-host-tests-java. */
    public record Run(int status, List<String> lines) {
    }

    public static Run compileAndRun(String name, String... args) throws IOException, InterruptedException {
        Optional<Path> nvcc = nvcc();
        Assumptions.assumeTrue(nvcc.isPresent(),
                "nvcc not found ($OFFLOAD_NVCC, $CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc): host test " + name + " not run");
        Path dir = Path.of("target", "cuda-host-tests-java");
        Files.createDirectories(dir);
        Path exe = dir.resolve(name);
        run(List.of(nvcc.get().toString(), "-std=c++17", "-O1", "-x", "cu", "-I", "src/main/cuda",
                "-o", exe.toString(), "src/test/cuda/" + name + ".cu"), 600, "nvcc " + name);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        cmd.addAll(List.of(args));
        return run(cmd, 300, name);
    }

    private static Run run(List<String> cmd, int timeoutSeconds, String what) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(what + " timed out");
        }
        List<String> lines = new String(out, StandardCharsets.UTF_8).lines().toList();
        if (p.exitValue() != 0 && what.startsWith("nvcc")) {
            throw new AssertionError(what + " failed:\n" + String.join("\n", lines));
        }
        return new Run(p.exitValue(), lines);
    }
}
