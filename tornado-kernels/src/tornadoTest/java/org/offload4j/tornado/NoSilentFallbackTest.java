package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * A kernel TornadoVM cannot compile must fail with TornadoVM's reason, not run as plain Java: the
 * check every op's plans go through. The kernel writes a NaN constant, which TornadoVM 5.2's
 * OpenCL back end prints as {@code NaNF} and the OpenCL compiler rejects (the reason the codec
 * keeps NaN and ∞ in a table). Should a later TornadoVM compile it, this test fails and needs
 * another uncompilable kernel. Compiled only with a TornadoVM SDK.
 */
@Tag("tornado")
class NoSilentFallbackTest {

    static void nanConstant(FloatArray in, FloatArray out) {
        for (@Parallel int i = 0; i < in.getSize(); i++) {
            out.set(i, in.get(i) > 0.0f ? Float.NaN : in.get(i));
        }
    }

    @Test
    void aKernelThatCannotCompileFailsWithTheReason() {
        TornadoBackend backend = (TornadoBackend) TornadoTests.backend();
        assertEquals("false", System.getProperty(TornadoBackendProvider.BAILOUT_PROPERTY).toLowerCase(java.util.Locale.ROOT));
        FloatArray in = new FloatArray(16);
        FloatArray out = new FloatArray(16);
        in.init(1.5f);
        out.init(-1.0f);
        TaskGraph g = new TaskGraph(Plans.graphName("fallbackProbe"))
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, in)
                .task("t", NoSilentFallbackTest::nanConstant, in, out)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        try (TornadoExecutionPlan plan = Plans.plan(backend.tornadoDevice(), g.snapshot())) {
            TornadoKernelException e = assertThrows(TornadoKernelException.class,
                    () -> Plans.run(plan, "the NaN-constant probe", backend.tornadoDevice()));
            assertTrue(e.getMessage().contains("the NaN-constant probe") && e.getMessage().contains("Bailout"), e.getMessage());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        assertEquals(-1.0f, out.get(0), 0.0f, "the sequential Java fallback must not have run");
    }
}
