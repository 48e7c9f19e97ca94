package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/** On a backend without a device (the CPU), a case's tensors stay the host tensors and nothing is copied. */
class DeviceTensorsTest {
    @Test
    void theCpuBackendUsesTheHostTensorsThemselves() {
        try (DeviceTensors d = DeviceTensors.forBackend(Backends.named("cpu"));
             Tensor t = Tensor.allocate(DType.BF16, 2, 8)) {
            assertFalse(d.onDevice());
            Tensor m = d.mirror(t);
            assertSame(t, m);
            d.upload(t, m);
            d.download(m, t);
        }
    }
}
