package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.offload4j.core.BackendProvider;
import org.offload4j.core.BackendStatus;
import org.offload4j.core.Backends;

/**
 * The provider's declining side, which runs everywhere (not tagged: it needs no TornadoVM): it is
 * listed as a service, and without TornadoVM in the JVM it declines with one sentence that says
 * what to set, which {@code offload devices} prints.
 */
class TornadoBackendProviderTest {

    @Test
    void isListedAsAService() {
        assertTrue(ServiceLoader.load(BackendProvider.class).stream().anyMatch(p -> p.type() == TornadoBackendProvider.class),
                "META-INF/services lists TornadoBackendProvider");
        assertEquals("tornado", new TornadoBackendProvider().name());
    }

    @Test
    void declinesWithWhatToSetWhereTornadoVmIsAbsent() {
        assumeTrue(ModuleLayer.boot().findModule(TornadoBackendProvider.RUNTIME_MODULE).isEmpty(),
                "TornadoVM is in this JVM: the tornado-tagged tests cover the available side");
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> new TornadoBackendProvider().create());
        assertTrue(e.getMessage().contains("TORNADO_SDK") && e.getMessage().contains("./offload"), e.getMessage());
        BackendStatus s = Backends.survey().stream().filter(x -> x.name().equals("tornado")).findFirst().orElseThrow();
        assertEquals(e.getMessage(), s.reason());
    }
}
