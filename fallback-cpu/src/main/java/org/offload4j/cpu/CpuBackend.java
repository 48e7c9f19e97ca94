package org.offload4j.cpu;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.Fp8QuantizeKernel;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;
import org.offload4j.core.Floors;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.moe.MoeKernel;
import org.offload4j.w4a16.W4A16Kernel;

/**
 * The Vector API backend: every op on the host CPU, SIMD through {@code jdk.incubator.vector}
 * at the preferred species width, multi-threaded with {@link CpuThreads}.
 */
final class CpuBackend implements Backend {
    static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;

    private final Device device;
    private final Map<Class<?>, Object> kernels;

    private CpuBackend(Device device, Map<Class<?>, Object> kernels) {
        this.device = device;
        this.kernels = kernels;
    }

    static CpuBackend create() {
        if (FLOATS.length() < 4) {
            throw new UnsupportedOperationException("the preferred float vector has " + FLOATS.length()
                    + " lanes; the CPU backend needs at least 128-bit vectors");
        }
        Device device = new Device("cpu", 0, cpuName(), true);
        // One entry per kernel interface of the op modules, with its Vector API implementation.
        Map<Class<?>, Object> kernels = Map.ofEntries(
                Map.entry(HadamardKernel.class, new VectorHadamardKernel()),
                Map.entry(W4A16Kernel.class, new VectorW4A16Kernel()),
                Map.entry(AttentionKernel.class, new VectorAttentionKernel()),
                Map.entry(Fp8QuantizeKernel.class, new VectorFp8Quantize()),
                Map.entry(MoeKernel.class, new VectorMoeKernel()),
                Map.entry(Floors.class, new CpuFloors())
        );
        return new CpuBackend(device, kernels);
    }

    @Override
    public String name() {
        return "cpu";
    }

    /** Appended to {@link #description()} when the JVM has no FMA instruction ({@link #hardwareFma}). */
    static final String NO_FMA = "no hardware FMA in this JVM (-XX:UseAVX=0, or an x86 CPU without FMA3): every "
            + "multiply-add is computed in software (Math.fma through BigDecimal), hundreds of times slower";

    @Override
    public String description() {
        return device.name() + ", " + CpuThreads.threads() + " threads, " + FLOATS.vectorBitSize()
                + "-bit vectors (" + FLOATS.length() + " floats)" + (hardwareFma() ? "" : "; " + NO_FMA);
    }

    /**
     * Whether HotSpot compiles {@code Math.fma}, and with it the Vector API's {@code fma}, to an
     * FMA instruction ({@code -XX:+UseFMA}). Without one (x86 needs AVX for it: {@code UseAVX=0},
     * or a CPU from before FMA3) each lane falls back to {@code Math.fma}'s {@code BigDecimal}
     * code: a 1024³ BRGEMM at {@code -XX:UseAVX=0} on the Zen 4 VM did not finish in 20 minutes.
     * A JVM that does not report the flag (not HotSpot) is assumed to have it.
     */
    static boolean hardwareFma() {
        try {
            var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return bean == null || !"false".equals(bean.getVMOption("UseFMA").getValue());
        } catch (RuntimeException | LinkageError e) {
            return true;
        }
    }

    @Override
    public List<Device> devices() {
        return List.of(device);
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return Optional.ofNullable(kernels.get(kernelType)).map(kernelType::cast);
    }

    private static String cpuName() {
        try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
            Optional<String> model = lines.filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim());
            if (model.isPresent()) {
                return model.get();
            }
        } catch (java.io.IOException | RuntimeException e) {
            // Not Linux or not readable: fall through to the architecture name.
        }
        return System.getProperty("os.arch") + " CPU";
    }
}
