package org.offload4j.cuda.bindings.generator;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The committed bindings are exactly what the generator makes from the installed {@code cuda.h}.
 * Skipped (with the missing file named) where the header or libclang is not installed.
 */
class GeneratedSourcesUpToDateTest {

    private static final Path SOURCES = Path.of("src/main/java");
    private static final Path ALLOW_LIST = Path.of("src/main/bindings/cuda.bindings");

    @Test
    void committedSourcesMatchTheGenerator(@TempDir Path out) throws IOException {
        Optional<Path> header = Toolchain.cudaHeader();
        assumeTrue(header.isPresent(), () -> "no cuda.h: searched " + Toolchain.cudaHeaderSearched());
        Optional<Path> libclang = Toolchain.libclang();
        assumeTrue(libclang.isPresent(), () -> "no libclang: searched " + Toolchain.libclangSearched());

        var files = BindingsGenerator.generate(
                new BindingsGenerator.Options(header.get(), libclang.get(), ALLOW_LIST, List.of()));
        BindingsGenerator.write(files, out);

        Path committed = SOURCES.resolve(BindingsGenerator.packageDir());
        Path generated = out.resolve(BindingsGenerator.packageDir());
        TreeSet<String> names = new TreeSet<>(javaFiles(committed));
        names.addAll(javaFiles(generated));
        List<String> problems = new ArrayList<>();
        for (String name : names) {
            Path c = committed.resolve(name);
            Path g = generated.resolve(name);
            if (!Files.exists(g)) {
                problems.add(name + ": committed, but the generator no longer makes it");
            } else if (!Files.exists(c)) {
                problems.add(name + ": made by the generator, but not committed");
            } else {
                firstDifference(name, Files.readAllLines(c, StandardCharsets.UTF_8),
                        Files.readAllLines(g, StandardCharsets.UTF_8)).ifPresent(problems::add);
            }
        }
        if (!problems.isEmpty()) {
            fail("the committed bindings differ from what the generator makes from " + header.get()
                    + "; regenerate with ./mvnw -B -Pregen-bindings -pl native-bindings process-classes\n"
                    + String.join("\n", problems));
        }
    }

    private static Optional<String> firstDifference(String name, List<String> committed, List<String> generated) {
        for (int i = 0; i < Math.max(committed.size(), generated.size()); i++) {
            String c = i < committed.size() ? committed.get(i) : "<end of file>";
            String g = i < generated.size() ? generated.get(i) : "<end of file>";
            if (!c.equals(g)) {
                return Optional.of(name + ":" + (i + 1) + "\n  committed: " + c + "\n  generated: " + g);
            }
        }
        return Optional.empty();
    }

    private static List<String> javaFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".java")).sorted().toList();
        }
    }
}
