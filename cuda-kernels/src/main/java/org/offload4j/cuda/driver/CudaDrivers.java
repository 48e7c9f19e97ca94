package org.offload4j.cuda.driver;

import java.lang.reflect.InvocationTargetException;
import java.util.Locale;

/**
 * Chooses the driver binding: {@code -Doffload.cuda.binding} (or {@code OFFLOAD_CUDA_BINDING}),
 * {@code ffm} by default, {@code jcuda} for the JNI comparison. The binding classes are loaded by
 * name so that JCuda's classes are touched only when it was asked for.
 */
public final class CudaDrivers {
    /** The system property that picks the binding. */
    public static final String PROPERTY = "offload.cuda.binding";

    private static final String FFM = "org.offload4j.cuda.driver.FfmCudaDriver";
    private static final String JCUDA = "org.offload4j.cuda.driver.jcuda.JCudaDriver";

    private CudaDrivers() {
    }

    /** The binding asked for: the property, then the environment variable, then {@code ffm}. */
    public static String requestedBinding() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) {
            v = System.getenv("OFFLOAD_CUDA_BINDING");
        }
        return v == null || v.isBlank() ? "ffm" : v.trim().toLowerCase(Locale.ROOT);
    }

    /**
     * The requested binding, loaded but not yet initialised ({@link CudaDriver#init()} not called).
     *
     * @throws UnsupportedOperationException one sentence: the driver library is missing, or the
     *                                       binding's own library (JCuda's JNI part) is
     * @throws IllegalArgumentException      for a binding name other than {@code ffm} or {@code jcuda}
     */
    public static CudaDriver load() {
        return load(requestedBinding());
    }

    public static CudaDriver load(String binding) {
        return switch (binding) {
            case "ffm" -> instantiate(FFM, binding);
            case "jcuda" -> instantiate(JCUDA, binding);
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + binding
                    + " names no CUDA binding; use ffm (the default) or jcuda");
        };
    }

    private static CudaDriver instantiate(String className, String binding) {
        try {
            Class<?> c = Class.forName(className);
            return (CudaDriver) c.getMethod("load").invoke(null);
        } catch (ClassNotFoundException e) {
            throw new UnsupportedOperationException("the " + binding + " CUDA binding is not on the class path ("
                    + className + ")");
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof UnsupportedOperationException u) {
                throw u;
            }
            if (e.getCause() instanceof LinkageError l) {
                throw new UnsupportedOperationException("the " + binding + " CUDA binding could not load its native part: "
                        + l.getMessage(), l);
            }
            throw new IllegalStateException("loading the " + binding + " CUDA binding failed", e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the " + binding + " CUDA binding class " + className
                    + " has no public static load()", e);
        }
    }
}
