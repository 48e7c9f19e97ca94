package org.offload4j.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.driver.KernelParams;

/**
 * One op call on a device, from the kernel adapter's side: it turns each tensor into the device
 * address a kernel takes, stages host tensors through device scratch memory, launches, and at
 * {@link #finish()} copies staged outputs back and waits. Ops are synchronous to their Java
 * caller (results are ready when the call returns), which is what the op contracts promise.
 *
 * <pre>{@code
 * try (CudaCall call = CudaCall.begin(device)) {
 *     long x = call.in(in);          // device tensor: its address; host tensor: staged copy
 *     long y = call.out(out);        // in place (out same storage as in): the same address
 *     call.params().pointer(x).pointer(y).i32(rows);
 *     call.launch(kernel, grid, 1, 1, 256, 1, 1, sharedBytes);
 *     call.finish();
 * }
 * }</pre>
 *
 * <p>A staged host tensor keeps its row stride on the device: the span from its first to its
 * last element is copied, gaps included, so kernels see one layout either way. The exception is
 * {@link #inBlocks}, which packs the parts it stages: its caller passes the kernel that layout.
 */
public final class CudaCall implements AutoCloseable {
    private final CudaDevice device;
    private final Lane lane;
    private final List<Staged> staged = new ArrayList<>(6);
    private int nextSlot;
    private boolean finished;
    /** The timer of a {@link CudaTimer#time} this call runs under, or null. */
    private final CudaTimer timer;

    private record Staged(Tensor tensor, long address, boolean copyBack) {
    }

    private CudaCall(CudaDevice device) {
        this.device = device;
        this.lane = device.acquireLane();
        this.timer = CudaTimer.active();
        if (timer != null) {
            try {
                lane.timingStart().record(lane.stream());
            } catch (RuntimeException e) {
                device.releaseLane(lane);
                throw e;
            }
        }
    }

    public static CudaCall begin(CudaDevice device) {
        return new CudaCall(device);
    }

    public CudaDevice device() {
        return device;
    }

    public CudaStream stream() {
        return lane.stream();
    }

    /** The address of an input tensor's data on the device. */
    public long in(Tensor t) {
        return stage(t, true, false);
    }

    /** The address an output tensor's data is written to; host outputs are copied back at {@link #finish()}. */
    public long out(Tensor t) {
        return stage(t, false, true);
    }

    /** An input that the kernel also writes (in place). */
    public long inOut(Tensor t) {
        return stage(t, true, true);
    }

    /** An optional input: {@code 0} (a null pointer) for {@code null}. */
    public long inOrNull(Tensor t) {
        return t == null ? 0 : in(t);
    }

    /** An optional output: {@code 0} (a null pointer) for {@code null}. */
    public long outOrNull(Tensor t) {
        return t == null ? 0 : out(t);
    }

    private long stage(Tensor t, boolean copyIn, boolean copyBack) {
        TensorCopies.checkOn(device, t, "tensor " + t.describe());
        if (!t.device().hostAddressable()) {
            return t.deviceAddress();
        }
        MemorySegment seg = t.segment();
        for (int i = 0; i < staged.size(); i++) {
            Staged s = staged.get(i);
            if (s.tensor().sameStorage(t)) {
                if (copyBack && !s.copyBack()) {
                    staged.set(i, new Staged(s.tensor(), s.address(), true));
                }
                return s.address();
            }
        }
        long bytes = t.spanBytes();
        long address = lane.slot(nextSlot++, bytes);
        if (copyIn && bytes > 0) {
            TensorCopies.toDevice(lane.stream(), seg.asSlice(0, bytes), address);
        }
        staged.add(new Staged(t, address, copyBack));
        return address;
    }

