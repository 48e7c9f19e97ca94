package org.offload4j.cuda.hadamard;

import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.CudaFunction;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardSize;

/**
 * The Hadamard op on a CUDA device: one launch of {@code o4j_hadamard_<dtype>} per call
 * ({@code src/main/cuda/hadamard.cu}, contract in {@link HadamardLaunch}). Host tensors are staged
 * through device memory by {@link CudaCall}; device tensors are used in place. {@code H_m} and the
 * sign vectors are uploaded per call (at most 6.4 KB and 2·128 KB).
 *
 * <p>Not every size fits every GPU in this first version: the row is kept in shared memory
 * ({@link HadamardLaunch#smemBytes}), so on sm_86/sm_89 (99 KiB per block) d = 28672 and 32768
 * throw {@link UnsupportedOperationException} naming the limit.
 */
public final class CudaHadamardKernel implements HadamardKernel {
    private final CudaDevice device;

    public CudaHadamardKernel(CudaDevice device) {
        this.device = device;
    }

    @Override
    public void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                          float[] preSigns, float[] postSigns) {
        long rows = in.rows();
        if (rows == 0) {
            return;
        }
        HadamardLaunch launch = HadamardLaunch.of(size, rows, in.dtype());
        if (!launch.fits(device.maxSharedPerBlockOptin())) {
            throw new UnsupportedOperationException("the CUDA Hadamard kernel needs " + launch.dynamicSmemBytes()
                    + " bytes of shared memory for " + size + "; " + device.name() + " allows "
                    + device.maxSharedPerBlockOptin() + " per block");
        }
        CudaFunction fn = device.function(launch.kernel().symbol());
        try (CudaCall call = CudaCall.begin(device)) {
            long x;
            long y;
            if (in.sameStorage(out)) {
                x = call.inOut(in);
                y = x;
            } else {
                x = call.in(in);
                y = call.out(out);
            }
            long hm = call.upload(HadamardLaunch.matrixArgument(size.m()));
            long pre = call.upload(preSigns);
            long post = call.upload(postSigns);
            call.params()
                    .pointer(x).pointer(y)
                    .i64(rows).i64(in.rowStride()).i64(out.rowStride())
                    .i32(size.d()).i32(size.m()).i32(size.log2n())
                    .f32(scale).i32(transpose ? 1 : 0)
                    .pointer(hm).pointer(pre).pointer(post);
            call.launch(fn, launch.gridX(), 1, 1, launch.blockX(), 1, 1, launch.dynamicSmemBytes());
            call.finish();
        }
    }

    @Override
    public String toString() {
        return "CudaHadamardKernel on " + device;
    }
}
