package org.offload4j.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.IntFunction;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Floors;
import org.offload4j.cuda.CudaTimer;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code offload bench [OP…]}: for each case, a correctness check of a sample against the
 * float64 reference (outputs poisoned first), the median time after warm-up, the achieved GB/s
 * and TFLOP/s, and the percentage of the floor: the larger of bytes / copy bandwidth and
 * FLOPs / matmul rate, both had from the backend ({@link Floors}) at the start of the same run
 * (the CPU measures an fp32 GEMM; CUDA takes the data-sheet tensor rate: the report prints
 * {@link Floors#method()}). Where the backend measures them, also the percentage of the copy bandwidth, of the
 * in-place read-modify-write bandwidth and (for ops made of products) of the FMA peak, each
 * ratio against a ceiling of the same run; with {@code --ceilings each} those three are measured
 * again after every case and each case's ratios are taken against the mean of the measurements
 * just before and just after it ({@link Ceilings}). Exits 1 if any case is incorrect. With
 * {@code --recheck}, every case is also timed again after all have run once and alone in a fresh
 * JVM ({@link Recheck}), and the command exits 3 when a case ran more than {@value Recheck#SLOWER}
 * times slower in the run than alone (1 still wins). With
 * {@code --compare torch}, PyTorch's nearest equivalent of each case is timed afterwards by
 * {@code torch_compare.py} on the same kind of device ({@link TorchComparator}), and the report
 * gains the columns torch and ours/torch.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, subcommands = LaunchCommand.class,
        description = "Benchmark the ops: correctness vs float64, median time, GB/s, %% of the measured floor.")
public final class BenchCommand implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "OP", description = "ops to run (default: all): ${COMPLETION-CANDIDATES}",
            completionCandidates = OpNames.class)
    List<String> ops = new ArrayList<>();

    @Option(names = "--backend", paramLabel = "B", description = "backend to run on (default: the best available, or -Doffload.backend)")
    String backend;

    @Option(names = "--sizes", paramLabel = "SIZE",
            description = "sizes, comma-separated, in each op's syntax:%n"
                    + "  hadamard   d[@elements][:inplace] (rows = elements / d, rounded down)%n"
                    + "  w4a16      MxNxK[:g]%n"
                    + "  attention  HqxHkvxSqxSkvxD[c][kC] (c: causal; kC: K and V in KV caches of capacity C)%n"
                    + "  moe        TxExKxDMODELxDFF[:w4|:prep] (w4: int4 experts; prep: bf16 experts prepared())%n"
                    + "  brgemm     N or MxNxK")
    List<String> sizes;

    @Option(names = "--dtype", paramLabel = "T", description = "activation dtypes (default: each op's first)")
    List<String> dtypes;

    @Option(names = "--full", description = "the full sweep and longer timing (default: the quick suite, under a minute on 2 cores)")
    boolean full;

    @Option(names = "--format", defaultValue = "table", description = "table, json or csv (default: ${DEFAULT-VALUE})")
    Reports.Format format;

    @Option(names = "--out", paramLabel = "FILE", description = "also write the report (in --format) to FILE")
    Path out;

    @Option(names = "--plot", paramLabel = "FILE", description = "draw throughput vs size per backend, floor as a line (.svg or .png)")
    Path plot;

    @Option(names = "--accuracy", description = "attention only: FP8 accuracy report on inputs with channel outliers, "
            + "vs float64 on the dequantized and on the original inputs, with and without the Hadamard rotation")
    boolean accuracy;

    @Option(names = "--seed", defaultValue = "42", description = "seed of the random inputs (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the report as JSON to FILE (whatever --format says)")
    Path json;

    @Option(names = "--compare", paramLabel = "WITH", description = "time the nearest PyTorch equivalent of each case too "
            + "(torch: python3 with torch, on CUDA for --backend cuda, else on the CPU); adds the columns torch and ours/torch")
    String compare;

    @Option(names = "--python", paramLabel = "EXE", description = "the Python that --compare runs (default: $OFFLOAD_PYTHON or python3)")
    String python;

    /** Tests: a stand-in for torch_compare.py. */
    @Option(names = "--torch-script", hidden = true)
    Path torchScript;

    @Option(names = "--compare-timeout", paramLabel = "SECONDS", defaultValue = "150",
            description = "how long the whole torch comparison may take (default: ${DEFAULT-VALUE})")
    long compareTimeoutSeconds;

    @Option(names = "--recheck", description = "time every case again after all ran once, and alone in a fresh JVM; flag one "
            + "that ran more than " + Recheck.SLOWER + "x slower in the run than alone (a kernel the JIT recompiled worse "
            + "because of the other cases); exit status 3 if any did")
    boolean recheck;

    /** When the ceilings are measured: {@code --ceilings}. */
    enum CeilingsWhen { ONCE, EACH }

    @Option(names = "--ceilings", paramLabel = "WHEN", defaultValue = "once", description = "once (default): the copy and "
            + "in-place bandwidth and the FMA peak are measured before the first case; each: also after every case, and "
            + "each case's ratios are taken against the mean of the measurements just before and just after it (columns "
            + "copy GB/s, in-place GB/s, FMA GFLOP/s), for a machine whose bandwidth drifts during the run; the cases then "
            + "run with a second or so of full load between them (--recheck's second pass does not)")
    CeilingsWhen ceilingsWhen;

    @Option(names = "--wall-clock", description = "CUDA: time each call from Java, host overhead and wait included, instead of "
            + "its device time between CUDA events (the default there)")
    boolean wallClock;

    /** --recheck's fresh JVM: check and time the one case given, print its median, nothing else. */
    @Option(names = "--time-alone", hidden = true)
    boolean timeAlone;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    static final class OpNames extends ArrayList<String> {
        OpNames() {
            super(java.util.stream.Stream.concat(Suites.all().stream(), Suites.extra().stream()).map(OpSuite::name).toList());
        }
    }

    @Override
    public Integer call() throws IOException {
        PrintStream err = System.err;
        List<OpSuite> suites = selectSuites();
        // An unknown name is a usage error (exit 2); a known backend that cannot run here is not (exit 1).
        Backend b = backend == null ? Backends.best() : usage(() -> Backends.named(backend));
        if (compare != null && !compare.equalsIgnoreCase("torch")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--compare " + compare + " is unknown; accepted: torch");
        }
        if (compareTimeoutSeconds < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--compare-timeout " + compareTimeoutSeconds
                    + " must be at least 1 (seconds)");
        }
        List<String> sizes = items(this.sizes, "--sizes");
        List<String> dtypes = items(this.dtypes, "--dtype");
        if (accuracy) {
            refuseBesideAccuracy("--json", "--format", "--plot", "--dtype", "--full", "--compare", "--recheck", "--ceilings");
            return accuracyReport(b, sizes);
        }
        Timing.Budget budget = full ? Timing.Budget.FULL : Timing.Budget.QUICK;

        List<Plan> plan = new ArrayList<>();
        for (OpSuite s : suites) {
            List<DType> types = dtypes == null ? List.of(s.dtypes().get(0)) : dtypes.stream().map(this::dtype).toList();
            for (DType t : types) {
                if (!s.dtypes().contains(t)) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--dtype " + t + " is not accepted by "
                            + s.name() + "; accepted: " + s.dtypes());
                }
                for (String size : sizes == null ? s.defaultSizes(full) : sizes) {
                    plan.add(new Plan(s, size, t));
                }
            }
        }
        // Every size is checked before the ceilings are measured or a case runs: a typo in the last
        // size must not cost the minutes of the others, nor their results.
        for (Plan p : plan) {
            usage(() -> p.suite().validate(b, p.size()));
        }
        checkOutputFiles();
        if (timeAlone) {
            return timeAlone(b, plan, budget);
        }

        Floors floors = b.kernels(Floors.class).orElse(null);
        if (floors == null) {
            err.println("Backend " + b.name() + " cannot measure its ceilings: % of floor stays empty.");
        } else {
            err.println("Measuring the ceilings of " + b.name() + " (copy and in-place bandwidth, FMA peak, matmul rate) ...");
        }
        Ceilings first = floors == null ? Ceilings.NONE : Ceilings.measure(floors);
        double copy = first.copy();
        double inPlace = first.inPlace();
        double fmaPeak = first.fmaPeak();
        double matmul = floors == null ? 0 : floors.matmulFlopsPerSecond();
        if (clock(b) != Timing.WALL) {
            err.println("Times are device times between CUDA events around each call's copies and kernels (--wall-clock: the whole"
                    + " call from Java; an op of several calls, with host work between them, is always timed from Java).");
        }
        Reports.RunInfo info = new Reports.RunInfo(b.name(), b.description(), copy, matmul,
                "Java " + Runtime.version() + " " + System.getProperty("java.vm.name"),
                ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), inPlace, fmaPeak)
                .withCeilingsMethod(floors == null ? null : floors.method());
        // --ceilings each: the last measurement, and all of them for the report's ranges.
        boolean each = ceilingsWhen == CeilingsWhen.EACH && floors != null;
        if (ceilingsWhen == CeilingsWhen.EACH && floors == null) {
            err.println("--ceilings each: backend " + b.name() + " measures no ceilings; the ratios stay empty.");
        }
        List<Ceilings> measured = new ArrayList<>(List.of(first));

        List<Map<String, Object>> torchCases = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        List<BenchResult> results;
        try (ProgressBar bar = new ProgressBar(err, plan.size(), ProgressBar.terminalAttached())) {
            results = runEach(plan.size(), i -> plan.get(i).suite().name() + " " + plan.get(i).size() + " " + plan.get(i).dtype(),
                    i -> each ? runCaseBetweenCeilings(b, plan.get(i), budget, matmul, floors, measured, torchCases)
                            : runCase(b, plan.get(i), budget, copy, matmul, inPlace, fmaPeak, torchCases),
                    i -> {
                        torchCases.subList(i, torchCases.size()).clear();
                        torchCases.add(null); // keeps the torch cases aligned with the results
                        return failedCase(b, plan.get(i));
                    }, bar, failures);
        }
        if (each) {
            info = info.withCeilingsEach(Ceilings.ranges(measured) + " over " + measured.size() + " measurements");
        }
        if (compare != null) {
            String device = b.name().equals("cuda") ? "cuda" : "cpu";
            String exe = python != null ? python : System.getenv().getOrDefault("OFFLOAD_PYTHON", "python3");
            err.println("Timing PyTorch's equivalents on " + device + " (" + exe + " torch_compare.py) ...");
            TorchComparator.Outcome o = new TorchComparator(exe, torchScript, Duration.ofSeconds(compareTimeoutSeconds))
                    .compare(device, torchCases);
            for (int i = 0; i < results.size(); i++) {
                BenchResult r = results.get(i);
                results.set(i, r.withTorch(r.runs() == 0 ? NOT_COMPARED : o.timings().get(i)));
            }
            info = info.withTorch(o.unavailable() == null ? "torch " + o.torchVersion() + " on " + o.device()
                    : "torch (not run: " + o.unavailable() + ")");
        }
        boolean recheckNow = recheck && failures.isEmpty();
        if (recheck && !recheckNow) {
            err.println("--recheck skipped: " + failures.size() + " case(s) failed.");
        }
        List<Recheck.Entry> rechecks = recheckNow ? recheck(b, plan, budget, results, copy, matmul, inPlace, fmaPeak) : List.of();
        String report = Reports.render(format, info, results, rechecks);
        if (recheck && format != Reports.Format.TABLE) {
            err.print("\n" + Recheck.table(rechecks)); // readable beside json and csv, which stay parseable on stdout
        }
        System.out.print(report);
        if (out != null) {
            OutputFiles.write("--out", out, f -> Files.writeString(f, report, StandardCharsets.UTF_8));
        }
        if (json != null) {
            String jsonReport = Reports.render(Reports.Format.JSON, info, results, rechecks);
            OutputFiles.write("--json", json, f -> Files.writeString(f, jsonReport, StandardCharsets.UTF_8));
        }
        if (plot != null) {
            OutputFiles.write("--plot", plot, f -> Plots.write(f, results));
            err.println("Plot written to " + plot);
        }
        if (!failures.isEmpty()) {
            err.println(failures.size() + " case(s) failed to run (their rows have no time):");
            failures.forEach(f -> err.println("  " + f));
            return 1;
        }
        long wrong = rechecks.isEmpty() ? results.stream().filter(r -> !r.correct()).count()
                : rechecks.stream().filter(e -> !e.correct()).count();
        if (wrong > 0) {
            err.println(wrong + " case(s) exceeded the contract's tolerance (column ok = NO"
                    + (recheck ? ", in the first table or in the recheck's)." : ")."));
            return 1;
        }
        long slower = Recheck.slowerCount(rechecks);
        if (slower > 0) {
            err.println(slower + " case(s) ran more than " + Recheck.SLOWER + "x slower in this run than alone (--recheck).");
            return 3;
        }
        return 0;
    }

    /**
     * {@code --recheck} after the first pass: each case of {@code plan} again, in the same order,
     * then each alone in a fresh JVM (after the second pass, so that this JVM is idle meanwhile),
     * then each candidate once more here and once more alone ({@link Recheck}).
     */
    private List<Recheck.Entry> recheck(Backend b, List<Plan> plan, Timing.Budget budget, List<BenchResult> first,
                                        double copy, double matmul, double inPlace, double fmaPeak) {
        List<BenchResult> again = new ArrayList<>();
        List<Map<String, Object>> unused = new ArrayList<>();
        try (ProgressBar bar = new ProgressBar(System.err, plan.size(), ProgressBar.terminalAttached())) {
            for (int i = 0; i < plan.size(); i++) {
                Plan p = plan.get(i);
                bar.update(i, "again " + p.suite().name() + " " + p.size() + " " + p.dtype());
                again.add(runCase(b, p, budget, copy, matmul, inPlace, fmaPeak, unused));
                bar.update(i + 1, "again " + p.suite().name() + " " + p.size() + " " + p.dtype());
            }
        }
        List<Recheck.Entry> entries = new ArrayList<>();
        try (ProgressBar bar = new ProgressBar(System.err, plan.size(), ProgressBar.terminalAttached())) {
            for (int i = 0; i < plan.size(); i++) {
                Plan p = plan.get(i);
                bar.update(i, "alone " + p.suite().name() + " " + p.size() + " " + p.dtype());
                Recheck.Alone alone = Recheck.timeAlone(aloneArgs(b, p), first.get(i), budget);
                entries.add(new Recheck.Entry(first.get(i), again.get(i), alone));
                bar.update(i + 1, "alone " + p.suite().name() + " " + p.size() + " " + p.dtype());
            }
        }
        for (int i = 0; i < plan.size(); i++) {
            Recheck.Entry e = entries.get(i);
            if (!e.candidate()) {
                continue;
            }
            Plan p = plan.get(i);
            System.err.println("recheck: " + p.suite().name() + " " + p.size() + " " + p.dtype() + " looks slower among the others; timing it once more");
            BenchResult confirm = runCase(b, p, budget, copy, matmul, inPlace, fmaPeak, unused);
            double alone = e.aloneNanos();
            boolean wrong = e.aloneWrong();
            if (e.aloneKnown()) {
                Recheck.Alone second = Recheck.timeAlone(aloneArgs(b, p), e.first(), budget);
                alone = Double.isFinite(second.medianNanos()) ? Math.min(alone, second.medianNanos()) : alone;
                wrong |= second.wrong();
            }
            entries.set(i, new Recheck.Entry(e.first(), e.again(), alone, e.aloneError(), wrong, confirm));
        }
        return entries;
    }

    /** The arguments of the fresh JVM that times case {@code p} alone. */
    private List<String> aloneArgs(Backend b, Plan p) {
        List<String> args = new ArrayList<>(List.of("bench", p.suite().name(), "--backend", b.name(), "--sizes", p.size(),
                "--dtype", p.dtype().shortName(), "--seed", Long.toString(seed), "--time-alone"));
        if (full) {
            args.add("--full");
        }
        if (wallClock) {
            args.add("--wall-clock");
        }
        return args;
    }

    /**
     * How runs on {@code b} are timed: on CUDA the device time of each call's copies and kernels
     * between CUDA events ({@link CudaTimer}; a call that made no CUDA call falls back to its wall
     * time), unless {@code --wall-clock}; elsewhere the wall clock.
     */
    private Timing.Clock clock(Backend b) {
        if (wallClock || !b.name().equals("cuda")) {
            return Timing.WALL;
        }
        // An op of several calls (a MoE layer's forward: the routing, then the experts, with the
        // host reading the routing back and planning between them) is timed from Java: the device
        // waits for the host between the calls, and their summed device windows would leave that out.
        return op -> {
            CudaTimer.Timed t = CudaTimer.time(op);
            return t.calls() == 1 ? t.deviceNanos() : t.wallNanos();
        };
    }

    /** {@code --time-alone}: the one case's check and timing, as in a run's first pass, and its median on stdout. */
    private int timeAlone(Backend b, List<Plan> plan, Timing.Budget budget) {
        if (plan.size() != 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--time-alone takes exactly one case, not " + plan.size());
        }
        Plan p = plan.get(0);
        try (BenchCase c = p.suite().create(b, p.size(), p.dtype(), seed, full)) {
            double error = c.check();
            String identity = Recheck.identity(c.op(), c.label(), c.dtype());
            if (!(error <= c.tolerance())) {
                System.out.println(Recheck.ALONE_WRONG_PREFIX + identity + ": rel. err " + error + " > " + c.tolerance());
                return 1;
            }
            Timing.Measured m = Timing.measure(c::run, budget, clock(b));
            System.out.println(Recheck.ALONE_PREFIX + m.medianNanos() + " " + identity);
        }
        return 0;
    }

    /**
     * Runs cases {@code 0 … count − 1} in turn. One that throws (a kernel that faults, a launch the
     * device refuses) becomes {@code failed}'s row and a line in {@code failures}, and the others
     * still run: a never-run GPU path must not take every other case's figures with it, nor
     * does a case out of GPU memory. A size too large for the Java heap still ends the run, as a
     * usage error ({@link CaseTooLarge}).
     */
    static List<BenchResult> runEach(int count, IntFunction<String> names, IntFunction<BenchResult> run,
                                     IntFunction<BenchResult> failed, ProgressBar bar, List<String> failures) {
        List<BenchResult> results = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String what = names.apply(i);
            bar.started(i, what);
            BenchResult r;
            String failure = null;
            try {
                r = run.apply(i);
            } catch (CaseTooLarge e) {
                throw e.usage;
            } catch (RuntimeException e) {
                failure = e.toString();
                failures.add(what + ": " + failure);
                r = failed.apply(i);
            }
            results.add(r);
            bar.finished(i, what, failure == null ? outcome(r) : "FAILED: " + failure);
        }
        return results;
    }

    /** A finished case in a log line: its median and its error against the tolerance. */
    static String outcome(BenchResult r) {
        return "median " + Reports.time(r.medianNanos()) + ", rel. error " + String.format(Locale.ROOT, "%.2e", r.error())
                + (r.correct() ? " (ok)" : " > " + String.format(Locale.ROOT, "%.2e", r.tolerance()) + " (NO)");
    }

    /**
     * {@code --ceilings each}: the case against the last of {@code measured} (the measurement just
     * before it), then the ceilings measured again and added to {@code measured}, and the result
     * taken against the mean of the two. A case that throws adds no measurement: the next case
     * starts from the same one.
     */
    private BenchResult runCaseBetweenCeilings(Backend b, Plan p, Timing.Budget budget, double matmul, Floors floors,
                                               List<Ceilings> measured, List<Map<String, Object>> torchCases) {
        Ceilings before = measured.get(measured.size() - 1);
        BenchResult r = runCase(b, p, budget, before.copy(), matmul, before.inPlace(), before.fmaPeak(), torchCases);
        Ceilings after;
        try {
            after = Ceilings.measure(floors);
        } catch (RuntimeException e) {
            // The case ran: keep it, against the measurement before it, and say why there is no other.
            System.err.println("--ceilings each: measuring the ceilings after " + p.suite().name() + " " + p.size() + " failed ("
                    + e + "); that case's ratios are against the measurement before it");
            return r;
        }
        measured.add(after);
        Ceilings mean = before.mean(after);
        return r.withCeilings(mean.copy(), mean.inPlace(), mean.fmaPeak());
    }

    private BenchResult runCase(Backend b, Plan p, Timing.Budget budget, double copy, double matmul, double inPlace,
                                double fmaPeak, List<Map<String, Object>> torchCases) {
        try (BenchCase c = p.suite().create(b, p.size(), p.dtype(), seed, full)) {
            torchCases.add(c.torchCase());
            double error = c.check();
            Timing.Measured m = Timing.measure(c::run, budget, clock(b));
            return new BenchResult(c.op(), c.label(), c.sizeMetric(), c.dtype(), b.name(), error, c.tolerance(),
                    m.medianNanos(), m.runs(), c.bytesMoved(), c.flops(), copy, c.matmulBound() ? matmul : 0, inPlace,
                    c.matmulBound() ? fmaPeak : 0).asInPlace(c.inPlace());
        } catch (OutOfMemoryError e) {
            // Most likely a size too large for this machine or heap: the user's to change, in one line.
            throw new CaseTooLarge(new IllegalArgumentException(p.suite().name() + " size '" + p.size() + "' (" + p.dtype()
                    + ") ran out of memory (" + e.getMessage() + "); choose a smaller size or give the JVM more"
                    + " (-Xmx, OFFLOAD_JAVA_OPTS)", e));
        } catch (CudaOutOfMemoryException e) {
            // A failed case, not the end of the run: on a GPU a workspace bug looks the same as a size
            // too large, and the cases already measured must not be lost to either.
            throw new IllegalStateException(p.suite().name() + " size '" + p.size() + "' (" + p.dtype()
                    + ") does not fit in the GPU's memory (" + e.getMessage() + "); choose a smaller size", e);
        }
    }

    /** A size too large for the Java heap: the whole run ends with {@link #usage}'s one line, as before any case ran. */
    static final class CaseTooLarge extends RuntimeException {
        final IllegalArgumentException usage;

        CaseTooLarge(IllegalArgumentException usage) {
            super(usage.getMessage(), usage, false, false);
            this.usage = usage;
        }
    }

    /** The torch cell of a case that failed to run. */
    private static final TorchComparator.Timing NOT_COMPARED = new TorchComparator.Timing(List.of(), "not compared: the case failed");

    /** The row of a case that threw: no error, no time (NaN), not correct. */
    private static BenchResult failedCase(Backend b, Plan p) {
        return new BenchResult(p.suite().name(), p.size(), Double.NaN, p.dtype().toString(), b.name(), Double.NaN, 0,
                Double.NaN, 0, 0, 0, Double.NaN, 0);
    }

    /**
     * The comma-separated items of a repeatable option ({@code --sizes 128,256 --sizes 512}), or
     * null when it was not given; an empty item ({@code 128,}, {@code ,128}, {@code 128,,256}) is a
     * usage error, not silently dropped.
     */
    private List<String> items(List<String> raw, String option) {
        if (raw == null) {
            return null;
        }
        List<String> out = new ArrayList<>();
        for (String arg : raw) {
            for (String item : arg.split(",", -1)) {
                if (item.isBlank()) {
                    throw new CommandLine.ParameterException(spec.commandLine(), option + " '" + arg + "' has an empty item");
                }
                out.add(item.trim());
            }
        }
        return out;
    }

    /** The files the results go to, checked before anything is measured (a usage error, exit 2). */
    private void checkOutputFiles() {
        if (out != null) {
            usage(() -> OutputFiles.checkWritable("--out", out));
        }
        if (json != null) {
            usage(() -> OutputFiles.checkWritable("--json", json));
        }
        if (plot != null) {
            usage(() -> Plots.checkFileName(plot));
            usage(() -> OutputFiles.checkWritable("--plot", plot));
        }
    }

    private DType dtype(String name) {
        return usage(() -> DType.parse(name));
    }

    /** Runs a check; its IllegalArgumentException becomes a usage error (exit 2) with the same message. */
    private void usage(Runnable check) {
        usage(() -> {
            check.run();
            return null;
        });
    }

    /** As {@link #usage(Runnable)} for a check that returns what it parsed. */
    private <T> T usage(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** --accuracy writes its own text report: options it would ignore are refused instead. */
    private void refuseBesideAccuracy(String... options) {
        for (String o : options) {
            if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                throw new CommandLine.ParameterException(spec.commandLine(), o + " does not apply to --accuracy"
                        + " (its report is text, written to the terminal and to --out)");
            }
        }
    }

    private int accuracyReport(Backend b, List<String> sizes) throws IOException {
        if (ops == null || ops.size() != 1 || !ops.get(0).trim().equalsIgnoreCase("attention")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--accuracy applies to attention alone: offload bench attention --accuracy");
        }
        List<String> cases = sizes == null ? AttentionSuite.accuracySizes() : sizes;
        // The same up-front check as the timed path: a bad size is a usage error before any case runs.
        OpSuite attention = new AttentionSuite();
        for (String size : cases) {
            usage(() -> attention.validate(b, size));
            if (AttentionSuite.isCached(AttentionSuite.parse(size).shape())) {
                // Not silently measured as the compact size: the report would not be of what was asked.
                throw new CommandLine.ParameterException(spec.commandLine(), "attention size '" + size + "': --accuracy "
                        + "measures the FP8 error over the keys that take part, which a KV cache's capacity does not change; "
                        + "give the size without its k suffix");
            }
        }
        checkOutputFiles();
        StringBuilder report = new StringBuilder();
        for (String size : cases) {
            String one = AttentionSuite.accuracy(b, size, seed);
            System.out.print(one);
            report.append(one);
        }
        if (out != null) {
            OutputFiles.write("--out", out, f -> Files.writeString(f, report, StandardCharsets.UTF_8));
        }
        return 0;
    }

    private List<OpSuite> selectSuites() {
        if (ops.isEmpty()) {
            return Suites.all();
        }
        List<OpSuite> out = new ArrayList<>();
        for (String name : ops) {
            out.add(Suites.named(name).orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(),
                    "op '" + name + "' is unknown; known: " + Suites.names())));
        }
        return out;
    }

    private record Plan(OpSuite suite, String size, DType dtype) {}
}
