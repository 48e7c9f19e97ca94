package org.offload4j.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code offload bench --compare torch}: runs {@code torch_compare.py} (shipped in this jar, or a
 * script given instead) once for all cases: the cases as JSON on its stdin, PyTorch's times as
 * JSON on its stdout. Where it cannot run (no python3, no torch, no CUDA device, a failure, a
 * timeout) the outcome is one short reason, which the report prints in the torch column.
 */
public final class TorchComparator {
    static final String SCRIPT_RESOURCE = "torch_compare.py";

    private final String python;
    private final Path script;
    private final Duration timeout;

    /**
     * @param python  the interpreter (a name looked up on PATH, or a path)
     * @param script  the comparator script; null for the one in this jar
     * @param timeout how long the whole comparison may take
     */
    TorchComparator(String python, Path script, Duration timeout) {
        this.python = python;
        this.script = script;
        this.timeout = timeout;
    }

    /** One PyTorch variant's median time. */
    public record Variant(String name, double medianNanos) {}

    /** PyTorch's times for one case, and a note (what differs, what failed); note may be null. */
    public record Timing(List<Variant> variants, String note) {
        static final Timing NONE = new Timing(List.of(), null);
    }

    /**
     * The comparison: {@code unavailable} is null and {@code timings} has one entry per case (same
     * order) when the script ran; otherwise {@code unavailable} says why in a few words.
     */
    record Outcome(String unavailable, String torchVersion, String device, List<Timing> timings) {
        static Outcome unavailable(String why, int cases) {
            List<Timing> none = new ArrayList<>();
            for (int i = 0; i < cases; i++) {
                none.add(new Timing(List.of(), why));
            }
            return new Outcome(why, null, null, none);
        }
    }

    /**
     * Times PyTorch's equivalent of each case on {@code device} ({@code cuda} or {@code cpu}); a
     * null case (no equivalent) gets a note and no times.
     */
    Outcome compare(String device, List<Map<String, Object>> cases) {
        List<Object> request = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            if (cases.get(i) != null) {
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("id", i);
                c.putAll(cases.get(i));
                request.add(c);
            }
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("offload-torch-");
            Path py = script != null ? script : extractScript(dir);
            Path in = dir.resolve("request.json");
            Path out = dir.resolve("reply.json");
            Path err = dir.resolve("stderr.txt");
            Files.writeString(in, MiniJson.write(Map.of("device", device, "cases", request)), StandardCharsets.UTF_8);
            Process p;
            try {
                p = new ProcessBuilder(python, py.toString()).redirectInput(in.toFile()).redirectOutput(out.toFile())
                        .redirectError(err.toFile()).start();
            } catch (IOException e) {
                return Outcome.unavailable("no " + python, cases.size());
            }
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                return Outcome.unavailable("torch timed out after " + timeout.toSeconds() + " s", cases.size());
            }
            return read(Files.readString(out, StandardCharsets.UTF_8), p.exitValue(),
                    Files.readString(err, StandardCharsets.UTF_8), cases);
        } catch (IOException e) {
            throw new UncheckedIOException("running the torch comparison", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Outcome.unavailable("interrupted", cases.size());
        } finally {
            deleteQuietly(dir);
        }
    }

    /** {@code text} as a JSON object, or null when it is not one. */
    private static Map<?, ?> jsonObject(String text) {
        try {
            return MiniJson.parse(text) instanceof Map<?, ?> m ? m : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** Turns the script's reply into an outcome; exit code and stderr explain a reply that is not JSON. */
    static Outcome read(String stdout, int exit, String stderr, List<Map<String, Object>> cases) {
        Map<?, ?> reply = jsonObject(stdout.strip());
        if (reply == null) {
            // The script writes its reply as one line, last: a library may have printed before it.
            reply = jsonObject(stdout.strip().lines().reduce((a, b) -> b).orElse(""));
        }
        if (reply == null) {
            String last = stderr.strip().lines().reduce((a, b) -> b).orElse("no output");
            return Outcome.unavailable("torch_compare.py failed (exit " + exit + "): " + abbreviate(last, 100), cases.size());
        }
        if (reply.get("unavailable") instanceof String why) {
            return Outcome.unavailable(why, cases.size());
        }
        List<Timing> timings = new ArrayList<>();
        for (Map<String, Object> c : cases) {
            timings.add(c == null ? new Timing(List.of(), "no torch equivalent") : Timing.NONE);
        }
        if (reply.get("results") instanceof List<?> results) {
            for (Object r : results) {
                if (r instanceof Map<?, ?> m && m.get("id") instanceof Double id && id >= 0 && id < cases.size()) {
                    List<Variant> variants = new ArrayList<>();
                    if (m.get("variants") instanceof List<?> vs) {
                        for (Object v : vs) {
                            if (v instanceof Map<?, ?> vm && vm.get("name") instanceof String name
                                    && vm.get("median_ns") instanceof Double ns) {
                                variants.add(new Variant(name, ns));
                            }
                        }
                    }
                    timings.set(id.intValue(), new Timing(List.copyOf(variants), m.get("note") instanceof String n ? n : null));
                }
            }
        }
        return new Outcome(null, String.valueOf(reply.get("torch")), String.valueOf(reply.get("device")), timings);
    }

    private static Path extractScript(Path dir) throws IOException {
        Path py = dir.resolve(SCRIPT_RESOURCE);
        try (InputStream in = TorchComparator.class.getResourceAsStream(SCRIPT_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the bench jar has no " + SCRIPT_RESOURCE + " resource (a packaging bug)");
            }
            Files.copy(in, py, StandardCopyOption.REPLACE_EXISTING);
        }
        return py;
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // a temp folder left behind is harmless
        }
    }
}
