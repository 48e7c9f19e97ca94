package org.offload4j.cpu;

import org.offload4j.core.Backend;
import org.offload4j.core.BackendProvider;

/**
 * Provides the Vector API backend. It declines (one sentence) when the incubator module
 * {@code jdk.incubator.vector} is not readable, checked before any of its classes is touched,
 * so that a JVM started without {@code --add-modules jdk.incubator.vector} gets a reason and
 * not a {@link NoClassDefFoundError}.
 */
public final class CpuBackendProvider implements BackendProvider {
    static final String VECTOR_MODULE = "jdk.incubator.vector";

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Backend create() {
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            throw new UnsupportedOperationException("the Vector API module is not loaded: start the JVM with --add-modules "
                    + VECTOR_MODULE);
        }
        if (!CpuBackendProvider.class.getModule().canRead(ModuleLayer.boot().findModule(VECTOR_MODULE).get())) {
            throw new UnsupportedOperationException("module " + CpuBackendProvider.class.getModule() + " cannot read "
                    + VECTOR_MODULE);
        }
        return CpuBackend.create();
    }
}
