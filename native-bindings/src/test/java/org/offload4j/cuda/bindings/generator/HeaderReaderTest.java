package org.offload4j.cuda.bindings.generator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generator on small headers written here: C constructs whose spelling differs between
 * libclang versions, and constructs it must refuse rather than bind wrongly. Skipped where no
 * libclang is installed (as {@link GeneratedSourcesUpToDateTest}).
 */
class HeaderReaderTest {
    @TempDir
    Path dir;

    /**
     * The libclang to use, or the test is skipped. Called before any {@code assertThrows}: inside
     * its lambda the skip would be an unexpected exception, a failure where libclang is missing.
     */
    private static Path libclang() {
        Optional<Path> libclang = Toolchain.libclang();
        assumeTrue(libclang.isPresent(), () -> "no libclang: searched " + Toolchain.libclangSearched());
        return libclang.get();
    }

    private Map<String, String> generate(String header, String... functions) throws IOException {
        Path libclang = libclang();
        Path h = Files.writeString(dir.resolve("t.h"), "#define CUDA_VERSION 13000\n" + header); // the generator checks it
        Path allow = Files.writeString(dir.resolve("t.bindings"), String.join("\n", functions) + "\n");
        return BindingsGenerator.generate(new BindingsGenerator.Options(h, libclang, allow, List.of()));
    }

    private static String all(Map<String, String> files) {
        return String.join("\n", files.values());
    }

    @Test
    void typedefNamedAnonymousStructAndEnumTakeTheTypedefName() throws IOException {
        Map<String, String> files = generate("""
                typedef enum { MODE_A = 1, MODE_B = 2 } Mode;
                typedef struct { int kind; long long size; } Params;
                int setParams(const Params *p, Mode m);
                """, "setParams");
        assertTrue(files.keySet().stream().anyMatch(f -> f.endsWith("/Params.java") || f.equals("Params.java")), files.keySet().toString());
        assertTrue(files.keySet().stream().noneMatch(f -> f.endsWith("/.java") || f.equals(".java")), files.keySet().toString());
        String text = all(files);
        assertTrue(text.contains("enum Mode.MODE_A = 1"), "the enum constant's comment names the typedef");
        assertTrue(!text.contains("enum .MODE_A"), "no empty enum name");
    }

    @Test
    void anAnonymousMemberIsRefusedNotTurnedIntoPadding() {
        libclang();
        var e = assertThrows(UnsupportedOperationException.class, () -> generate("""
                struct S2 { int kind; union { long long l; double d; }; int tail; };
                int useS2(struct S2 s);
                """, "useS2"));
        assertTrue(e.getMessage().contains("S2") && e.getMessage().contains("anonymous"), e.getMessage());
    }

    @Test
    void ordinaryPaddingIsStillAccepted() throws IOException {
        String text = all(generate("""
                struct P { char c; long long l; short s; };
                int useP(struct P *p);
                """, "useP"));
        assertTrue(text.contains("\"c\"") && text.contains("\"l\"") && text.contains("\"s\""), text);
        assertEquals(1, text.split("class P\\b", -1).length - 1, "one class P");
    }
}
