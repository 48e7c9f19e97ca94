package org.offload4j.core;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * Finds the backend that runs the ops.
 *
 * <p>The ladder: (1) a forced backend, from the system property {@value #BACKEND_PROPERTY} or
 * else the environment variable {@value #BACKEND_ENV}; an unknown name throws
 * {@link IllegalArgumentException} listing the known ones, and a known one that cannot be
 * created throws {@link BackendUnavailableException} with its reason — a forced backend never
 * falls back silently. (2) Otherwise every provider is probed in decreasing priority, and the
 * first one that is available and supplies the op's kernels runs it; each rung skipped is
 * logged once, in one sentence, at INFO.
 *
 * <p>Probing happens once per JVM ({@link #survey()} caches it); {@code offload devices} prints
 * the survey.
 */
public final class Backends {
    public static final String BACKEND_PROPERTY = "offload.backend";
    public static final String BACKEND_ENV = "OFFLOAD_BACKEND";

    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    /** Backend/kernel pairs whose skip was already logged: each rung is logged once per JVM. */
    private static final java.util.Set<String> SKIPS_LOGGED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private Backends() {}

    /** Holder idiom: probing runs on first use, once, without a lock on every call. */
    private static final class Holder {
        static final List<BackendStatus> SURVEY = probeAll();
    }

    /** Every installed backend, available or not, highest priority first. */
    public static List<BackendStatus> survey() {
        return Holder.SURVEY;
    }

    /** The forced backend name, if any (property first, then environment), lower-cased. */
    public static Optional<String> forcedName() {
        String forced = System.getProperty(BACKEND_PROPERTY);
        if (forced == null || forced.isBlank()) {
            forced = System.getenv(BACKEND_ENV);
        }
        return forced == null || forced.isBlank() ? Optional.empty() : Optional.of(forced.trim().toLowerCase(Locale.ROOT));
    }

    /** The backend ops use by default: the forced one, else the best available one. */
    public static Backend best() {
        Optional<String> forced = forcedName();
        if (forced.isPresent()) {
            return named(forced.get());
        }
        return survey().stream().filter(BackendStatus::available).findFirst().map(BackendStatus::backend)
                .orElseThrow(() -> new BackendUnavailableException("no backend is available: " + reasons()));
    }

    /** The backend called {@code name}; fails with its reason if it cannot be used here. */
    public static Backend named(String name) {
        if (name == null) {
            throw new IllegalArgumentException("backend name must not be null; known: " + knownNames());
        }
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        BackendStatus status = survey().stream().filter(s -> s.name().equals(wanted)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("backend '" + name + "' is unknown; known: " + knownNames()));
        if (!status.available()) {
            throw new BackendUnavailableException("backend '" + wanted + "' is unavailable: " + status.reason());
        }
        return status.backend();
    }

    /**
     * The kernels of one op from the forced backend (which must have them), else from the
     * highest-priority available backend that has them.
     */
    public static <K> Selected<K> kernelsFor(Class<K> kernelType) {
        Optional<String> forced = forcedName();
        if (forced.isPresent()) {
            Backend b = named(forced.get());
            K k = b.kernels(kernelType).orElseThrow(() -> new BackendUnavailableException(
                    "forced backend '" + b.name() + "' does not implement " + kernelType.getSimpleName()));
            return new Selected<>(b, k);
        }
        return kernelsFrom(null, kernelType);
    }

    /** The kernels of one op from {@code backend} (or, when null, as {@link #kernelsFor}). */
    public static <K> Selected<K> kernelsFrom(Backend backend, Class<K> kernelType) {
        if (backend != null) {
            K k = backend.kernels(kernelType).orElseThrow(() -> new BackendUnavailableException(
                    "backend '" + backend.name() + "' does not implement " + kernelType.getSimpleName()));
            return new Selected<>(backend, k);
        }
        for (BackendStatus s : survey()) {
            if (!s.available()) {
                continue;
            }
            Optional<K> k = s.backend().kernels(kernelType);
            if (k.isPresent()) {
                return new Selected<>(s.backend(), k.get());
            }
            if (SKIPS_LOGGED.add(s.name() + "/" + kernelType.getName())) {
                LOG.log(System.Logger.Level.INFO, "Backend {0} has no {1}; trying the next one.", s.name(), kernelType.getSimpleName());
            }
        }
        throw new BackendUnavailableException("no available backend implements " + kernelType.getSimpleName() + ": " + reasons());
    }

    /** A backend together with its kernels for one op. */
    public record Selected<K>(Backend backend, K kernels) {}

    private static List<BackendStatus> probeAll() {
        List<BackendStatus> out = new ArrayList<>();
        for (ServiceLoader.Provider<BackendProvider> p : ServiceLoader.load(BackendProvider.class).stream().toList()) {
            BackendProvider provider;
            try {
                provider = p.get();
            } catch (java.util.ServiceConfigurationError | RuntimeException | LinkageError e) {
                // A provider class that cannot even be made: listed under its class name, unavailable.
                out.add(new BackendStatus(p.type().getName(), Integer.MIN_VALUE, null, failure(e)));
                continue;
            }
            out.add(probe(provider));
        }
        out.sort(Comparator.comparingInt(BackendStatus::priority).reversed().thenComparing(BackendStatus::name));
        for (BackendStatus s : out) {
            if (!s.available()) {
                LOG.log(System.Logger.Level.INFO, "Backend {0} is unavailable: {1}", s.name(), s.reason());
            }
        }
        return List.copyOf(out);
    }

    private static BackendStatus probe(BackendProvider provider) {
        try {
            Backend b = provider.create();
            return new BackendStatus(provider.name(), provider.priority(), b, null);
        } catch (UnsupportedOperationException e) {
            return new BackendStatus(provider.name(), provider.priority(), null, e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            // A provider that fails unexpectedly (a bad setting, a broken native library) is unavailable
            // like one that declines: it must not take the survey, and so every other backend, down with it.
            return new BackendStatus(provider.name(), provider.priority(), null, failure(e));
        }
    }

    /** The reason shown for a provider that failed unexpectedly: the exception's kind and message. */
    private static String failure(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static String knownNames() {
        return survey().stream().map(BackendStatus::name).collect(Collectors.joining(", "));
    }

    private static String reasons() {
        return survey().stream().map(s -> s.name() + (s.available() ? " (available)" : ": " + s.reason()))
                .collect(Collectors.joining("; "));
    }
}
