package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.BackendStatus;
import org.offload4j.core.Backends;
import org.offload4j.core.Tensor;

/**
 * What every {@code tornado}-tagged test shares: the backend (the test is skipped, with the
 * provider's reason, where TornadoVM is not in the JVM), seeds and the accuracy check.
 *
 * <p>Where the build saw a TornadoVM SDK ({@code TORNADO_SDK}), surefire starts the test JVM with
 * the SDK's argfile and the tests run on TornadoVM's default device; set
 * {@code -Doffload.test.requireTornado=true} to make a skip a failure (a machine that should have
 * run them).
 */
final class TornadoTests {
    static final long BASE_SEED = Long.getLong("offload.test.seed", System.nanoTime());
    private static final BackendStatus STATUS = Backends.survey().stream().filter(s -> s.name().equals("tornado"))
            .findFirst().orElseThrow(() -> new AssertionError("no provider named tornado: META-INF/services is broken"));

    private TornadoTests() {}

    /** The TornadoVM backend, or a skipped test that says why it is unavailable. */
    static Backend backend() {
        if (Boolean.getBoolean("offload.test.requireTornado")) {
            assertTrue(STATUS.available(), "TornadoVM backend required but unavailable: " + STATUS.reason());
        }
        assumeTrue(STATUS.available(), () -> "TornadoVM backend unavailable: " + STATUS.reason());
        return STATUS.backend();
    }

    /**
     * Runs {@code body} with system property {@code name} set to {@code value} (null: left as it
     * is), then restores what it was.
     */
    static void withProperty(String name, String value, Runnable body) {
        String before = System.getProperty(name);
        if (value != null) {
            System.setProperty(name, value);
        }
        try {
            body.run();
        } finally {
            if (before == null) {
                System.clearProperty(name);
            } else {
                System.setProperty(name, before);
            }
        }
    }

    static long seed(Object... parts) {
        long h = BASE_SEED;
        for (Object p : parts) {
            h = h * 0x9E3779B97F4A7C15L + p.hashCode();
        }
        return h;
    }

    static String why(long seed, String what) {
        return what + " (seed " + seed + "; replay with -Doffload.test.seed=" + BASE_SEED + ")";
    }

    /** No element left unwritten (outputs are poisoned first) and relative L2 within {@code tol}. */
    static void assertClose(double[] want, Tensor got, double tol, long seed, String what) {
        assertEquals(-1, Accuracy.firstNonFinite(got), why(seed, what + ": an output is non-finite (not written?)"));
        double err = Accuracy.relativeL2(want, got);
        assertTrue(err <= tol, why(seed, what + ": relative L2 " + err + " > " + tol));
    }
}
