package org.offload4j.cuda;

import java.util.Arrays;
import org.offload4j.core.Floors;
import org.offload4j.cuda.driver.DeviceAttribute;

/**
 * The GPU's ceilings. Copy: a device-to-device {@code cuMemcpyDtoDAsync} of 1 GiB (far past any
 * L2), timed with events, bytes read plus written, median of several. Matrix rate: from the
 * data sheet's dense bf16 tensor-core rate per SM and clock, times the SM count and the
 * reported clock. That one is <em>not</em> measured (no GEMM kernel is shipped yet), and
 * {@link #method()} says so; the memory-bound ops this library targets are judged by the copy
 * floor.
 */
final class CudaFloors implements Floors {
    private static final long COPY_BYTES = 1L << 30;
    private static final int WARMUPS = 3;
    private static final int RUNS = 11;

    private final CudaDevice device;

    CudaFloors(CudaDevice device) {
        this.device = device;
    }

    @Override
    public double copyBytesPerSecond() {
        long bytes = Math.min(COPY_BYTES, device.memoryInfo()[0] / 4);
        try (DeviceBuffer src = device.allocate(bytes);
             DeviceBuffer dst = device.allocate(bytes);
             CudaStream stream = device.createStream();
             CudaEvent start = device.createEvent();
             CudaEvent end = device.createEvent()) {
            stream.fill32(src.address(), 0x3F800000, bytes / 4); // never time copies of zeros
            float[] millis = new float[RUNS];
            for (int i = 0; i < WARMUPS + RUNS; i++) {
                start.record(stream);
                stream.copyOnDevice(dst.address(), src.address(), bytes);
                end.record(stream);
                end.synchronize();
                if (i >= WARMUPS) {
                    millis[i - WARMUPS] = end.elapsedMillis(start);
                }
            }
            Arrays.sort(millis);
            return 2.0 * bytes / (millis[RUNS / 2] * 1e-3);
        }
    }

    @Override
    public double matmulFlopsPerSecond() {
        int clockKhz = device.driver().deviceGetAttribute(DeviceAttribute.CLOCK_RATE,
                device.driver().deviceGet(device.ordinal()));
        return (double) device.smCount() * clockKhz * 1e3 * denseBf16FlopsPerSmPerClock(device.computeCapability());
    }

    /**
     * Dense bf16 tensor-core FLOPs (multiply-add = 2) per SM per clock, from NVIDIA's data
     * sheets: A100 312 TFLOP/s = 108 SMs × 1.41 GHz × 2048; H100 SXM 989 = 132 × 1.83 × 4096;
     * Ada and GA10x GeForce/workstation parts 1024 (fp32 accumulation on the pro parts).
     */
    static int denseBf16FlopsPerSmPerClock(int computeCapability) {
        if (computeCapability >= 90) {
            return 4096;
        }
        if (computeCapability == 80) {
            return 2048;
        }
        return 1024;
    }

    @Override
    public String method() {
        return "copy: 1 GiB cuMemcpyDtoDAsync timed with CUDA events, median of " + RUNS
                + "; matmul: data-sheet dense bf16 tensor rate × SMs × clock (not measured)";
    }
}
