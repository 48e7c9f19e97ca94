package org.offload4j.cuda.hadamard;

import java.util.Optional;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.hadamard.HadamardFp8Kernel;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardSize;

/**
 * The fused rotate-and-quantize on a CUDA device ({@code hadacore_tc.cu}, MODE_AMAX then
 * MODE_FP8): two launches of the tensor-core transform, the first reducing each scale group's
 * amax into a zeroed scratch array, the second quantizing with it and writing the scales. The
 * transform is never rounded to 16 bits on the way. Problems the fused kernels do not cover (fp32
 * or m·2^k rows, d = 2, unaligned rows) run as the transform followed by a host quantize pass for
 * host tensors ({@link HadamardFp8Kernel#composite}); for device tensors they throw
 * {@link UnsupportedOperationException} naming the reason.
 */
public final class CudaHadamardFp8Kernel implements HadamardFp8Kernel {
    private final CudaDevice device;
    private final HadamardFp8Kernel composite;

    public CudaHadamardFp8Kernel(CudaDevice device, HadamardKernel transform) {
        this.device = device;
        this.composite = HadamardFp8Kernel.composite(transform);
    }

    @Override
    public void transformToFp8(Tensor in, Tensor out, Tensor scales, HadamardSize size, float scale, long rowsPerScale) {
        long rows = in.rows();
        long groups = rows / rowsPerScale;
        // Host tensors are staged into 256-byte aligned scratch with their row strides kept, so
        // only a device tensor's own address can break the alignment rules.
        Optional<HadaCoreLaunch> plan = HadaCoreLaunch.plan(size, in.dtype(), rows, in.rowStride(), in.rowStride(),
                stagedAddress(in), stagedAddress(in), device.maxSharedPerBlockOptin(), device.smCount());
        Optional<KernelName[]> pair = size.log2n() < 2 ? Optional.empty()
                : plan.flatMap(p -> p.fp8Pair(out.rowStride(), stagedAddress(out)));
        if (pair.isEmpty()) {
            fallBack(in, out, scales, size, scale, rowsPerScale);
            return;
        }
        HadaCoreLaunch launch = plan.get();
        try (CudaCall call = CudaCall.begin(device)) {
            long x = call.in(in);
            long q = call.out(out);
            long s = call.out(scales);
            long amax = call.scratch(4 * groups);
            call.stream().fill32(amax, 0, groups);
            call.params().pointer(x).i64(rows).i32(size.log2n()).i64(in.rowStride()).f32(scale).i64(rowsPerScale)
                    .pointer(amax);
            call.launch(device.function(pair.get()[0].symbol()), launch.gridX(), 1, 1, launch.blockX(), 1, 1,
                    launch.dynamicSmemBytes());
            call.params().pointer(x).pointer(q).i64(rows).i32(size.log2n()).i64(in.rowStride()).i64(out.rowStride())
                    .f32(scale).i64(rowsPerScale).pointer(amax).pointer(s).i64(groups);
            call.launch(device.function(pair.get()[1].symbol()), launch.gridX(), 1, 1, launch.blockX(), 1, 1,
                    launch.dynamicSmemBytes());
            call.finish();
        }
    }

    private static long stagedAddress(Tensor t) {
        return t.device().hostAddressable() ? 0 : t.deviceAddress();
    }

    private void fallBack(Tensor in, Tensor out, Tensor scales, HadamardSize size, float scale, long rowsPerScale) {
        if (!in.device().hostAddressable()) {
            throw new UnsupportedOperationException("no fused FP8 Hadamard kernel for " + in.describe() + " (fused: bf16 or"
                    + " fp16 rows, d = 2^k ≥ 4, rows and outputs aligned to 4 elements); pass host tensors, or rotate and"
                    + " quantize in two steps");
        }
        composite.transformToFp8(in, out, scales, size, scale, rowsPerScale);
    }

    @Override
    public String toString() {
        return "CudaHadamardFp8Kernel on " + device;
    }
}
