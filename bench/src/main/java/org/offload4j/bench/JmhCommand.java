package org.offload4j.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** {@code offload jmh [JMH options]}: runs the JMH benchmarks of the inner kernels (bench/src/main/java/.../jmh). */
@Command(name = "jmh", description = "Run the JMH benchmarks of the inner kernels; arguments go to JMH (e.g. -l, -f 1 -wi 2 -i 3 Hadamard).")
public final class JmhCommand implements Callable<Integer> {

    /** Everything after {@code jmh} goes to JMH unchanged, options included ({@code -l}, {@code -f 1}, …). */
    @CommandLine.Unmatched
    List<String> jmhArgs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (!jmhPresent()) {
            System.err.println("offload jmh: JMH is not on this class path (the offload bundle leaves it out): "
                    + "run ./offload jmh in a checkout");
            return 1;
        }
        return Jmh.run(jmhArgs);
    }

    /** Whether JMH is on the class path: looked up by name, since the offload bundle leaves it out (jmh-core, commons-math3, jopt-simple). */
    static boolean jmhPresent() {
        try {
            Class.forName("org.openjdk.jmh.Main", false, JmhCommand.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /**
     * What JMH's own {@code Main} does, but with an exit status: JMH's {@code Main} exits 0 when
     * every benchmark failed. A failing benchmark stops the run ({@code -foe true}, unless the
     * arguments set {@code -foe}) and gives 1; bad JMH options give 2. Kept apart so that the
     * command loads without JMH on the class path.
     */
    static final class Jmh {
        private Jmh() {
        }

        static int run(List<String> args) throws Exception {
            List<String> all = new ArrayList<>();
            if (!args.contains("-foe")) {
                all.add("-foe");
                all.add("true");
            }
            all.addAll(args);
            org.openjdk.jmh.runner.options.CommandLineOptions options;
            try {
                options = new org.openjdk.jmh.runner.options.CommandLineOptions(all.toArray(String[]::new));
            } catch (org.openjdk.jmh.runner.options.CommandLineOptionException e) {
                System.err.println("offload jmh: " + e.getMessage());
                return 2;
            }
            org.openjdk.jmh.runner.Runner runner = new org.openjdk.jmh.runner.Runner(options);
            if (options.shouldHelp()) {
                options.showHelp();
            } else if (options.shouldList()) {
                runner.list();
            } else if (options.shouldListWithParams()) {
                runner.listWithParams(options);
            } else if (options.shouldListProfilers()) {
                options.listProfilers();
            } else if (options.shouldListResultFormats()) {
                options.listResultFormats();
            } else {
                Collection<org.openjdk.jmh.results.RunResult> results;
                try {
                    results = runner.run();
                } catch (org.openjdk.jmh.runner.RunnerException e) {
                    String why = e.getMessage() == null && e.getCause() == null ? "no benchmark matched the arguments"
                            : e.getMessage() == null ? e.getCause().toString()
                            : e.getCause() == null ? e.getMessage() : e.getMessage() + ": " + e.getCause();
                    System.err.println("offload jmh: " + why);
                    return 1;
                }
                if (results.isEmpty()) {
                    System.err.println("offload jmh: no benchmark ran (none matched, or all failed)");
                    return 1;
                }
            }
            return 0;
        }
    }
}
