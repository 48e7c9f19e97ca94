package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.fixtures.FakeAvailableBackendProvider;
import org.offload4j.core.fixtures.FakeBareBackendProvider;
import org.offload4j.core.fixtures.FakeBrokenBackendProvider;
import org.offload4j.core.fixtures.FakeDecliningBackendProvider;
import org.offload4j.core.fixtures.FakeKernel;

/**
 * The selection ladder of {@link Backends}, over the three test-fixture providers registered in
 * core's test resources (package {@code org.offload4j.core.fixtures}): {@code fake-declining}
 * (50, declines), {@code fake-bare} (7, no kernels), {@code fake-available} (5, has
 * {@link FakeKernel}). The survey is cached per JVM; the forcing property is read on every call,
 * so each test sets it and restores it in a finally block.
 */
class BackendsTest {

    private static final String DECLINING = FakeDecliningBackendProvider.NAME;
    private static final String BARE = FakeBareBackendProvider.NAME;
    private static final String AVAILABLE = FakeAvailableBackendProvider.NAME;
    private static final String BROKEN = FakeBrokenBackendProvider.NAME;

    @BeforeEach
    void noForcingFromTheEnvironment() {
        assumeTrue(System.getenv(Backends.BACKEND_ENV) == null,
                Backends.BACKEND_ENV + " is set in this environment; these tests need it unset");
    }

    /** Runs {@code body} with {@code offload.backend} set to {@code value} (null: cleared), then restores it. */
    private static <T> T forced(String value, Supplier<T> body) {
        String old = System.getProperty(Backends.BACKEND_PROPERTY);
        try {
            if (value == null) {
                System.clearProperty(Backends.BACKEND_PROPERTY);
            } else {
                System.setProperty(Backends.BACKEND_PROPERTY, value);
            }
            return body.get();
        } finally {
            if (old == null) {
                System.clearProperty(Backends.BACKEND_PROPERTY);
            } else {
                System.setProperty(Backends.BACKEND_PROPERTY, old);
            }
        }
    }