    /**
     * The device address of {@code blocks} pieces of a host input, {@code blockBytes} each, the
     * i-th starting {@code i · pitchBytes} bytes past its first element, packed one after another
     * (one copy each): for an input of which the kernel reads only parts, such as the filled
     * prefix of each head of a KV cache. Every block must lie within the tensor's span.
     */
    public long inBlocks(Tensor t, long blocks, long blockBytes, long pitchBytes) {
        TensorCopies.checkOn(device, t, "tensor " + t.describe());
        if (!t.device().hostAddressable()) {
            throw new IllegalArgumentException("inBlocks stages host tensors; " + t.describe() + " is on " + t.device());
        }
        if (blocks < 0 || blockBytes < 0 || pitchBytes < 0 || blocks > 0 && (blocks - 1) * pitchBytes + blockBytes > t.spanBytes()) {
            throw new IllegalArgumentException(blocks + " blocks of " + blockBytes + " bytes every " + pitchBytes
                    + " do not fit the " + t.spanBytes() + " bytes of " + t.describe());
        }
        long address = lane.slot(nextSlot++, blocks * blockBytes);
        MemorySegment seg = t.segment();
        for (long i = 0; i < blocks && blockBytes > 0; i++) {
            TensorCopies.toDevice(lane.stream(), seg.asSlice(i * pitchBytes, blockBytes), address + i * blockBytes);
        }
        return address;
    }

    /** Device memory of {@code bytes} for this call only (a workspace), uninitialised. */
    public long scratch(long bytes) {
        return lane.slot(nextSlot++, bytes);
    }

    /** Uploads {@code values} for this call only; returns their device address ({@code 0} for {@code null}). */
    public long upload(float[] values) {
        if (values == null) {
            return 0;
        }
        MemorySegment host = lane.pinned(4L * values.length);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_FLOAT, 0, values.length);
        return uploadPinned(host);
    }

    public long upload(int[] values) {
        if (values == null) {
            return 0;
        }
        MemorySegment host = lane.pinned(4L * values.length);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_INT, 0, values.length);
        return uploadPinned(host);
    }

    public long upload(byte[] values) {
        if (values == null) {
            return 0;
        }
        MemorySegment host = lane.pinned(values.length);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_BYTE, 0, values.length);
        return uploadPinned(host);
    }

    private long uploadPinned(MemorySegment host) {
        long address = lane.slot(nextSlot++, host.byteSize());
        if (host.byteSize() > 0) {
            lane.stream().copyToDevice(address, host, host.byteSize());
        }
        return address;
    }

    /** The kernel parameter buffer, cleared: add the next kernel's arguments in order. */
    public KernelParams params() {
        return lane.params();
    }

    /** Launches {@code kernel} on this call's stream with the arguments in {@link #params()}. */
    public void launch(CudaFunction kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                       int sharedBytes) {
        kernel.launch(lane.stream(), gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, lane.currentParams());
    }

    /** Copies host outputs back and waits for the device; a kernel fault surfaces here as a CudaException. */
    public void finish() {
        for (Staged s : staged) {
            if (s.copyBack()) {
                copyBack(s.tensor(), s.address());
            }
        }
        if (timer != null) {
            lane.timingStop().record(lane.stream());
        }
        lane.stream().synchronize();
        finished = true;
        if (timer != null) {
            timer.add(lane.timingStop().elapsedMillis(lane.timingStart()));
        }
    }

    /**
     * Row by row when strided: the gaps between rows may belong to other data on the host, and
     * the device copy of them was never written.
     */
    private void copyBack(Tensor t, long address) {
        MemorySegment seg = t.segment();
        if (t.isContiguous()) {
            long bytes = t.spanBytes();
            if (bytes > 0) {
                TensorCopies.toHost(lane.stream(), seg.asSlice(0, bytes), address);
            }
            return;
        }
        long rowBytes = t.dtype().byteSize(t.cols());
        for (long r = 0; r < t.rows(); r++) {
            long offset = t.rowByteOffset(r);
            TensorCopies.toHost(lane.stream(), seg.asSlice(offset, rowBytes), address + offset);
        }
    }

    /**
     * Ends the call. Without {@link #finish()} (an exception on the way) it still waits for the
     * stream, so the lane's memory is idle before the next call reuses it.
     */
    @Override
    public void close() {
        try {
            if (!finished) {
                lane.stream().synchronize();
            }
        } finally {
            lane.reset();
            device.releaseLane(lane);
        }
    }
}
