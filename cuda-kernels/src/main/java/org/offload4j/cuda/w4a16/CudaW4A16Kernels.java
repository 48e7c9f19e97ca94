package org.offload4j.cuda.w4a16;

import java.util.Locale;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.w4a16.W4A16Kernel;

/**
 * Which W4A16 kernels the CUDA backend uses, for the W4A16 op and for W4A16 MoE experts.
 *
 * <ul>
 *   <li>{@code tc} (the default, also when the property is unset): the tensor-core kernels of
 *       {@code w4a16_tc.cu} ({@link TcW4A16Kernel}; MoE: the grouped launch). <b>Unverified on
 *       hardware until the first GPU run</b> of the GPU tests.</li>
 *   <li>{@code simple}: the CUDA-core kernels of {@code w4a16.cu} ({@link CudaW4A16Kernel}) and the
 *       MoE module's grouped int4 kernel of {@code moe.cu}, as before the tensor-core path existed.</li>
 * </ul>
 * Set with {@code -Doffload.cuda.w4a16=simple}; any other value than {@code tc} or {@code simple}
 * fails the backend's creation with {@link IllegalArgumentException} (a typo must not silently
 * select a path).
 */
public final class CudaW4A16Kernels {
    /** The system property that selects the path. */
    public static final String PATH_PROPERTY = "offload.cuda.w4a16";

    /** The two paths. */
    public enum Path {
        /** Tensor cores, {@code w4a16_tc.cu}. */
        TC,
        /** CUDA cores, {@code w4a16.cu} / {@code moe.cu}. */
        SIMPLE
    }

    private CudaW4A16Kernels() {
    }

    /** The path a property value selects: {@code null} or {@code tc} → TC, {@code simple} → SIMPLE (case-insensitive). */
    public static Path path(String value) {
        if (value == null) {
            return Path.TC;
        }
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "tc" -> Path.TC;
            case "simple" -> Path.SIMPLE;
            default -> throw new IllegalArgumentException("-D" + PATH_PROPERTY + "=" + value + " is not accepted; accepted: tc"
                    + " (tensor cores, the default) or simple (CUDA-core kernels)");
        };
    }

    /** The path {@code -Doffload.cuda.w4a16} selects now. */
    public static Path configuredPath() {
        return path(System.getProperty(PATH_PROPERTY));
    }

    /** The W4A16 kernel of {@code path} on {@code device}. */
    public static W4A16Kernel forDevice(CudaDevice device, Path path) {
        return path == Path.TC ? new TcW4A16Kernel(device) : new CudaW4A16Kernel(device);
    }
}
