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
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * A kernel TornadoVM cannot compile (a float-to-bits reinterpretation, which its OpenCL and PTX
 * back ends do not lower) must fail with TornadoVM's reason, not run as plain Java: the check
 * every op's plans go through. Compiled only with a TornadoVM SDK.
 */
@Tag("tornado")
class NoSilentFallbackTest {

    static void reinterpret(FloatArray in, IntArray out) {
        for (@Parallel int i = 0; i < in.getSize(); i++) {
            out.set(i, Float.floatToRawIntBits(in.get(i)));
        }
    }

    @Test
    void aKernelThatCannotCompileFailsWithTheReason() {
        TornadoBackend backend = (TornadoBackend) TornadoTests.backend();
        assertEquals("false", System.getProperty(TornadoBackendProvider.BAILOUT_PROPERTY).toLowerCase(java.util.Locale.ROOT));
        FloatArray in = new FloatArray(16);
        IntArray out = new IntArray(16);
        in.init(1.5f);
        out.init(-1);
        TaskGraph g = new TaskGraph(Plans.graphName("fallbackProbe"))
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, in)
                .task("t", NoSilentFallbackTest::reinterpret, in, out)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, out);
        try (TornadoExecutionPlan plan = Plans.plan(backend.tornadoDevice(), g.snapshot())) {
            TornadoKernelException e = assertThrows(TornadoKernelException.class,
                    () -> Plans.run(plan, "the reinterpret probe", backend.tornadoDevice()));
            assertTrue(e.getMessage().contains("the reinterpret probe") && e.getMessage().contains("Bailout"), e.getMessage());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        assertEquals(-1, out.get(0), "the sequential Java fallback must not have run");
    }
}
