package org.offload4j.bench;

import java.io.PrintStream;

/**
 * A one-line progress bar on the terminal ({@code [######----] 6/10 hadamard d=1024}), redrawn
 * with a carriage return. Where output is not a terminal (a log), {@link #started} and
 * {@link #finished} write one line each instead, so that a run killed by a time limit still names
 * the case it was in and shows the cases it finished; {@link #update} alone stays silent there.
 */
final class ProgressBar implements AutoCloseable {
    private static final int WIDTH = 24;

    private final PrintStream out;
    private final int total;
    private final boolean enabled;
    private final boolean lines;
    private int lastLength;

    /** {@code terminal}: draw the bar (when there is more than one step); else write lines. */
    ProgressBar(PrintStream out, int total, boolean terminal) {
        this.out = out;
        this.total = total;
        this.enabled = terminal && total > 1;
        this.lines = !terminal;
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

    /** Step {@code index} (from 0) begins. */
    void started(int index, String what) {
        if (lines) {
            out.println("[" + (index + 1) + "/" + total + "] " + what + " ...");
            out.flush();
        } else {
            update(index, what);
        }
    }

    /** Step {@code index} (from 0) ended with {@code outcome} (a log line's tail). */
    void finished(int index, String what, String outcome) {
        if (lines) {
            out.println("[" + (index + 1) + "/" + total + "] " + what + ": " + outcome);
            out.flush();
        } else {
            update(index + 1, what);
        }
    }

    @Override
    public void close() {
        if (enabled && lastLength > 0) {
            out.print("\r" + " ".repeat(lastLength) + "\r");
            out.flush();
        }
    }
}
