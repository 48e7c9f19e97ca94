package org.offload4j.core;

/**
 * Service-provider interface for backends, listed in
 * {@code META-INF/services/org.offload4j.core.BackendProvider}.
 *
 * <p>Providers must be cheap to instantiate and must not touch native code or optional modules
 * in their constructors; all probing happens in {@link #create()}.
 */
public interface BackendProvider {

    /** The backend's short name, as {@link Backend#name()}. */
    String name();

    /** Higher is preferred when no backend is forced (CUDA 100, CPU 10). */
    int priority();

    /**
     * Creates the backend, or declines by throwing {@link UnsupportedOperationException} whose
     * message is one sentence saying why (no driver, no device, module missing…). Must not crash
     * the JVM and must not throw anything else for a missing capability; a {@link LinkageError}
     * signals a packaging bug and propagates.
     */
    Backend create();
}
