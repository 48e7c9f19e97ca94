package org.offload4j.cuda.bindings.generator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where the generator's inputs are on this machine: {@code cuda.h}, the libclang shared library
 * and clang's builtin headers ({@code stddef.h}, ...). Each can be given by a system property;
 * otherwise the usual install locations are searched (Debian's {@code libclang1-N} and
 * {@code libclang-common-N-dev}, a CUDA toolkit under {@code $CUDA_HOME} or {@code /usr/local/cuda}).
 */
public final class Toolchain {

    /** System property: path of {@code cuda.h}. */
    public static final String HEADER_PROPERTY = "offload.cuda.header";
    /** System property: path of the libclang shared library. */
    public static final String LIBCLANG_PROPERTY = "offload.libclang";

    private Toolchain() {
    }

    /** The {@code cuda.h} to read, if one exists. */
    public static Optional<Path> cudaHeader() {
        List<Path> candidates = new ArrayList<>();
        String property = property(HEADER_PROPERTY);
        if (property != null) {
            return existing(Path.of(property));
        }
        String cudaHome = System.getenv("CUDA_HOME");
        if (cudaHome != null) {
            candidates.add(Path.of(cudaHome, "include", "cuda.h"));
        }
        candidates.add(Path.of("/usr/local/cuda/include/cuda.h"));
        return candidates.stream().filter(Files::isRegularFile).findFirst();
    }

    /** Where {@link #cudaHeader()} looks when nothing is found, for messages. */
    public static String cudaHeaderSearched() {
        return property(HEADER_PROPERTY) != null ? property(HEADER_PROPERTY)
                : "$CUDA_HOME/include/cuda.h, /usr/local/cuda/include/cuda.h (or -D" + HEADER_PROPERTY + ")";
    }

    /** The libclang shared library, newest LLVM first. */
    public static Optional<Path> libclang() {
        String property = property(LIBCLANG_PROPERTY);
        if (property != null) {
            return existing(Path.of(property));
        }
        List<Path> found = new ArrayList<>();
        for (Path llvm : list(Path.of("/usr/lib"), "llvm-*")) {
            found.addAll(list(llvm.resolve("lib"), "libclang.so*"));
            found.addAll(list(llvm.resolve("lib"), "libclang-*.so*"));
        }
        found.addAll(list(Path.of("/usr/lib/x86_64-linux-gnu"), "libclang-*.so*"));
        found.addAll(list(Path.of("/usr/lib/x86_64-linux-gnu"), "libclang.so*"));
        found.addAll(list(Path.of("/usr/lib64"), "libclang.so*"));
        return found.stream().filter(Files::isRegularFile)
                .filter(p -> !p.getFileName().toString().contains("libclang-cpp"))
                .max(Comparator.comparing(Toolchain::llvmVersion).thenComparing(Path::toString, Comparator.reverseOrder()));
    }

    /** Where {@link #libclang()} looks when nothing is found, for messages. */
    public static String libclangSearched() {
        return property(LIBCLANG_PROPERTY) != null ? property(LIBCLANG_PROPERTY)
                : "/usr/lib/llvm-*/lib/libclang*.so*, /usr/lib/x86_64-linux-gnu/libclang*.so*, /usr/lib64/libclang.so*"
                + " (apt-get install libclang1-14 libclang-common-14-dev, or -D" + LIBCLANG_PROPERTY + ")";
    }

    /** clang's builtin include directory matching {@code libclang} ({@code <lib>/clang/<version>/include}). */
    public static Optional<Path> builtinIncludes(Path libclang) {
        List<Path> candidates = new ArrayList<>();
        Path lib = libclang.toAbsolutePath().getParent();
        candidates.addAll(list(lib.resolve("clang"), "*"));
        String major = llvmMajor(libclang);
        candidates.addAll(list(Path.of("/usr/lib/llvm-" + major + "/lib/clang"), "*"));
        candidates.addAll(list(Path.of("/usr/lib/clang"), major + "*"));
        return candidates.stream().map(p -> p.resolve("include"))
                .filter(p -> Files.isRegularFile(p.resolve("stddef.h"))).sorted().findFirst();
    }

    /** A system property's value; blank counts as unset. */
    private static String property(String name) {
        String value = System.getProperty(name);
        return value == null || value.isBlank() ? null : value;
    }

    private static Optional<Path> existing(Path p) {
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    private static int llvmVersion(Path p) {
        String m = llvmMajor(p);
        return m.isEmpty() ? 0 : Integer.parseInt(m);
    }

    private static String llvmMajor(Path p) {
        var matcher = java.util.regex.Pattern.compile("(?:llvm-|libclang-)(\\d+)").matcher(p.toString());
        return matcher.find() ? matcher.group(1) : "";
    }

    private static List<Path> list(Path dir, String glob) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        var matcher = dir.getFileSystem().getPathMatcher("glob:" + glob);
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> matcher.matches(p.getFileName())).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
