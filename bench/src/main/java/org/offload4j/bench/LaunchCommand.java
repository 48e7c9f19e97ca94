package org.offload4j.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.offload4j.cuda.KernelImage;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.CudaDrivers;
import org.offload4j.cuda.driver.CudaException;
import org.offload4j.cuda.driver.KernelParams;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code offload bench launch}: what a launch and a small copy cost through each CUDA driver
 * binding, side by side with the same calls made from C.
 *
 * <p><b>Rows.</b> {@code driver (C)}: {@code launch_loop} (bench/src/main/c), the floor. Then each
 * binding, created with {@link CudaDrivers#load(String)}: {@code ffm}, {@code ffm (critical)}
 * (the FFM binding in a child JVM started with {@code -Doffload.cuda.criticalLaunch=true}, so the
 * property is seen however the binding reads it; if the binding ignores it the row repeats
 * {@code ffm}'s figure) and {@code jcuda}. A binding that cannot run here prints one line saying
 * why, and the command still exits 0: on a machine without a GPU it is a report, not a failure.
 *
 * <p><b>Method</b> (the same in C): the empty kernel {@value #KERNEL}, grid 1, block 1, no
 * arguments, on one non-blocking stream of the primary context. <i>Queued</i>: {@code --rounds}
 * rounds of {@code --launches / --rounds} launches issued in batches of {@code --batch} with one
 * stream synchronize per batch; µs per launch, median over rounds. The batch stays below the
 * driver's launch queue (about a thousand entries), so the CPU cost of issuing is measured rather
 * than the GPU draining a full queue. <i>Sync</i>: each launch followed by a stream synchronize
 * (a tenth as many). Java rows warm up with 20 000 launches first (JIT); C with 2 batches.
 * <i>Copies</i>: 4 B, 4 KiB and 64 KiB host→device and device→host from pinned
 * ({@code cuMemAllocHost}) and pageable (ordinary native) memory, each copy followed by a stream
 * synchronize, median of {@code --copies}.
 *
 * <p>Targets (printed at the end): the FFM binding's queued launch at most 5 % above C and below
 * JCuda's.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
        description = {"Launch and small-copy overhead of each CUDA driver binding (FFM, JCuda) against the same calls from C.",
                "Prints one line per binding that cannot run here, with the reason, and exits 0."})
public final class LaunchCommand implements Callable<Integer> {
    /** The kernel launched: cuda-kernels/src/main/cuda/empty.cu. */
    static final String KERNEL = "o4j_empty";
    static final String C_ROW = "driver (C)";
    static final String CRITICAL = "ffm-critical";
    static final String CRITICAL_LABEL = "ffm (critical)";
    static final String CRITICAL_PROPERTY = "offload.cuda.criticalLaunch";
    private static final int JAVA_WARMUP_LAUNCHES = 20_000;
    private static final int[] COPY_SIZES = {4, 4096, 65536};

    @Option(names = "--bindings", split = ",", defaultValue = "ffm,ffm-critical,jcuda", paramLabel = "B",
            description = "bindings to measure, in order: ffm, ffm-critical, jcuda (default: ${DEFAULT-VALUE})")
    List<String> bindings;

    @Option(names = "--launches", defaultValue = "100000", description = "launches per figure (default: ${DEFAULT-VALUE})")
    int launches;

    @Option(names = "--batch", defaultValue = "512", description = "queued launches per stream synchronize (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--rounds", defaultValue = "10", description = "rounds; figures are medians over rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--copies", defaultValue = "200", description = "timed copies per size, direction and memory (default: ${DEFAULT-VALUE})")
    int copies;

    @Option(names = "--device", defaultValue = "0", description = "GPU ordinal (default: ${DEFAULT-VALUE})")
    int device;

    @Option(names = "--fatbin", paramLabel = "FILE", description = "kernel image holding " + KERNEL
            + " (default: the one in the cuda-kernels jar)")
    Path fatbin;

    @Option(names = "--c-loop", paramLabel = "FILE", description = "the launch_loop binary (default: -Doffload.launchLoop, "
            + "else next to the jar: target/native/ or the bundle's bin/)")
    Path cLoop;

    @Option(names = "--require", split = ",", paramLabel = "ROW",
            description = "exit 1 unless these rows ran: driver (as C), ffm, ffm-critical, jcuda (for a GPU host, where a row "
                    + "that cannot run is a failure, not a report)")
    List<String> required = List.of();

    /** Child mode (the ffm-critical row): machine-readable rows only. */
    @Option(names = "--rows-only", hidden = true)
    boolean rowsOnly;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** One row of the launch table: figures, or the reason it did not run. */
    record LaunchRow(String label, double queuedUs, double syncUs, String reason) {
        static LaunchRow notRun(String label, String reason) {
            return new LaunchRow(label, Double.NaN, Double.NaN, reason);
        }

        boolean ran() {
            return reason == null;
        }
    }

    /** Median µs of copy + synchronize, by direction ({@code H2D}, {@code D2H}) and size. */
    record CopyRow(String label, String memory, Map<String, Double> medianUs) {
    }

    @Override
    public Integer call() {
        if (launches < rounds || batch <= 0 || rounds <= 0 || copies <= 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--launches must be at least --rounds, and --batch, --rounds, --copies positive");
        }
        for (String b : bindings) {
            if (!List.of("ffm", CRITICAL, "jcuda").contains(b)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--bindings " + b + " is not a binding; use ffm, ffm-critical or jcuda");
            }
        }
        for (String r : required) {
            if (!r.equals("driver") && !bindings.contains(r)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--require " + r + " is not a row of this run; use driver or one of --bindings " + bindings);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        Image image = image();
        List<LaunchRow> rows = new ArrayList<>();
        List<CopyRow> copyRows = new ArrayList<>();
        String deviceName = null;
        if (!rowsOnly) {
            rows.add(runC(image));
        }
        for (String b : bindings) {
            if (b.equals(CRITICAL)) {
                if (rowsOnly) {
                    continue;
                }
                rows.add(runCritical(rows, copyRows));
                continue;
            }
            Result r = runBinding(b, image);
            rows.add(r.launch);
            copyRows.addAll(r.copies);
            if (r.deviceName != null) {
                deviceName = r.deviceName;
            }
        }
        if (rowsOnly) {
            printRows(out, rows, copyRows);
        } else {
            printReport(out, deviceName, rows, copyRows);
        }
        out.flush();
        return missingRequired(rows, spec.commandLine().getErr()) ? 1 : 0;
    }

    /** Whether a row named by --require did not run; says which, on {@code err}. */
    private boolean missingRequired(List<LaunchRow> rows, PrintWriter err) {
        boolean missing = false;
        for (String r : required) {
            String label = switch (r) {
                case "driver" -> C_ROW;
                case CRITICAL -> CRITICAL_LABEL;
                default -> r;
            };
            boolean ran = rows.stream().anyMatch(row -> row.label().equals(label) && row.ran());
            if (!ran) {
                err.println("offload bench launch: required row '" + label + "' did not run (--require)");
                missing = true;
            }
        }
        err.flush();
        return missing;
    }

    // ---------------------------------------------------------------- the kernel image

    /** The fatbin's bytes and path, or why there is none. */
    record Image(byte[] bytes, Path file, String missing) {
    }

    private Image image() {
        if (fatbin != null) {
            try {
                return new Image(Files.readAllBytes(fatbin), fatbin, null);
            } catch (IOException e) {
                return new Image(null, null, "cannot read --fatbin " + fatbin + ": " + e.getMessage());
            }
        }
        KernelImage.Result shipped = KernelImage.load();
        if (shipped.image().isEmpty()) {
            return new Image(null, null, shipped.missingReason());
        }
        try (InputStream in = KernelImage.class.getResourceAsStream("offload4j.fatbin")) {
            return new Image(in.readAllBytes(), null, null);
        } catch (IOException e) {
            return new Image(null, null, "cannot read the shipped fatbin: " + e.getMessage());
        }
    }

    /** The image as a file, for launch_loop (the shipped one is written to a temporary file). */
    private static Path imageFile(Image image) throws IOException {
        if (image.file() != null) {
            return image.file();
        }
        Path f = Files.createTempFile("offload4j-", ".fatbin");
        f.toFile().deleteOnExit();
        Files.write(f, image.bytes());
        return f;
    }

    // ---------------------------------------------------------------- C floor

    static final Pattern C_LINE = Pattern.compile("launch_loop queued_us=([0-9.]+) sync_us=([0-9.]+)");

    /** The figures of launch_loop's output line, if it has one. */
    static Optional<LaunchRow> parseC(String stdout) {
        Matcher m = C_LINE.matcher(stdout);
        return m.find() ? Optional.of(new LaunchRow(C_ROW, Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)), null))
                : Optional.empty();
    }

    private LaunchRow runC(Image image) {
        Locator.Found exe = Locator.launchLoop(cLoop);
        if (exe.path() == null) {
            return LaunchRow.notRun(C_ROW, exe.why());
        }
        if (image.missing() != null) {
            return LaunchRow.notRun(C_ROW, image.missing());
        }
        try {
            List<String> cmd = List.of(exe.path().toString(), imageFile(image).toString(), Integer.toString(launches),
                    Integer.toString(batch), Integer.toString(rounds), KERNEL);
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String text;
            try (InputStream in = p.getInputStream()) {
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return LaunchRow.notRun(C_ROW, exe.path() + " did not finish in 10 minutes");
            }
            Optional<LaunchRow> row = parseC(text);
            if (p.exitValue() == 0 && row.isPresent()) {
                return row.get();
            }
            String last = text.strip().lines().reduce((a, b) -> b).orElse("exit status " + p.exitValue());
            return LaunchRow.notRun(C_ROW, last.replaceFirst("^launch_loop: ", ""));
        } catch (IOException e) {
            return LaunchRow.notRun(C_ROW, "cannot run " + exe.path() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return LaunchRow.notRun(C_ROW, "interrupted");
        }
    }

    // ---------------------------------------------------------------- Java bindings

    private record Result(LaunchRow launch, List<CopyRow> copies, String deviceName) {
    }

    private Result runBinding(String binding, Image image) {
        CudaDriver d;
        try {
            d = CudaDrivers.load(binding);
        } catch (UnsupportedOperationException e) {
            return new Result(LaunchRow.notRun(binding, e.getMessage()), List.of(), null);
        }
        if (image.missing() != null) {
            return new Result(LaunchRow.notRun(binding, image.missing()), List.of(), null);
        }
        try {
            return measure(binding, d, image.bytes());
        } catch (CudaException | UnsupportedOperationException e) {
            String hint = e instanceof CudaException c && c.call().equals("cuModuleGetFunction")
                    ? " (the fatbin lacks " + KERNEL + ": is empty.cu compiled into it?)" : "";
            return new Result(LaunchRow.notRun(binding, e.getMessage() + hint), List.of(), null);
        }
    }

    private Result measure(String label, CudaDriver d, byte[] image) {
        d.init();
        int count = d.deviceGetCount();
        if (device >= count) {
            throw new UnsupportedOperationException("the driver reports " + count + " device(s), no device " + device);
        }
        int dev = d.deviceGet(device);
        String name = d.deviceGetName(dev);
        long ctx = d.devicePrimaryCtxRetain(dev);
        long module = 0;
        long stream = 0;
        try {
            d.ctxSetCurrent(ctx);
            module = d.moduleLoadData(image);
            long f = d.moduleGetFunction(module, KERNEL);
            stream = d.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
            KernelParams params = d.newKernelParams(1);
            queued(d, f, stream, params, JAVA_WARMUP_LAUNCHES);
            int perRound = launches / rounds;
            double[] q = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                q[r] = queued(d, f, stream, params, perRound);
            }
            double[] s = new double[rounds];
            int syncs = Math.max(1, perRound / 10);
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < syncs; i++) {
                    d.launchKernel(f, 1, 1, 1, 1, 1, 1, 0, stream, params.clear());
                    d.streamSynchronize(stream);
                }
                s[r] = (System.nanoTime() - t0) / 1e3 / syncs;
            }
            LaunchRow row = new LaunchRow(label, median(q), median(s), null);
            List<CopyRow> copyRows = List.of(copies(label, d, stream, true), copies(label, d, stream, false));
            return new Result(row, copyRows, name);
        } finally {
            if (stream != 0) {
                d.streamDestroy(stream);
            }
            if (module != 0) {
                d.moduleUnload(module);
            }
            d.devicePrimaryCtxRelease(dev);
        }
    }

    /** µs per launch of {@code n} launches in batches, one synchronize per batch. */
    private double queued(CudaDriver d, long f, long stream, KernelParams params, int n) {
        long t0 = System.nanoTime();
        for (int done = 0; done < n; ) {
            int k = Math.min(batch, n - done);
            for (int i = 0; i < k; i++) {
                d.launchKernel(f, 1, 1, 1, 1, 1, 1, 0, stream, params.clear());
            }
            d.streamSynchronize(stream);
            done += k;
        }
        return (System.nanoTime() - t0) / 1e3 / n;
    }

    private CopyRow copies(String label, CudaDriver d, long stream, boolean pinned) {
        int max = COPY_SIZES[COPY_SIZES.length - 1];
        long dev = d.memAlloc(max);
        Arena arena = Arena.ofConfined();
        MemorySegment host = pinned ? d.memAllocHost(max) : arena.allocate(max, 4096);
        try {
            for (long i = 0; i < max; i++) {
                host.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            }
            Map<String, Double> figures = new LinkedHashMap<>();
            for (String dir : List.of("H2D", "D2H")) {
                for (int size : COPY_SIZES) {
                    double[] t = new double[copies];
                    for (int i = -20; i < copies; i++) { // 20 untimed warm-up copies
                        long t0 = System.nanoTime();
                        if (dir.equals("H2D")) {
                            d.memcpyHtoDAsync(dev, host, size, stream);
                        } else {
                            d.memcpyDtoHAsync(host, dev, size, stream);
                        }
                        d.streamSynchronize(stream);
                        if (i >= 0) {
                            t[i] = (System.nanoTime() - t0) / 1e3;
                        }
                    }
                    figures.put(dir + " " + sizeName(size), median(t));
                }
            }
            return new CopyRow(label, pinned ? "pinned" : "pageable", figures);
        } finally {
            if (pinned) {
                d.memFreeHost(host);
            }
            arena.close();
            d.memFree(dev);
        }
    }

    static String sizeName(int bytes) {
        return bytes >= 1024 ? bytes / 1024 + " KiB" : bytes + " B";
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    // ---------------------------------------------------------------- ffm with critical launches (child JVM)

    private LaunchRow runCritical(List<LaunchRow> rowsSoFar, List<CopyRow> copyRows) {
        String label = CRITICAL_LABEL;
        try {
            CudaDrivers.load("ffm");
        } catch (UnsupportedOperationException e) {
            return LaunchRow.notRun(label, "needs the ffm binding: " + e.getMessage());
        }
        Optional<LaunchRow> ffm = rowsSoFar.stream().filter(r -> r.label().equals("ffm")).findFirst();
        if (ffm.isPresent() && !ffm.get().ran()) {
            return LaunchRow.notRun(label, "the ffm binding did not run (above)");
        }
        List<String> args = new ArrayList<>(List.of("bench", "launch", "--rows-only", "--bindings", "ffm",
                "--launches", Integer.toString(launches), "--batch", Integer.toString(batch),
                "--rounds", Integer.toString(rounds), "--copies", Integer.toString(copies), "--device", Integer.toString(device)));
        if (fatbin != null) {
            args.addAll(List.of("--fatbin", fatbin.toString()));
        }
        List<String> cmd = ChildJvm.command(List.of("-D" + CRITICAL_PROPERTY, "-D" + CudaDrivers.PROPERTY),
                List.of("-D" + CRITICAL_PROPERTY + "=true"), args);
        try {
            Process p = ChildJvm.builder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            p.getOutputStream().close();
            String text;
            try (InputStream in = p.getInputStream()) {
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            p.waitFor();
            List<LaunchRow> child = new ArrayList<>();
            List<CopyRow> childCopies = new ArrayList<>();
            parseRows(text, child, childCopies);
            for (CopyRow c : childCopies) {
                copyRows.add(new CopyRow(label, c.memory(), c.medianUs()));
            }
            return child.isEmpty() ? LaunchRow.notRun(label, "the child JVM printed no result (exit " + p.exitValue() + ")")
                    : new LaunchRow(label, child.get(0).queuedUs(), child.get(0).syncUs(), child.get(0).reason());
        } catch (IOException e) {
            return LaunchRow.notRun(label, "cannot start a child JVM: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return LaunchRow.notRun(label, "interrupted");
        }
    }

    /** Child mode output: {@code launch<TAB>label<TAB>queued<TAB>sync<TAB>reason} and {@code copy<TAB>label<TAB>memory<TAB>key=µs…}. */
    static void printRows(PrintWriter out, List<LaunchRow> rows, List<CopyRow> copyRows) {
        for (LaunchRow r : rows) {
            out.println(String.join("\t", "launch", r.label(), Double.toString(r.queuedUs()), Double.toString(r.syncUs()),
                    r.ran() ? "-" : r.reason().replace('\t', ' ').replace('\n', ' ')));
        }
        for (CopyRow c : copyRows) {
            StringBuilder b = new StringBuilder("copy\t" + c.label() + "\t" + c.memory());
            c.medianUs().forEach((k, v) -> b.append('\t').append(k).append('=').append(v));
            out.println(b);
        }
    }

    static void parseRows(String text, List<LaunchRow> rows, List<CopyRow> copyRows) {
        for (String line : text.lines().toList()) {
            String[] f = line.split("\t");
            if (f[0].equals("launch") && f.length == 5) {
                rows.add(new LaunchRow(f[1], Double.parseDouble(f[2]), Double.parseDouble(f[3]), f[4].equals("-") ? null : f[4]));
            } else if (f[0].equals("copy") && f.length >= 3) {
                Map<String, Double> m = new LinkedHashMap<>();
                for (int i = 3; i < f.length; i++) {
                    int eq = f[i].lastIndexOf('=');
                    m.put(f[i].substring(0, eq), Double.parseDouble(f[i].substring(eq + 1)));
                }
                copyRows.add(new CopyRow(f[1], f[2], m));
            }
        }
    }

    // ---------------------------------------------------------------- report

    /** {@code +2.3 %} above the C figure, or a dash where either is missing. */
    static String aboveC(double java, double c) {
        if (Double.isNaN(java) || Double.isNaN(c) || c <= 0) {
            return "—";
        }
        return String.format(Locale.ROOT, "%+.1f %%", 100 * (java - c) / c);
    }

    private void printReport(PrintWriter out, String deviceName, List<LaunchRow> rows, List<CopyRow> copyRows) {
        out.println("offload bench launch: CUDA launch and small-copy overhead per driver binding, against C"
                + (deviceName == null ? "" : " (device " + device + ": " + deviceName + ")"));
        out.printf(Locale.ROOT, "empty kernel %s, grid 1, block 1, no arguments; %d launches in %d rounds, queued in batches of %d;"
                + " medians over rounds%n%n", KERNEL, launches, rounds, batch);
        double c = rows.stream().filter(r -> r.label().equals(C_ROW) && r.ran()).mapToDouble(LaunchRow::queuedUs).findFirst().orElse(Double.NaN);
        double cSync = rows.stream().filter(r -> r.label().equals(C_ROW) && r.ran()).mapToDouble(LaunchRow::syncUs).findFirst().orElse(Double.NaN);
        out.printf(Locale.ROOT, "%-16s %16s %9s %12s %15s %9s%n", "binding", "queued µs/launch", "vs C", "launches/s", "sync µs/launch", "vs C");
        for (LaunchRow r : rows) {
            if (!r.ran()) {
                out.printf(Locale.ROOT, "%-16s not run: %s%n", r.label(), r.reason());
                continue;
            }
            out.printf(Locale.ROOT, "%-16s %16.3f %9s %11.1fk %15.3f %9s%n", r.label(), r.queuedUs(),
                    r.label().equals(C_ROW) ? "—" : aboveC(r.queuedUs(), c), 1e3 / r.queuedUs(), r.syncUs(),
                    r.label().equals(C_ROW) ? "—" : aboveC(r.syncUs(), cSync));
        }
        if (!copyRows.isEmpty()) {
            out.printf(Locale.ROOT, "%nsmall copies: median µs of one copy + stream synchronize (%d each)%n", copies);
            List<String> keys = new ArrayList<>(copyRows.get(0).medianUs().keySet());
            StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-16s %-9s", "binding", "memory"));
            keys.forEach(k -> head.append(String.format(Locale.ROOT, " %11s", k)));
            out.println(head);
            for (CopyRow r : copyRows) {
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-16s %-9s", r.label(), r.memory()));
                keys.forEach(k -> line.append(String.format(Locale.ROOT, " %11.2f", r.medianUs().getOrDefault(k, Double.NaN))));
                out.println(line);
            }
        }
        out.println();
        out.println(targets(rows));
    }

    /** The targets: FFM queued launch at most 5 % above C, and below JCuda. */
    static String targets(List<LaunchRow> rows) {
        Map<String, LaunchRow> by = new LinkedHashMap<>();
        rows.forEach(r -> by.put(r.label(), r));
        LaunchRow ffm = by.get("ffm");
        LaunchRow cRow = by.get(C_ROW);
        LaunchRow jcuda = by.get("jcuda");
        StringBuilder b = new StringBuilder("targets: ");
        if (ffm == null || !ffm.ran()) {
            return b.append("not measured (the ffm binding did not run)").toString();
        }
        if (cRow != null && cRow.ran()) {
            double pct = 100 * (ffm.queuedUs() - cRow.queuedUs()) / cRow.queuedUs();
            b.append(String.format(Locale.ROOT, "FFM queued launch ≤ 5 %% above C: %s (%+.1f %%)", pct <= 5 ? "met" : "NOT met", pct));
        } else {
            b.append("FFM queued launch ≤ 5 % above C: not measured (no C figure)");
        }
        b.append("; below JCuda: ");
        if (jcuda != null && jcuda.ran()) {
            b.append(String.format(Locale.ROOT, "%s (%.3f vs %.3f µs)", ffm.queuedUs() < jcuda.queuedUs() ? "met" : "NOT met",
                    ffm.queuedUs(), jcuda.queuedUs()));
        } else {
            b.append("not measured (no JCuda figure)");
        }
        return b.toString();
    }

    // ---------------------------------------------------------------- finding launch_loop

    /** Where launch_loop is: an option, a property, or next to this jar (target/native, the bundle's bin/). */
    static final class Locator {
        record Found(Path path, String why) {
        }

        static Found launchLoop(Path option) {
            if (option != null) {
                return Files.isExecutable(option) ? new Found(option, null)
                        : new Found(null, "--c-loop " + option + " is not an executable file");
            }
            String prop = System.getProperty("offload.launchLoop");
            if (prop != null && !prop.isBlank()) {
                Path p = Path.of(prop);
                return Files.isExecutable(p) ? new Found(p, null)
                        : new Found(null, "-Doffload.launchLoop=" + prop + " is not an executable file");
            }
            Path here = codeLocation();
            if (here != null) {
                Path dir = here.getParent(); // target/ for target/classes and target/offload-bench.jar; lib/ in a bundle
                for (Path p : List.of(dir.resolve("native/launch_loop"), dir.resolveSibling("bin").resolve("launch_loop"),
                        dir.resolve("bin/launch_loop"))) {
                    if (Files.isExecutable(p)) {
                        return new Found(p, null);
                    }
                }
                Path reason = dir.resolve("native/launch_loop.reason");
                if (Files.isRegularFile(reason)) {
                    try {
                        return new Found(null, "launch_loop was not built: " + Files.readString(reason).strip());
                    } catch (IOException e) {
                        // fall through to the generic reason
                    }
                }
            }
            return new Found(null, "no launch_loop binary (the bench build makes target/native/launch_loop where gcc and cuda.h "
                    + "exist; or pass --c-loop FILE)");
        }

        private static Path codeLocation() {
            try {
                var src = LaunchCommand.class.getProtectionDomain().getCodeSource();
                return src == null ? null : Path.of(src.getLocation().toURI());
            } catch (URISyntaxException | IllegalArgumentException | SecurityException e) {
                return null;
            }
        }
    }
}
