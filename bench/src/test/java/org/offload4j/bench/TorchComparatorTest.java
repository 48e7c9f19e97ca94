package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java side of {@code --compare torch}, with a stand-in script (sh, canned JSON) for the
 * replies and the real torch_compare.py for the paths that need no torch: it parses, and says
 * "python3 has no torch" where that is so.
 */
class TorchComparatorTest {
    private static final Map<String, Object> W4A16 = Map.of("op", "w4a16", "dtype", "bf16", "m", 1, "n", 64, "k", 64, "group", 32);
    private static final Map<String, Object> MOE = Map.of("op", "moe", "dtype", "bf16", "tokens", 4, "experts", 2, "top_k", 1,
            "d_model", 16, "d_ff", 16, "int4", false);

    static Path resource(Path dir, String name) throws Exception {
        Path p = dir.resolve(name);
        try (InputStream in = TorchComparatorTest.class.getResourceAsStream(name)) {
            Files.copy(in, p);
        }
        return p;
    }

    private static boolean runs(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void repliesFillTheCasesInOrderAndCasesWithoutEquivalentSaySo(@TempDir Path dir) throws Exception {
        List<Map<String, Object>> cases = new ArrayList<>(List.of(W4A16, MOE));
        cases.add(null);
        TorchComparator.Outcome o = new TorchComparator("sh", resource(dir, "fake_torch_compare.sh"), Duration.ofSeconds(30))
                .compare("cuda", cases);
        assertNull(o.unavailable());
        assertEquals("9.9.9-fake", o.torchVersion());
        assertEquals("Fake GPU", o.device());
        assertEquals(List.of(new TorchComparator.Variant("dequant+mm", 2000), new TorchComparator.Variant("bf16 mm", 500)),
                o.timings().get(0).variants());
        assertEquals("a note", o.timings().get(0).note());
        assertEquals(List.of(), o.timings().get(1).variants());
        assertEquals("no grouped_mm here", o.timings().get(1).note());
        assertEquals("no torch equivalent", o.timings().get(2).note());
    }

    @Test
    void noInterpreterIsOneShortReasonForEveryCase() {
        TorchComparator.Outcome o = new TorchComparator("/nonexistent/python3", null, Duration.ofSeconds(30))
                .compare("cuda", List.of(W4A16, MOE));
        assertEquals("no /nonexistent/python3", o.unavailable());
        assertEquals(2, o.timings().size());
        assertTrue(o.timings().stream().allMatch(t -> t.variants().isEmpty() && "no /nonexistent/python3".equals(t.note())));
    }

    @Test
    void aReplyThatIsNotJsonNamesTheExitCodeAndTheLastErrorLine() {
        TorchComparator.Outcome o = TorchComparator.read("", 1, "Traceback (most recent call last):\n  ...\nValueError: boom\n",
                List.of(W4A16));
        assertEquals("torch_compare.py failed (exit 1): ValueError: boom", o.unavailable());
    }

    /** A library that prints to stdout before the reply (a warning, a banner) does not lose it. */
    @Test
    void theReplyIsTheLastLineOfStdout() {
        TorchComparator.Outcome o = TorchComparator.read("some library's banner\n{\"unavailable\": \"torch sees no CUDA device\"}\n", 0,
                "", List.of(W4A16));
        assertEquals("torch sees no CUDA device", o.unavailable());
    }

    @Test
    void aHangingComparatorIsStoppedAtItsTimeout(@TempDir Path dir) throws Exception {
        Path hang = dir.resolve("hang.sh");
        Files.writeString(hang, "sleep 30\n");
        long t0 = System.nanoTime();
        TorchComparator.Outcome o = new TorchComparator("sh", hang, Duration.ofSeconds(1)).compare("cuda", List.of(W4A16));
        assertEquals("torch timed out after 1 s", o.unavailable());
        assertTrue(System.nanoTime() - t0 < 20e9, "stopped, not waited for");
    }

    @Test
    void theShippedScriptParses(@TempDir Path dir) throws Exception {
        assumeTrue(runs("python3", "--version"), "no python3 here");
        Path py = resource(dir, TorchComparator.SCRIPT_RESOURCE);
        // ast.parse, as py_compile does, without leaving __pycache__ behind.
        assertTrue(runs("python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", py.toString()));
    }

    @Test
    void theShippedScriptSaysWhenPythonHasNoTorch() {
        assumeTrue(runs("python3", "--version"), "no python3 here");
        assumeTrue(!runs("python3", "-c", "import torch"), "this python3 has torch");
        TorchComparator.Outcome o = new TorchComparator("python3", null, Duration.ofSeconds(60)).compare("cuda", List.of(W4A16, MOE));
        assertEquals("python3 has no torch", o.unavailable());
    }

    @Test
    void theCliPrintsTheTorchColumnsOrWhyTheyAreEmpty(@TempDir Path dir) throws Exception {
        Path fake = resource(dir, "fake_torch_compare.sh");
        Path table = dir.resolve("t.txt");
        Path json = dir.resolve("r.json");
        assertEquals(0, OffloadCli.execute("bench", "w4a16", "--sizes", "3x64x256:32", "--compare", "torch", "--python", "sh",
                "--torch-script", fake.toString(), "--out", table.toString(), "--json", json.toString()));
        String t = Files.readString(table, StandardCharsets.UTF_8);
        assertTrue(t.contains("compared with torch 9.9.9-fake on Fake GPU"), t);
        assertTrue(t.contains("ours/torch") && t.contains("dequant+mm 2.0 µs; bf16 mm 500 ns"), t);
        assertTrue(t.contains("torch, w4a16 m=3 n=64 k=256 g=32: a note"), t);
        String j = Files.readString(json, StandardCharsets.UTF_8);
        assertTrue(j.contains("\"variant\": \"bf16 mm\", \"median_ns\": 500, \"ours_over_torch\": "), j);
        assertTrue(MiniJson.parse(j) instanceof Map<?, ?>, "the JSON report parses");

        assertEquals(0, OffloadCli.execute("bench", "hadamard", "--sizes", "256@4096", "--compare", "torch", "--python",
                "/nonexistent/python3", "--out", table.toString()));
        t = Files.readString(table, StandardCharsets.UTF_8);
        assertTrue(t.contains("compared with torch (not run: no /nonexistent/python3)"), t);
        assertTrue(t.lines().anyMatch(l -> l.startsWith("hadamard") && l.contains("no /nonexistent/python3") && l.trim().endsWith("-")), t);
    }

    @Test
    void onlyTorchIsAcceptedForCompare() {
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "256@4096", "--compare", "tensorflow"));
    }
}
