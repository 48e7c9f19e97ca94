package org.offload4j.cuda.attention;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;

/**
 * {@link AttentionKernel} on a CUDA GPU: one launch of {@code o4j_attention_fp8_fwd_d{D}}
 * ({@code attention.cu}, launch contract in {@link AttentionLaunch}). Host tensors are staged
 * through device memory by {@link CudaCall}; device tensors are used in place.
 *
 * <p>The kernel reads fp8 rows with 32-bit loads and stores bf16 pairs: a host input whose row
 * stride is not a multiple of 4 bytes, or a host output whose row stride is odd, goes through a
 * contiguous host copy first (for a KV cache with free slots, of K's and V's filled keys only);
 * such a device tensor is refused ({@link UnsupportedOperationException}), as is never the case
 * for tensors from {@link CudaDevice#allocateTensor}.
 *
 * <p>KV caches ({@code kvLen < kvCapacity}) on the host: the kernel reads only the filled keys
 * of each head, so where that saves enough ({@link #stageFilledKeysOnly}) K and V go to the
 * device as those prefixes, one copy per head, packed as a cache of capacity {@code kvLen};
 * otherwise whole, in one copy each. Device-resident caches are used in place.
 */
public final class CudaAttentionKernel implements AttentionKernel {
    /**
     * The bytes a copy per head must save to be worth its call: a host-to-device copy call costs
     * some microseconds, in which PCIe moves tens of KiB; below this, one copy of the whole cache
     * is as fast. Not measured on a GPU yet; an estimate.
     */
    static final long MIN_SAVED_BYTES_PER_COPY = 64 << 10;

    private final CudaDevice device;

    public CudaAttentionKernel(CudaDevice device) {
        this.device = device;
    }

