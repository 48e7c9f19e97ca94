package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;

class HadamardSuiteTest {

    /**
     * In place, the case transforms its working tensor in place: the check compares the transform
     * of the input with float64, and repeated runs alternate between x and its transform, so a
     * check after several runs still starts from the input.
     */
    @Test
    void inPlaceCasesAreCorrectAfterAnyNumberOfRuns() {
        Backend cpu = Backends.named("cpu");
        OpSuite s = Suites.named("hadamard").orElseThrow();
        for (DType t : s.dtypes()) {
            for (String size : new String[] {"128@1280:inplace", "1024@4096:inplace", "12288@24576:inplace", "64@640"}) {
                try (BenchCase c = s.create(cpu, size, t, 5, false)) {
                    assertEquals(size.endsWith(":inplace"), c.label().endsWith(HadamardSuite.IN_PLACE_LABEL), c.label());
                    for (int runs = 0; runs < 3; runs++) {
                        double err = c.check();
                        assertTrue(err <= c.tolerance(), size + " " + t + " after " + runs + " runs: " + err);
                        c.run();
                    }
                }
            }
        }
        // In place for real: after the check (out = Hx/√d), one more run gives back x (H·H/d = I
        // for powers of two); run out of place, it would give Hx/√d again.
        try (BenchCase c = s.create(cpu, "256@2560:inplace", DType.FP32, 7, false)) {
            c.check();
            c.run();
            HadamardSuite.Case hc = (HadamardSuite.Case) c;
            double err = Accuracy.relativeL2(hc.input().toDoubleArray(), hc.output());
            assertTrue(err < 1e-6, "two in-place runs should give x back: " + err);
        }
        assertThrows(IllegalArgumentException.class, () -> s.create(cpu, "128:inplce", DType.FP32, 1, false));
        assertTrue(s.defaultSizes(false).contains("1024:inplace"));
    }
}
