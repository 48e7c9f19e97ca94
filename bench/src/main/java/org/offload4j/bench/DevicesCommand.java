package org.offload4j.bench;

import java.io.PrintStream;
import java.util.concurrent.Callable;
import org.offload4j.core.Backend;
import org.offload4j.core.BackendStatus;
import org.offload4j.core.Backends;
import org.offload4j.core.Device;
import picocli.CommandLine.Command;

/** {@code offload devices}: the selection ladder, every backend with its devices or the reason it is unavailable. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "List every backend, available or not (and why not), and which one the ops use.")
public final class DevicesCommand implements Callable<Integer> {

    /**
     * The ladder's logger, held here while {@code devices} runs (a logger only weakly referenced
     * could be collected and lose its level).
     */
    private static final java.util.logging.Logger LADDER_LOG = java.util.logging.Logger.getLogger(Backends.class.getName());

    @Override
    public Integer call() {
        // The table gives every backend's reason; the ladder's log lines would say the same again.
        java.util.logging.Level level = LADDER_LOG.getLevel();
        LADDER_LOG.setLevel(java.util.logging.Level.WARNING);
        try {
            print(System.out);
        } finally {
            LADDER_LOG.setLevel(level);
        }
        return 0;
    }

    static void print(PrintStream out) {
        out.println("Backends, in the order they are tried (highest priority first):");
        for (BackendStatus s : Backends.survey()) {
            if (s.available()) {
                Backend b = s.backend();
                out.printf("  %-8s priority %3d  available    %s%n", s.name(), s.priority(), b.description());
                for (Device d : b.devices()) {
                    out.printf("  %-8s               device %s%n", "", d);
                }
            } else {
                out.printf("  %-8s priority %3d  unavailable  %s%n", s.name(), s.priority(), s.reason());
            }
        }
        var forced = Backends.forcedName();
        if (forced.isPresent()) {
            out.println("Forced by -D" + Backends.BACKEND_PROPERTY + " or " + Backends.BACKEND_ENV + ": " + forced.get());
        } else {
            out.println("Not forced (set -D" + Backends.BACKEND_PROPERTY + "=NAME or " + Backends.BACKEND_ENV + "=NAME to force one).");
        }
        try {
            Backend best = Backends.best();
            out.println("Ops run on: " + best.name() + " (" + best.description() + ")");
        } catch (RuntimeException e) {
            out.println("Ops cannot run: " + e.getMessage());
        }
    }
}
