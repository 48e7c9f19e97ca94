package org.offload4j.bench;

import org.offload4j.core.BackendUnavailableException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code offload} command: devices, benchmarks, the JMH runner, and running one op on tensor files. */
@Command(name = "offload", mixinStandardHelpOptions = true, versionProvider = OffloadCli.Version.class,
        description = "offload4j: LLM-inference ops (Hadamard, W4A16, ...) on the GPU or CPU from Java.",
        subcommands = {DevicesCommand.class, BenchCommand.class, JmhCommand.class, RunCommand.class, InspectCommand.class,
                CommandLine.HelpCommand.class})
public final class OffloadCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        oneLineLogRecords();
        System.exit(execute(args));
    }

    /**
     * The backends log one sentence per fallback (why CUDA or TornadoVM is unavailable); the JDK's
     * default format spreads each over two lines behind a timestamp. On the command line they read
     * as {@code INFO: Backend cuda is unavailable: …}. A format the user set (as a system property
     * or in a {@code java.util.logging.config.file}) is kept.
     */
    static void oneLineLogRecords() {
        if (System.getProperty(LOG_FORMAT) == null && java.util.logging.LogManager.getLogManager().getProperty(LOG_FORMAT) == null) {
            System.setProperty(LOG_FORMAT, "%4$s: %5$s%6$s%n");
        }
    }

    private static final String LOG_FORMAT = "java.util.logging.SimpleFormatter.format";

    /** Runs the CLI in-process and returns its exit code (used by tests). */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    /** The configured command line, before it runs (tests set its output streams). */
    static CommandLine commandLine() {
        return new CommandLine(new OffloadCli()).setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler(OffloadCli::reportFailure);
    }

    /**
     * Bad input and unavailable backends are the user's to fix: one line, no stack trace.
     * Anything else is a bug and keeps its stack trace.
     */
    private static int reportFailure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        if (e instanceof IllegalArgumentException || e instanceof BackendUnavailableException) {
            cmd.getErr().println("offload " + cmd.getCommandName() + ": " + e.getMessage());
            return 1;
        }
        e.printStackTrace(cmd.getErr());
        return 1;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = OffloadCli.class.getPackage().getImplementationVersion();
            return new String[] {"offload4j " + (v == null ? "(development build)" : v) + " on Java "
                    + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
