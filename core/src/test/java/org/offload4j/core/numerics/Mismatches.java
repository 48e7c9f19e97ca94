package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Collects mismatches of a sweep so that one failure shows how many cases broke and the first
 * few of them (in the manner of llm.c's {@code validate_result}), instead of only the first.
 */
final class Mismatches {
    private static final int SHOWN = 12;

    private final String what;
    private final StringBuilder shown = new StringBuilder();
    private long count;
    private long checked;

    Mismatches(String what) {
        this.what = what;
    }

    /** Records one comparison; {@code message} is built only when it failed. */
    void check(boolean ok, java.util.function.Supplier<String> message) {
        checked++;
        if (!ok) {
            if (count < SHOWN) {
                shown.append("\n  ").append(message.get());
            }
            count++;
        }
    }

    long checked() {
        return checked;
    }

    void assertNone() {
        if (count > 0) {
            fail(what + ": " + count + " of " + checked + " checks failed; the first " + Math.min(count, SHOWN) + ":" + shown);
        }
    }
}
