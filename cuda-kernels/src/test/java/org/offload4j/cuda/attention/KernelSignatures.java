package org.offload4j.cuda.attention;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.offload4j.cuda.driver.KernelParams;

/**
 * Test support: the parameter list of an {@code extern "C"} kernel as written in a {@code .cu}
 * file, reduced to slot sizes ({@code L} for pointers and {@code long long}, {@code I} for
 * {@code int} and {@code float}), and a {@link KernelParams} that records what Java wrote. Comparing
 * the two catches a missing, extra or mis-sized argument in a launch contract.
 */
public final class KernelSignatures {
    private KernelSignatures() {
    }

    /** The source folder of the kernels (tests run in the module directory). */
    public static Path cudaSource(String file) {
        return Path.of("src", "main", "cuda", file);
    }

    /** E.g. "LLLLLL…I" for the kernel {@code name} in {@code file}. */
    public static String slots(String file, String name) throws IOException {
        String src = Files.readString(cudaSource(file));
        int at = src.indexOf(" " + name + "(");
        if (at < 0) {
            throw new AssertionError(name + " not found in " + file);
        }
        int open = src.indexOf('(', at);
        int close = src.indexOf(')', open);
        String list = src.substring(open + 1, close).replaceAll("//[^\n]*", "");
        StringBuilder out = new StringBuilder();
        for (String param : list.split(",")) {
            String p = param.strip();
            if (p.contains("*") || p.startsWith("long long")) {
                out.append('L');
            } else if (p.startsWith("int ") || p.startsWith("float ")) {
                out.append('I');
            } else {
                throw new AssertionError("unexpected parameter '" + p + "' of " + name);
            }
        }
        return out.toString();
    }

    /** Records the slot sizes written. */
    public static final class Recorder extends KernelParams {
        public final List<Long> values = new ArrayList<>();
        private final StringBuilder slots = new StringBuilder();

        public Recorder() {
            super(64);
        }

        @Override
        protected void writeInt(int slot, int value) {
            record(slot, 'I', value);
        }

        @Override
        protected void writeLong(int slot, long value) {
            record(slot, 'L', value);
        }

        private void record(int slot, char kind, long value) {
            if (slot == 0) {
                slots.setLength(0);
                values.clear();
            }
            slots.append(kind);
            values.add(value);
        }

        public String slots() {
            return slots.toString();
        }
    }
}
