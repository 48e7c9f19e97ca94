package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.BackendStatus;
import org.offload4j.core.Backends;

/** The ladder: wherever this runs, the CUDA backend is either usable or unavailable with a reason. */
class CudaBackendProviderTest {

    @Test
    void isListedInTheSurveyWithADeviceOrAReason() {
        BackendStatus cuda = Backends.survey().stream().filter(s -> s.name().equals("cuda")).findFirst().orElseThrow();
        assertEquals(100, cuda.priority());
        if (cuda.available()) {
            assertEquals("cuda", cuda.backend().name());
            assertFalse(cuda.backend().devices().isEmpty());
        } else {
            assertTrue(cuda.reason() != null && !cuda.reason().isBlank());
            assertFalse(cuda.reason().contains("\n"), "one sentence: " + cuda.reason());
        }
    }

    @GpuTest
    void theGpuReportsSaneProperties() {
        CudaDevice d = GpuAvailable.backend().device();
        assertTrue(d.computeCapability() >= 80, d.name() + " sm_" + d.computeCapability());
        assertTrue(d.smCount() > 0);
        assertTrue(d.totalMemory() > (1L << 30));
        long[] info = d.memoryInfo();
        assertTrue(info[0] > 0 && info[0] <= info[1]);
    }
}
