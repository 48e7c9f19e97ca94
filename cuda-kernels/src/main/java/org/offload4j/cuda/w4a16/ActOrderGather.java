package org.offload4j.cuda.w4a16;

import java.lang.foreign.MemorySegment;
import java.util.List;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.DeviceBuffer;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * The act-order column gather of {@code w4a16.cu} ({@code o4j_w4a16_gather_columns}), which both
 * CUDA W4A16 paths run before their GEMM launch for an act-order weight:
 * {@code x'[i, r] = x[i, order[r]]}, x' contiguous {@code [m][k]} in call scratch, the 16-bit
 * values copied bit for bit. The weight's {@code order} is uploaded once, with the packed weight
 * ({@link #upload}). Launch contract (the kernel file's header says the same): grid
 * {@code (⌈k/8 / 256⌉, min(m, 65535))}, block 256, one thread per 8 columns, rows looped over
 * {@code gridDim.y}.
 */
public final class ActOrderGather {
    /** Threads per block. */
    public static final int THREADS = 256;
    /** Kernel parameters in order; checked against w4a16.cu by a test. */
    public static final List<String> ARGUMENTS = List.of(
            "const uint16_t* x", "long long ldx", "const int* order", "uint16_t* out", "int m", "int k");

    private ActOrderGather() {
    }

    /** Grid x: one thread per 8 columns of x' ({@code k} is a multiple of 8). */
    public static int gridX(int k) {
        return Math.ceilDiv(k / 8, THREADS);
    }

    /** Grid y: one block row per row of x, up to the 65535 limit; the kernel loops over the rest. */
    public static int gridY(int m) {
        return Math.min(m, W4A16Launch.MAX_GRID_Y);
    }

    /**
     * The device copy of {@code w}'s act-order row order (int32 {@code [k]}), or {@code null} for a
     * weight stored in order. The caller owns the buffer.
     */
    static DeviceBuffer upload(CudaDevice device, QuantizedWeight w) {
        int[] order = w.rowOrder();
        return order == null ? null : CudaW4A16Kernel.uploadArray(device, MemorySegment.ofArray(order), 4L * order.length);
    }

    /**
     * Launches the gather of {@code m} rows of x (device address {@code xa}, {@code ldx} elements
     * between rows) through {@code order} (device address of int32 {@code [k]}) into scratch of
     * this call; returns the scratch address (row stride k).
     */
    static long gather(CudaCall call, long xa, long ldx, long order, int m, int k) {
        long out = call.scratch(2L * m * k);
        call.params().pointer(xa).i64(ldx).pointer(order).pointer(out).i32(m).i32(k);
        call.launch(call.device().function(KernelName.W4A16_GATHER_COLUMNS.symbol()), gridX(k), gridY(m), 1, THREADS, 1, 1, 0);
        return out;
    }

    /** The device address of the order: the packed weight's copy, else {@code order} uploaded for this call. */
    static long orderAddress(CudaCall call, DeviceBuffer packedCopy, int[] order) {
        return packedCopy != null ? packedCopy.address() : call.upload(order);
    }
}
