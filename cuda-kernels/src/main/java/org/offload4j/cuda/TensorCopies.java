package org.offload4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.offload4j.core.Tensor;

/** Copies between host and device tensors, queued on a stream. */
final class TensorCopies {
    private TensorCopies() {
    }

    static void copy(CudaDevice device, CudaStream stream, Tensor src, Tensor dst) {
        if (src.dtype() != dst.dtype() || !Arrays.equals(src.shape(), dst.shape())) {
            throw new IllegalArgumentException("copy from " + src.describe() + " to " + dst.describe()
                    + ": dtype and shape must match");
        }
        boolean srcHost = src.device().hostAddressable();
        boolean dstHost = dst.device().hostAddressable();
        checkOn(device, src, "src");
        checkOn(device, dst, "dst");
        if (src.sameStorage(dst)) {
            return; // a tensor copied onto itself
        }
        // cuMemcpy's result is undefined where the ranges overlap, and rows copied in order would
        // overwrite source rows not yet read: a partial overlap is refused, never half done.
        if (src.overlaps(dst)) {
            throw new IllegalArgumentException("copy from " + src.describe() + " to " + dst.describe()
                    + ": dst partially overlaps src; copy through a separate tensor");
        }
        // One copy of the whole span only where dst has no gaps: the bytes between strided rows may
        // belong to another tensor (rows of two tensors can interleave), and must not be overwritten.
        if (dst.isContiguous() && src.isContiguous()) {
            copySpan(stream, src, 0, dst, 0, src.spanBytes(), srcHost, dstHost);
            return;
        }
        long rowBytes = src.dtype().byteSize(src.cols());
        for (long r = 0; r < src.rows(); r++) {
            copySpan(stream, src, src.rowByteOffset(r), dst, dst.rowByteOffset(r), rowBytes, srcHost, dstHost);
        }
    }

    private static void copySpan(CudaStream stream, Tensor src, long srcOffset, Tensor dst, long dstOffset, long bytes,
                                 boolean srcHost, boolean dstHost) {
        if (bytes == 0) {
            return;
        }
        if (srcHost && dstHost) {
            MemorySegment.copy(src.segment(), srcOffset, dst.segment(), dstOffset, bytes);
        } else if (srcHost) {
            toDevice(stream, src.segment().asSlice(srcOffset, bytes), dst.deviceAddress() + dstOffset);
        } else if (dstHost) {
            toHost(stream, dst.segment().asSlice(dstOffset, bytes), src.deviceAddress() + srcOffset);
        } else {
            stream.copyOnDevice(dst.deviceAddress() + dstOffset, src.deviceAddress() + srcOffset, bytes);
        }
    }

    /**
     * Host to device. Heap memory cannot be handed to the driver, so it goes through a native
     * copy; a copy from pageable memory returns once the driver has staged the source, so the
     * temporary may be freed right after.
     */
    static void toDevice(CudaStream stream, MemorySegment src, long dst) {
        if (src.isNative()) {
            stream.copyToDevice(dst, src, src.byteSize());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tmp = arena.allocate(src.byteSize(), 64).copyFrom(src);
            stream.copyToDevice(dst, tmp, tmp.byteSize());
        }
    }

    /** Device to host; into heap memory through a native copy, waiting for it. */
    static void toHost(CudaStream stream, MemorySegment dst, long src) {
        if (dst.isNative()) {
            stream.copyToHost(dst, src, dst.byteSize());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tmp = arena.allocate(dst.byteSize(), 64);
            stream.copyToHost(tmp, src, tmp.byteSize());
            stream.synchronize();
            dst.copyFrom(tmp);
        }
    }

    static void checkOn(CudaDevice device, Tensor t, String name) {
        if (!t.device().hostAddressable() && !t.device().equals(device.asDevice())) {
            throw new IllegalArgumentException(name + " is on " + t.device() + ", not on " + device.asDevice()
                    + " or the host");
        }
    }
}
