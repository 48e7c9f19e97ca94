package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;

class BrgemmSuiteTest {

    @Test
    void casesAreCorrectOnIrregularSizesAndNamedOnly() {
        Backend cpu = Backends.named("cpu");
        OpSuite s = Suites.named("brgemm").orElseThrow();
        assertTrue(Suites.all().stream().noneMatch(x -> x.name().equals("brgemm")), "not in the default suite");
        for (DType t : s.dtypes()) {
            for (String size : new String[] {"7x17x33", "1x1x1", "65"}) {
                try (BenchCase c = s.create(cpu, size, t, 3, false)) {
                    double err = c.check();
                    assertTrue(err <= c.tolerance(), size + " " + t + ": " + err);
                    c.run();
                }
            }
        }
        try (BenchCase c = s.create(cpu, "2x3x4", DType.FP32, 1, false)) {
            assertEquals(2.0 * 2 * 3 * 4, c.flops());
            assertEquals(4.0 * (2 * 4 + 4 * 3 + 2 * 3), c.bytesMoved());
        }
        assertThrows(IllegalArgumentException.class, () -> s.create(cpu, "2x3", DType.FP32, 1, false));
    }
}
