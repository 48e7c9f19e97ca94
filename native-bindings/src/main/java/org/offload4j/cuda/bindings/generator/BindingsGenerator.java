package org.offload4j.cuda.bindings.generator;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.offload4j.cuda.bindings.generator.Model.Function;

/**
 * Generates {@code org.offload4j.cuda.bindings} from {@code cuda.h}, as jextract would: parses the
 * header with libclang (through {@link LibClang}), binds the functions named in an allow-list
 * under their public names to the versioned symbols the header's macros select, and emits every
 * record they reach, every enum constant and every plain integer macro of the header.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp ... org.offload4j.cuda.bindings.generator.BindingsGenerator \
 *     --allow-list src/main/bindings/cuda.bindings --out src/main/java \
 *     [--header /usr/local/cuda/include/cuda.h] [--libclang /usr/lib/llvm-14/lib/libclang.so.1] [-I dir]...
 * </pre>
 *
 * Writes {@code <out>/org/offload4j/cuda/bindings/*.java} and deletes generated files there that
 * are no longer produced. Output is deterministic: the same header gives the same bytes.
 */
public final class BindingsGenerator {

    private BindingsGenerator() {
    }

    /** Inputs of one run. */
    public record Options(Path header, Path libclang, Path allowList, List<Path> includes) {
    }

    public static void main(String[] args) throws IOException {
        Path header = null;
        Path libclang = null;
        Path allowList = null;
        Path out = null;
        List<Path> includes = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--header" -> header = Path.of(value);
                case "--libclang" -> libclang = Path.of(value);
                case "--allow-list" -> allowList = Path.of(value);
                case "--out" -> out = Path.of(value);
                case "-I" -> includes.add(Path.of(value));
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; expected --allow-list F --out DIR [--header F] [--libclang F] [-I DIR]...");
            }
            i++;
        }
        if (allowList == null || out == null) {
            throw new IllegalArgumentException("--allow-list and --out are required");
        }
        if (header == null) {
            header = Toolchain.cudaHeader().orElseThrow(() -> new IllegalArgumentException(
                    "no cuda.h found; searched " + Toolchain.cudaHeaderSearched()));
        }
        if (libclang == null) {
            libclang = Toolchain.libclang().orElseThrow(() -> new IllegalArgumentException(
                    "no libclang found; searched " + Toolchain.libclangSearched()));
        }
        Map<String, String> files = generate(new Options(header, libclang, allowList, includes));
        int written = write(files, out);
        System.out.println("Generated " + files.size() + " files (" + written + " changed) under "
                + out.resolve(packageDir()) + " from " + header);
    }

    /** The package directory relative to a source root. */
    public static Path packageDir() {
        return Path.of(JavaEmitter.PACKAGE.replace('.', '/'));
    }

    /** Runs the generator: file name to content. */
    public static Map<String, String> generate(Options options) throws IOException {
        List<String> names = readAllowList(options.allowList());
        List<String> args = new ArrayList<>(List.of("-x", "c", "-std=c11"));
        Toolchain.builtinIncludes(options.libclang()).ifPresent(p -> args.add("-I" + p));
        for (Path include : options.includes()) {
            args.add("-I" + include);
        }
        args.add("-I" + options.header().toAbsolutePath().getParent());
        try (Arena arena = Arena.ofConfined()) {
            LibClang clang = new LibClang(options.libclang(), arena);
            MemorySegment index = clang.createIndex();
            MemorySegment tu = clang.parse(index, options.header().toString(), args,
                    LibClang.TU_DETAILED_PREPROCESSING_RECORD | LibClang.TU_SKIP_FUNCTION_BODIES);
            if (tu.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("libclang could not parse " + options.header() + " with " + args);
            }
            try {
                List<String> errors = clang.errors(tu);
                if (!errors.isEmpty()) {
                    throw new IllegalStateException("errors parsing " + options.header() + " with " + args + ":\n"
                            + String.join("\n", errors));
                }
                HeaderReader reader = new HeaderReader(clang, tu);
                List<Function> functions = new ArrayList<>();
                for (String name : names) {
                    functions.add(reader.function(name));
                }
                return new JavaEmitter(reader.cudaVersion()).emit(functions, reader.constants(), reader.records());
            } finally {
                clang.disposeTranslationUnit(tu);
                clang.disposeIndex(index);
            }
        }
    }

    /** The function names of an allow-list: one per line, {@code #} starts a comment; in file order, once each. */
    static List<String> readAllowList(Path file) throws IOException {
        Set<String> names = new LinkedHashSet<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String name = line.replaceFirst("#.*", "").strip();
            if (!name.isEmpty()) {
                names.add(name);
            }
        }
        return List.copyOf(names);
    }

    /** Writes {@code files} under {@code root}'s package directory; removes stale generated files. Returns how many changed. */
    static int write(Map<String, String> files, Path root) throws IOException {
        Path dir = root.resolve(packageDir());
        Files.createDirectories(dir);
        try (Stream<Path> existing = Files.list(dir)) {
            for (Path p : existing.filter(Files::isRegularFile).sorted(Comparator.naturalOrder()).toList()) {
                if (!files.containsKey(p.getFileName().toString())
                        && Files.readString(p, StandardCharsets.UTF_8).startsWith(JavaEmitter.MARK)) {
                    Files.delete(p);
                }
            }
        }
        int changed = 0;
        for (Map.Entry<String, String> e : files.entrySet()) {
            Path p = dir.resolve(e.getKey());
            if (!Files.exists(p) || !Files.readString(p, StandardCharsets.UTF_8).equals(e.getValue())) {
                Files.writeString(p, e.getValue(), StandardCharsets.UTF_8);
                changed++;
            }
        }
        return changed;
    }
}