    private static void forcedRun(String value, Runnable body) {
        forced(value, () -> {
            body.run();
            return null;
        });
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "'" + e.getMessage() + "' does not mention '" + p + "'");
        }
    }

    @Test
    void surveyListsEveryProviderByDecreasingPriorityWithReasons() {
        List<BackendStatus> survey = Backends.survey();
        assertEquals(List.of(DECLINING, BARE, AVAILABLE, BROKEN), survey.stream().map(BackendStatus::name).toList());
        assertEquals(List.of(50, 7, 5, 3), survey.stream().map(BackendStatus::priority).toList());

        BackendStatus declining = survey.get(0);
        assertFalse(declining.available());
        assertNull(declining.backend());
        assertEquals(FakeDecliningBackendProvider.REASON, declining.reason());
        assertTrue(declining.backendIfAvailable().isEmpty());

        // A provider failing with anything else than UnsupportedOperationException is unavailable too, with its message.
        BackendStatus broken = survey.get(3);
        assertFalse(broken.available());
        assertEquals("IllegalStateException: " + FakeBrokenBackendProvider.MESSAGE, broken.reason());

        for (BackendStatus s : survey.subList(1, 3)) {
            assertTrue(s.available(), s.name());
            assertNull(s.reason(), s.name());
            assertEquals(s.name(), s.backend().name());
            assertSame(s.backend(), s.backendIfAvailable().orElseThrow());
        }
    }

    @Test
    void surveyIsProbedOncePerJvm() {
        List<BackendStatus> first = Backends.survey();
        Backends.best();
        Backends.kernelsFor(FakeKernel.class);
        assertSame(first, Backends.survey());
        assertEquals(1, FakeAvailableBackendProvider.CREATED.get(), "create() ran more than once");
        assertThrows(UnsupportedOperationException.class, () -> first.add(first.get(0)), "the survey must be immutable");
    }

    @Test
    void bestSkipsTheDecliningProvider() {
        Backend best = forced(null, Backends::best);
        assertEquals(BARE, best.name(), "highest-priority available backend");
        assertTrue(forced(null, Backends::forcedName).isEmpty());
        assertTrue(forced("   ", Backends::forcedName).isEmpty(), "a blank property forces nothing");
        assertEquals(BARE, forced("  ", Backends::best).name());
    }

    @Test
    void forcingAnUnknownNameListsTheKnownOnes() {
        for (var call : List.<Runnable>of(Backends::best, () -> Backends.kernelsFor(FakeKernel.class))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> forcedRun("cuda-on-the-moon", call));
            assertMentions(e, "cuda-on-the-moon", "unknown", DECLINING, BARE, AVAILABLE);
        }
    }

    @Test
    void forcingTheDecliningOneFailsWithItsReasonNeverFallsBack() {
        for (var call : List.<Runnable>of(Backends::best, () -> Backends.kernelsFor(FakeKernel.class))) {
            BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> forcedRun(DECLINING, call));
            assertMentions(e, DECLINING, FakeDecliningBackendProvider.REASON);
        }
    }

    @Test
    void forcingAnAvailableOneSelectsItWhateverItsPriority() {
        assertEquals(AVAILABLE, forced(AVAILABLE, Backends::best).name());
        assertEquals(AVAILABLE, forced(" Fake-AVAILABLE ", Backends::best).name(), "trimmed and case-insensitive");
        assertEquals(AVAILABLE, forced(" Fake-AVAILABLE ", Backends::forcedName).orElseThrow());
        Backends.Selected<FakeKernel> sel = forced(AVAILABLE, () -> Backends.kernelsFor(FakeKernel.class));
        assertEquals(AVAILABLE, sel.backend().name());
        assertEquals(AVAILABLE, sel.kernels().backendName());
    }

    @Test
    void kernelsForFindsTheDummyKernelPastABackendThatLacksIt() {
        Backends.Selected<FakeKernel> sel = forced(null, () -> Backends.kernelsFor(FakeKernel.class));
        assertEquals(AVAILABLE, sel.backend().name());
        assertEquals(AVAILABLE, sel.kernels().backendName());
        assertEquals(42, sel.kernels().addOne(41));
    }

    @Test
    void aForcedBackendWithoutTheKernelFails() {
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> forcedRun(BARE, () -> Backends.kernelsFor(FakeKernel.class)));
        assertMentions(e, BARE, "FakeKernel");
    }

    @Test
    void noBackendImplementsAnUnknownKernel() {
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class,
                () -> forcedRun(null, () -> Backends.kernelsFor(Runnable.class)));
        assertMentions(e, "Runnable", DECLINING + ": " + FakeDecliningBackendProvider.REASON, BARE + " (available)");
    }

    @Test
    void namedAndKernelsFrom() {
        assertEquals(BARE, Backends.named(BARE).name());
        assertEquals(AVAILABLE, Backends.named("FAKE-available").name());
        assertMentions(assertThrows(BackendUnavailableException.class, () -> Backends.named(DECLINING)),
                FakeDecliningBackendProvider.REASON);
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Backends.named(null)), "null", AVAILABLE);
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Backends.named("cpu")), "'cpu'", AVAILABLE);

        Backend bare = Backends.named(BARE);
        assertMentions(assertThrows(BackendUnavailableException.class, () -> Backends.kernelsFrom(bare, FakeKernel.class)),
                BARE, "FakeKernel");
        Backend available = Backends.named(AVAILABLE);
        assertSame(available, Backends.kernelsFrom(available, FakeKernel.class).backend());
        // an explicit backend wins over the forcing property
        assertSame(available, forced(BARE, () -> Backends.kernelsFrom(available, FakeKernel.class)).backend());
        assertEquals(AVAILABLE, forced(null, () -> Backends.kernelsFrom(null, FakeKernel.class)).backend().name());
    }
}
