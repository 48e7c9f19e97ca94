package org.offload4j.cuda.hadamard;

import java.util.Optional;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardSize;

/**
 * The Hadamard op on a CUDA device: one launch of {@code o4j_hadamard_<dtype>} per call
 * ({@code src/main/cuda/hadamard.cu}, contract in {@link HadamardLaunch}). Host tensors are staged
 * through device memory by {@link CudaCall}; device tensors are used in place. {@code H_m} and the
 * sign vectors are uploaded per call (at most 6.4 KB and 2·128 KB).
 *
 * <p>By default every size runs on the tensor-core kernels ({@code src/main/cuda/hadacore_tc.cu},
 * rounded once, see {@link HadaCoreLaunch}, which also lists what they do not cover); the rest on
 * the CUDA-core kernel ({@link HadamardLaunch}).
 *
 * <p>Not every size fits every GPU in this first version: the row is kept in shared memory
 * ({@link HadamardLaunch#smemBytes}), so on sm_86/sm_89 (99 KiB per block) d = 28672 and 32768
 * throw {@link UnsupportedOperationException} naming the limit.
 */
public final class CudaHadamardKernel implements HadamardKernel {
    /**
     * {@code -Doffload.cuda.hadamard=cuda-cores} runs every size on the CUDA-core kernel; the
     * default ({@code tensor-cores}) uses the tensor-core kernels (hadacore_tc.cu) wherever they
     * apply. Another value is logged as a warning and the default used.
     */
    public static final String PATH_PROPERTY = "offload.cuda.hadamard";
    private static final boolean TENSOR_CORES =
            "tensor-cores".equals(org.offload4j.core.Settings.choice(PATH_PROPERTY, "tensor-cores", "tensor-cores", "cuda-cores"));

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
            long pre = call.upload(preSigns);
            long post = call.upload(postSigns);
            Optional<HadaCoreLaunch> tc = TENSOR_CORES
                    ? HadaCoreLaunch.plan(size, in.dtype(), rows, in.rowStride(), out.rowStride(), x, y,
                            device.maxSharedPerBlockOptin(), device.smCount())
                    : Optional.empty();
            if (tc.isPresent()) {
                launchTensorCores(call, tc.get(), x, y, rows, size, in, out, scale, transpose, pre, post);
            } else {
                launchCudaCores(call, x, y, rows, size, in, out, scale, transpose, pre, post);
            }
            call.finish();
        }
    }

    /** hadacore_tc.cu; for d = 2^k, H_d is symmetric, so the transpose flag changes nothing there. */
    private void launchTensorCores(CudaCall call, HadaCoreLaunch launch, long x, long y, long rows, HadamardSize size,
                                   Tensor in, Tensor out, float scale, boolean transpose, long pre, long post) {
        long hm = launch.kind() == HadaCoreLaunch.Kind.MSEG ? call.upload(HadamardLaunch.matrixArgument(size.m())) : 0;
        var p = call.params().pointer(x).pointer(y).i64(rows);
        switch (launch.kind()) {
            case REGS -> p.i32(size.log2n()).i64(in.rowStride()).i64(out.rowStride()).f32(scale);
            case SMEM -> p.i64(in.rowStride()).i64(out.rowStride()).f32(scale);
            case MSEG -> p.i32(size.log2n()).i32(size.m()).i64(in.rowStride()).i64(out.rowStride()).f32(scale)
                    .i32(transpose ? 1 : 0).pointer(hm);
        }
        p.pointer(pre).pointer(post);
        call.launch(device.function(launch.kernel().symbol()), launch.gridX(), 1, 1, launch.blockX(), 1, 1,
                launch.dynamicSmemBytes());
    }

    private void launchCudaCores(CudaCall call, long x, long y, long rows, HadamardSize size, Tensor in, Tensor out,
                                 float scale, boolean transpose, long pre, long post) {
        HadamardLaunch launch = HadamardLaunch.of(size, rows, in.dtype());
        if (!launch.fits(device.maxSharedPerBlockOptin())) {
            throw new UnsupportedOperationException("the CUDA Hadamard kernel needs " + launch.dynamicSmemBytes()
                    + " bytes of shared memory for " + size + "; " + device.name() + " allows "
                    + device.maxSharedPerBlockOptin() + " per block");
        }
        long hm = call.upload(HadamardLaunch.matrixArgument(size.m()));
        call.params()
                .pointer(x).pointer(y)
                .i64(rows).i64(in.rowStride()).i64(out.rowStride())
                .i32(size.d()).i32(size.m()).i32(size.log2n())
                .f32(scale).i32(transpose ? 1 : 0)
                .pointer(hm).pointer(pre).pointer(post);
        call.launch(device.function(launch.kernel().symbol()), launch.gridX(), 1, 1, launch.blockX(), 1, 1,
                launch.dynamicSmemBytes());
    }

    @Override
    public String toString() {
        return "CudaHadamardKernel on " + device;
    }
}