    @Override
    public void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal, float softmaxScale,
                        Tensor out, Tensor lse) {
        if (shape.qLen() == 0) {
            return;
        }
        AttentionLaunch launch = AttentionLaunch.of(shape);
        try (Arena temps = Arena.ofConfined()) {   // contiguous copies, only for misaligned strides
            run(launch, shape, q, k, v, causal, softmaxScale, out, lse, temps);
        }
    }

    private void run(AttentionLaunch launch, AttentionShape requested, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal,
                     float softmaxScale, Tensor out, Tensor lse, Arena temps) {
        Tensor qd = alignedInput(q.data(), "q.data", temps);
        // A misaligned host cache gets a host copy anyway: of the filled keys only, for K and V both
        // (one kv_cap), so both must be host caches; a device cache is used in place or refused by
        // alignedInput, under its own name.
        boolean compacted = requested.kvLen() < requested.kvCapacity() && onHost(k.data()) && onHost(v.data())
                && (!aligned(k.data()) || !aligned(v.data()));
        AttentionShape shape = compacted ? new AttentionShape(requested.batch(), requested.qHeads(), requested.kvHeads(),
                requested.qLen(), requested.kvLen(), requested.headDim()) : requested;
        Tensor kd = compacted ? filledKeys(k.data(), "k.data", shape, temps) : alignedInput(k.data(), "k.data", temps);
        Tensor vd = compacted ? filledKeys(v.data(), "v.data", shape, temps) : alignedInput(v.data(), "v.data", temps);
        Tensor outDev = out;
        if (!AttentionLaunch.outputStrideOk(out.rowStride()) || !baseAligned(out)) {
            requireHost(out, "out");
            outDev = Tensor.allocate(temps, out.dtype(), out.shape());
        }
        long kStride = kd.dtype().byteSize(kd.rowStride());
        long vStride = vd.dtype().byteSize(vd.rowStride());
        boolean oneCache = kd.sameStorage(vd); // K and V the same bytes: staged once either way
        boolean filledOnly = kd.device().hostAddressable() && vd.device().hostAddressable()
                && stageFilledKeysOnly(shape, kStride, oneCache ? 0 : vStride);
        AttentionShape launched = filledOnly
                ? new AttentionShape(shape.batch(), shape.qHeads(), shape.kvHeads(), shape.qLen(), shape.kvLen(), shape.headDim())
                : shape;
        long heads = (long) shape.batch() * shape.kvHeads();
        try (CudaCall call = CudaCall.begin(device)) {
            long qa = call.in(qd);
            long ka = filledOnly ? call.inBlocks(kd, heads, shape.kvLen() * kStride, shape.kvCapacity() * kStride) : call.in(kd);
            long va = oneCache ? ka
                    : filledOnly ? call.inBlocks(vd, heads, shape.kvLen() * vStride, shape.kvCapacity() * vStride) : call.in(vd);
            long qs = call.in(q.scales());
            long ks = call.in(k.scales());
            long vs = call.in(v.scales());
            long oa = call.out(outDev);
            long la = call.outOrNull(lse);
            AttentionLaunch.params(call.params(), launched, qa, qd.rowStride(), ka, kd.rowStride(), va, vd.rowStride(),
                    qs, AttentionLaunch.scaleStrides(q.scales()),
                    ks, AttentionLaunch.scaleStrides(k.scales()),
                    vs, AttentionLaunch.scaleStrides(v.scales()),
                    oa, outDev.rowStride(), la, lse == null ? 0 : lse.rowStride(), causal, softmaxScale);
            call.launch(device.function(launch.kernel()), launch.gridX(), 1, 1, launch.blockX(), 1, 1,
                    launch.sharedBytes());
            call.finish();
        }
        if (outDev != out) {
            copyRows(outDev, out);
        }
    }

    /**
     * Whether host K and V (row strides in bytes) go to the device as the filled keys of each
     * head only: {@code B·Hkv} copies each instead of one, worth it when the bytes they leave
     * out come to at least {@link #MIN_SAVED_BYTES_PER_COPY} per added copy; an empty cache is
     * not copied at all. A head's block is
     * {@code kvLen} row strides from its first key, so it ends inside the cache while
     * {@code kvLen < kvCapacity}. {@code vStrideBytes = 0} means that V is K's own storage, staged
     * with it (one set of copies).
     */
    static boolean stageFilledKeysOnly(AttentionShape shape, long kStrideBytes, long vStrideBytes) {
        long free = shape.kvCapacity() - shape.kvLen();
        if (free == 0) {
            return false;
        }
        if (shape.kvLen() == 0) {
            return true; // blocks of 0 bytes: no copy at all
        }
        long heads = (long) shape.batch() * shape.kvHeads();
        long caches = vStrideBytes == 0 ? 1 : 2;
        long saved = heads * free * (kStrideBytes + vStrideBytes);
        return saved >= caches * (heads - 1) * MIN_SAVED_BYTES_PER_COPY;
    }

    private static Tensor alignedInput(Tensor t, String name, Arena temps) {
        if (aligned(t)) {
            return t;
        }
        requireHost(t, name);
        Tensor copy = Tensor.allocate(temps, t.dtype(), t.shape());
        copyRows(t, copy);
        return copy;
    }

    private static boolean onHost(Tensor t) {
        return t.device().hostAddressable();
    }

    private static boolean aligned(Tensor t) {
        return AttentionLaunch.inputStrideOk(t.dtype().byteSize(t.rowStride())) && baseAligned(t);
    }

    /**
     * A contiguous host copy {@code [B, Hkv, kvLen, D]} of the first {@code kvLen} keys of each
     * head of the cache {@code t} ({@code [B, Hkv, C, D]} with {@code C = cache.dim(2)}).
     */
    private static Tensor filledKeys(Tensor t, String name, AttentionShape compact, Arena temps) {
        requireHost(t, name);
        long heads = (long) compact.batch() * compact.kvHeads();
        long capacity = t.dim(2);
        long kvLen = compact.kvLen();
        Tensor copy = Tensor.allocate(temps, t.dtype(), compact.batch(), compact.kvHeads(), kvLen, compact.headDim());
        long rowBytes = t.dtype().byteSize(t.cols());
        MemorySegment s = t.segment();
        MemorySegment d = copy.segment();
        for (long h = 0; h < heads; h++) {
            for (long j = 0; j < kvLen; j++) {
                MemorySegment.copy(s, t.rowByteOffset(h * capacity + j), d, copy.rowByteOffset(h * kvLen + j), rowBytes);
            }
        }
        return copy;
    }

    /**
     * Whether the kernel may use the tensor's first element as it is: host tensors are staged
     * into aligned scratch, a device tensor's own address must be a multiple of 4 (the kernel's
     * 32-bit loads and stores; an unaligned one faults and poisons the context).
     */
    private static boolean baseAligned(Tensor t) {
        return t.device().hostAddressable() || t.deviceAddress() % 4 == 0;
    }

    private static void requireHost(Tensor t, String name) {
        if (!t.device().hostAddressable()) {
            throw new UnsupportedOperationException(name + " is a device tensor with row stride " + t.rowStride()
                    + " at address 0x" + Long.toHexString(t.deviceAddress()) + "; the CUDA attention kernel needs fp8 row "
                    + "strides that are multiples of 4, even bf16 ones, and addresses that are multiples of 4");
        }
    }

    private static void copyRows(Tensor src, Tensor dst) {
        long rowBytes = src.dtype().byteSize(src.cols());
        MemorySegment s = src.segment();
        MemorySegment d = dst.segment();
        for (long r = 0; r < src.rows(); r++) {
            MemorySegment.copy(s, src.rowByteOffset(r), d, dst.rowByteOffset(r), rowBytes);
        }
    }

    @Override
    public String toString() {
        return "CudaAttentionKernel on " + device;
    }
}
