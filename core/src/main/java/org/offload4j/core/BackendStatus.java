package org.offload4j.core;

import java.util.Optional;

/**
 * The outcome of probing one backend: usable (with the instance), or not (with the reason).
 *
 * @param name     the provider's name
 * @param priority the provider's priority
 * @param backend  the created backend, or {@code null} when unavailable
 * @param reason   why it is unavailable, or {@code null} when available
 */
public record BackendStatus(String name, int priority, Backend backend, String reason) {

    public boolean available() {
        return backend != null;
    }

    public Optional<Backend> backendIfAvailable() {
        return Optional.ofNullable(backend);
    }
}
