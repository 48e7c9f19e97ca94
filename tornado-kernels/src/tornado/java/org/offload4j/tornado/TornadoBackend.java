package org.offload4j.tornado;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;
import org.offload4j.core.Floors;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.moe.MoeKernel;
import org.offload4j.w4a16.W4A16Kernel;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The TornadoVM backend: every op as TornadoVM task graphs on one TornadoVM device (OpenCL or
 * PTX). Made only by {@link TornadoBackendProvider}, which checks first that TornadoVM is in the
 * JVM and that its silent bailout is off.
 *
 * <p>The device is {@code -Doffload.tornado.device=B:D} (TornadoVM back-end index and device
 * index, as {@code tornado --devices} lists them), else TornadoVM's default device. Creation
 * compiles and runs a probe kernel there, so that a device TornadoVM cannot compile for declines
 * now, with TornadoVM's reason, and not at the first op.
 */
public final class TornadoBackend implements Backend {
    private final TornadoDevice tornadoDevice;
    private final Device device;
    private final String version;
    private final Map<Class<?>, Object> kernels;

    private TornadoBackend(TornadoDevice tornadoDevice, Device device, String version) {
        this.tornadoDevice = tornadoDevice;
        this.device = device;
        this.version = version;
        this.kernels = Map.of(
                Floors.class, new TornadoFloors(tornadoDevice),
                HadamardKernel.class, new TornadoHadamardKernel(tornadoDevice),
                W4A16Kernel.class, new TornadoW4A16Kernel(tornadoDevice),
                AttentionKernel.class, new TornadoAttentionKernel(tornadoDevice),
                MoeKernel.class, new TornadoMoeKernel(tornadoDevice));
    }

    /** Starts TornadoVM on the selected device and runs the probe; declines with the reason. */
    public static TornadoBackend create() {
        TornadoDevice d = selectDevice();
        probe(d);
        boolean cpu = d.getDeviceType() == TornadoDeviceType.CPU;
        String name = d.getPhysicalDevice().getDeviceName().trim() + " (" + d.getTornadoVMBackend() + ", "
                + d.getPlatformName().trim() + ")";
        // A CPU OpenCL device shares host memory, but TornadoVM still copies: hostAddressable here
        // says "the device is the host CPU", which TornadoBackendProvider uses for the priority.
        return new TornadoBackend(d, new Device("tornado", d.getBackendIndex(), name, cpu), version());
    }

    private static TornadoDevice selectDevice() {
        String sel = System.getProperty("offload.tornado.device");
        if (sel == null || sel.isBlank()) {
            return TornadoExecutionPlan.DEFAULT_DEVICE;
        }
        String[] p = sel.trim().split(":");
        try {
            return TornadoExecutionPlan.getDevice(Integer.parseInt(p[0]), p.length > 1 ? Integer.parseInt(p[1]) : 0);
        } catch (RuntimeException e) {
            throw new UnsupportedOperationException("-Doffload.tornado.device=" + sel + " names no TornadoVM device "
                    + "(expected BACKEND:DEVICE as `tornado --devices` lists them): " + e.getMessage());
        }
    }

    /** One element per work-item, checked: a compile failure or a wrong result declines. */
    static void probeKernel(IntArray a) {
        for (@Parallel int i = 0; i < a.getSize(); i++) {
            a.set(i, (a.get(i) << 1) + (i & 3));
        }
    }

    private static void probe(TornadoDevice d) {
        IntArray a = new IntArray(64);
        for (int i = 0; i < 64; i++) {
            a.set(i, i);
        }
        TaskGraph g = new TaskGraph(Plans.graphName("probe"))
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, a)
                .task("t", TornadoBackend::probeKernel, a)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, a);
        ImmutableTaskGraph ig = g.snapshot();
        try (TornadoExecutionPlan plan = Plans.plan(d, ig)) {
            Plans.run(plan, "the probe kernel", d);
        } catch (TornadoKernelException e) {
            throw new UnsupportedOperationException(e.getMessage(), e);
        } catch (Exception e) {
            throw new UnsupportedOperationException("TornadoVM failed on the probe kernel: " + e, e);
        }
        for (int i = 0; i < 64; i++) {
            if (a.get(i) != 2 * i + (i & 3)) {
                throw new UnsupportedOperationException("the probe kernel computed a wrong value on " + Plans.describe(d)
                        + " at " + i + ": " + a.get(i));
            }
        }
    }

    /** TornadoVM's version, from its API jar's name ({@code tornado-api-5.2.0-jdk25.jar}). */
    private static String version() {
        try {
            String jar = java.nio.file.Path.of(TornadoExecutionPlan.class.getProtectionDomain().getCodeSource().getLocation()
                    .toURI()).getFileName().toString();
            return jar.startsWith("tornado-api-") && jar.endsWith(".jar")
                    ? jar.substring("tornado-api-".length(), jar.length() - 4) : "(version unknown)";
        } catch (RuntimeException | java.net.URISyntaxException e) {
            return "(version unknown)";
        }
    }

    @Override
    public String name() {
        return "tornado";
    }

    @Override
    public String description() {
        return "TornadoVM " + version + " on " + device.name();
    }

    @Override
    public List<Device> devices() {
        return List.of(device);
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return Optional.ofNullable(kernels.get(kernelType)).map(kernelType::cast);
    }

    /** The TornadoVM device the kernels run on. */
    TornadoDevice tornadoDevice() {
        return tornadoDevice;
    }
}
