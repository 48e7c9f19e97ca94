package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CpuFloorsTest {

    /** The probe's chains accumulate m · c onto their starting values, as a GEMM tile's accumulators do. */
    @Test
    void fmaLoopAccumulatesIntoItsChains() {
        int steps = 1000;
        double start = 0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.6 + 0.7 + 0.8 + 0.9 + 1.0 + 1.1 + 1.2;
        double perLane = start + 12.0 * steps * (double) 0.999f * (double) 0.001f;
        double expected = perLane * Brgemm.lanes();
        assertEquals(expected, CpuFloors.fmaLoop(steps), 1e-4 * expected, "12 chains × " + Brgemm.lanes() + " lanes");
        assertEquals(start * Brgemm.lanes(), CpuFloors.fmaLoop(0), 1e-5 * start * Brgemm.lanes(), "no steps: the starting values");
    }
}
