package org.offload4j.bench;

import java.io.PrintStream;

/**
 * A one-line progress bar on the terminal ({@code [######----] 6/10 hadamard d=1024}), redrawn
 * with a carriage return; silent when output is not a terminal so logs and pipes stay clean.
 */
final class ProgressBar implements AutoCloseable {
    private static final int WIDTH = 24;

    private final PrintStream out;
    private final int total;
    private final boolean enabled;
    private int lastLength;

    ProgressBar(PrintStream out, int total, boolean enabled) {
        this.out = out;
        this.total = total;
        this.enabled = enabled && total > 1;
    }

    static boolean terminalAttached() {
        return System.console() != null && System.console().isTerminal();
    }

    void update(int done, String what) {
        if (!enabled) {
            return;
        }
        int filled = total == 0 ? WIDTH : done * WIDTH / total;
        String line = "[" + "#".repeat(filled) + "-".repeat(WIDTH - filled) + "] " + done + "/" + total + " " + what;
        String padding = " ".repeat(Math.max(0, lastLength - line.length()));
        out.print("\r" + line + padding);
        out.flush();
        lastLength = line.length();
    }

    @Override
    public void close() {
        if (enabled && lastLength > 0) {
            out.print("\r" + " ".repeat(lastLength) + "\r");
            out.flush();
        }
    }
}
