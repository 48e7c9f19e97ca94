package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The backend's description warns exactly when the JVM has no FMA instruction: the fallback-cpu
 * suite also runs at {@code -XX:UseAVX=0} (profile {@code narrower-vectors}), where HotSpot turns
 * {@code UseFMA} off, so both answers are checked on an AVX machine.
 */
class CpuBackendTest {
    @Test
    void descriptionWarnsExactlyWhenThereIsNoHardwareFma() {
        var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
        boolean fma = !"false".equals(bean.getVMOption("UseFMA").getValue());
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        if (args.contains("-XX:UseAVX=0")) {
            assertTrue(!fma, "-XX:UseAVX=0 leaves HotSpot without FMA on x86");
        }
        assertEquals(fma, CpuBackend.hardwareFma());
        String description = CpuBackend.create().description();
        assertEquals(!fma, description.contains(CpuBackend.NO_FMA), description);
    }
}
