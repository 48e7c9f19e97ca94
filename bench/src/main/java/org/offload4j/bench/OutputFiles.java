package org.offload4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Files the commands write their results to ({@code --out}, {@code --json}, {@code --plot}): checked
 * before the work whose results they record, so that a mistyped directory costs no benchmark run,
 * and written with the option named in any error, on one line.
 */
final class OutputFiles {
    private OutputFiles() {}

    /** Writes a file; may throw what {@link java.nio.file.Files}' writers throw. */
    @FunctionalInterface
    interface Writer {
        void write(Path file) throws IOException;
    }

    /**
     * Throws IllegalArgumentException naming {@code option} when {@code file} cannot be written as
     * far as can be told without writing it: it is a directory, its directory does not exist or is
     * not writable, or it exists read-only. Creates nothing.
     */
    static void checkWritable(String option, Path file) {
        Path absolute = file.toAbsolutePath();
        Path dir = absolute.getParent();
        String why = null;
        if (Files.isDirectory(absolute)) {
            why = "is a directory";
        } else if (dir != null && !Files.isDirectory(dir)) {
            why = Files.exists(dir) ? dir + " is not a directory" : "its directory " + dir + " does not exist";
        } else if (Files.exists(absolute) && !Files.isWritable(absolute)) {
            why = "the file is not writable";
        } else if (!Files.exists(absolute) && dir != null && !Files.isWritable(dir)) {
            why = "its directory " + dir + " is not writable";
        }
        if (why != null) {
            throw new IllegalArgumentException(option + " " + file + ": cannot write there (" + why + ")");
        }
    }

    /** Runs {@code writer} on {@code file}; an IOException becomes an IllegalArgumentException naming {@code option}. */
    static void write(String option, Path file, Writer writer) {
        try {
            writer.write(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + file + ": cannot write (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        }
    }
}
