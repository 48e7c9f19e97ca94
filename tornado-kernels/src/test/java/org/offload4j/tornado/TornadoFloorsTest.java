package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.core.Floors;

/**
 * The TornadoVM backend offers its ceilings, so that {@code offload bench --backend tornado} can
 * fill its "% floor" column: each is measured (finite, positive, below what any device of today
 * can do).
 */
@Tag("tornado")
class TornadoFloorsTest {
    /** More than any memory system or chip of today: a ceiling above it was not measured. */
    private static final double IMPLAUSIBLE_BYTES_PER_SECOND = 50e12;
    private static final double IMPLAUSIBLE_FLOPS = 5e15;

    @Test
    void ceilingsAreMeasured() {
        Floors f = TornadoTests.backend().kernels(Floors.class).orElseThrow(() -> new AssertionError("no Floors"));
        double copy = f.copyBytesPerSecond();
        double inPlace = f.inPlaceBytesPerSecond();
        double fma = f.fmaPeakFlopsPerSecond();
        assertTrue(copy > 1e6 && copy < IMPLAUSIBLE_BYTES_PER_SECOND, "copy " + copy);
        assertTrue(inPlace > 1e6 && inPlace < IMPLAUSIBLE_BYTES_PER_SECOND, "in place " + inPlace);
        assertTrue(fma > 1e6 && fma < IMPLAUSIBLE_FLOPS, "FMA peak " + fma);
        assertTrue(f.matmulFlopsPerSecond() > 0, "matmul rate");
        assertFalse(f.method().isBlank());
    }
}
