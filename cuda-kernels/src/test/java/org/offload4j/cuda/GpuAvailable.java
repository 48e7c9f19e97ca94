package org.offload4j.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Enables {@link GpuTest}s only where the CUDA backend comes up. The backend is created once
 * per test run and shared ({@link #backend()}); its device is closed at JVM exit.
 */
public final class GpuAvailable implements ExecutionCondition {
    private static volatile Object probe;

    private static synchronized Object probe() {
        if (probe == null) {
            try {
                probe = new CudaBackendProvider().create();
            } catch (UnsupportedOperationException e) {
                probe = e.getMessage();
            }
        }
        return probe;
    }

    /** The shared CUDA backend; only call from a {@link GpuTest}. */
    public static CudaBackend backend() {
        if (probe() instanceof CudaBackend b) {
            return b;
        }
        throw new IllegalStateException("no CUDA backend: " + probe());
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Object p = probe();
        return p instanceof CudaBackend b
                ? ConditionEvaluationResult.enabled("CUDA backend: " + b.description())
                : ConditionEvaluationResult.disabled("no usable CUDA backend: " + p);
    }
}
