package org.offload4j.bench;

import java.util.List;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;

/**
 * How the benchmark builds the cases of one op: its size grammar, its default sizes and dtypes.
 * One implementation per op, listed in {@link Suites}.
 */
public interface OpSuite {

    /** The op's name on the command line. */
    String name();

    /** The syntax of one {@code --sizes} entry, for help and error messages. */
    String sizeSyntax();

    /** Sizes run when none are given: a short list for the quick suite, a sweep for {@code --full}. */
    List<String> defaultSizes(boolean full);

    /** Dtypes the op accepts for its activations; the first is the default. */
    List<DType> dtypes();

    /**
     * Allocates and fills (seeded) the inputs of one case. Throws IllegalArgumentException
     * naming the size when it cannot be parsed or is unsupported.
     */
    BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full);

    /**
     * Checks {@code size} as {@link #create} would (its grammar, the op's limits, the backend when
     * the op needs a particular one) without allocating anything: the benchmark checks every size
     * before it measures or runs anything. Throws IllegalArgumentException naming the size.
     */
    void validate(Backend backend, String size);

    /**
     * Parses {@code count} positive integers separated by {@code x} ({@code 8x2x1024}); throws
     * IllegalArgumentException quoting {@code size} and the suite's {@link #sizeSyntax()}.
     */
    static int[] dims(String size, int count, OpSuite suite) {
        // limit −1: a trailing "x" leaves an empty last part, which is refused, not dropped.
        String[] parts = size.trim().toLowerCase(java.util.Locale.ROOT).split("x", -1);
        int[] v = new int[count];
        try {
            if (parts.length != count) {
                throw new NumberFormatException();
            }
            for (int i = 0; i < count; i++) {
                v[i] = Integer.parseInt(parts[i].trim());
                if (v[i] < 1) {
                    throw new NumberFormatException();
                }
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(suite.name() + " size '" + size + "' is not " + suite.sizeSyntax());
        }
        return v;
    }
}
