package org.offload4j.hadamard;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * The fast Hadamard transform along the last dimension of a tensor.
 *
 * <p><b>What it computes.</b> For every row {@code x} of {@code in} (a tensor of any rank whose
 * last dimension is {@code d}; the leading dimensions are the rows),
 * {@link #transform(Tensor, Tensor, float) transform} writes {@code y = scale · x · H_d} to the
 * same row of {@code out}, and {@link #inverse(Tensor, Tensor, float) inverse} writes
 * {@code y = scale · x · H_dᵀ}. {@code H_d = H_m ⊗ H_n} is the {@code d × d} ±1 Hadamard matrix
 * of {@link HadamardSize} and {@link HadamardMatrices}: Sylvester's (natural order,
 * {@code H[i][j] = (−1)^popcount(i & j)}) for {@code d = 2^k}, and the Kronecker product of a fixed
 * {@code H_m}, {@code m ∈ {12, 20, 28, 40}}, with Sylvester's {@code H_n} otherwise (row element
 * {@code i = a·n + b}). Since {@code H_d · H_dᵀ = d · I}, the default scale {@code 1/√d} makes the
 * transform orthonormal and {@code inverse} its exact inverse (up to rounding). For powers of two
 * and for {@code m = 28} {@code H_d} is symmetric and both methods compute the same thing.
 *
 * <p><b>Accepted input.</b>
 * <ul>
 *   <li>{@code in} and {@code out}: open tensors on the same device (host memory, or the
 *       backend's own device: a GPU tensor given to the CPU backend is refused), dtype FP32, BF16 or FP16,
 *       {@code out} writable and of the same dtype and shape as {@code in}; any row stride.</li>
 *   <li>{@code d}: {@value HadamardSize#MAX_D} at most, a power of two ≥ 2, or {@code m · 2^k} with
 *       {@code m ∈ {12, 20, 28, 40}} ({@link HadamardSize#ACCEPTED}).</li>
 *   <li>{@code scale}: finite (default {@link #defaultScale(int) 1/√d}).</li>
 *   <li>Memory: {@code out} is either the same storage as {@code in} (same bytes, same row
 *       stride: in place) or shares no byte with it; a partial overlap is rejected.</li>
 * </ul>
 * Everything is checked before any work; a violation throws {@link IllegalArgumentException}
 * naming the argument, what was given and what is accepted, and {@code out} is left untouched.
 *
 * <p><b>Numerics.</b> Inputs are widened exactly to fp32, all sums are accumulated in fp32, and
 * each output is rounded once to the output dtype (round to nearest, ties to even; NaN stays NaN,
 * overflow becomes infinity). Relative L2 error against the float64 reference
 * ({@link HadamardReference}) is within 4e-3 for bf16, 1e-3 for fp16 and 1e-6 for fp32 (the
 * final rounding dominates for the 16-bit types).
 *
 * <p>An instance holds the backend chosen at creation and is safe for concurrent use.
 */
public final class Hadamard {
    private static final Set<DType> DTYPES = EnumSet.of(DType.FP32, DType.BF16, DType.FP16);

    private final Backend backend;
    private final HadamardKernel kernel;

    private Hadamard(Backend backend, HadamardKernel kernel) {
        this.backend = backend;
        this.kernel = kernel;
    }

    /**
     * The transform on the default backend: the forced one ({@code -Doffload.backend=…}), else the
     * highest-priority available backend that implements {@link HadamardKernel}.
     *
     * @throws org.offload4j.core.BackendUnavailableException when no backend can run it
     */
    public static Hadamard create() {
        Backends.Selected<HadamardKernel> s = Backends.kernelsFor(HadamardKernel.class);
        return new Hadamard(s.backend(), s.kernels());
    }

    /**
     * The transform on the given backend.
     *
     * @throws IllegalArgumentException when {@code backend} is null
     * @throws org.offload4j.core.BackendUnavailableException when it does not implement the op
     */
    public static Hadamard create(Backend backend) {
        Args.notNull(backend, "backend");
        Backends.Selected<HadamardKernel> s = Backends.kernelsFrom(backend, HadamardKernel.class);
        return new Hadamard(s.backend(), s.kernels());
    }

    /** The backend that runs the transforms. */
    public Backend backend() {
        return backend;
    }

    /** {@code 1/√d} rounded to float: the scale that makes the transform orthonormal. */
    public static float defaultScale(int d) {
        return (float) (1.0 / Math.sqrt(d));
    }

    /** {@code out = in · H_d / √d} row by row (orthonormal); see the class description. */
    public void transform(Tensor in, Tensor out) {
        HadamardSize size = check(in, out);
        run(in, out, size, defaultScale(size.d()), false, null, null);
    }

    /** {@code out = scale · in · H_d} row by row; see the class description. */
    public void transform(Tensor in, Tensor out, float scale) {
        HadamardSize size = check(in, out);
        Args.finite(scale, "scale");
        run(in, out, size, scale, false, null, null);
    }

    /** {@code out = in · H_dᵀ / √d} row by row: the exact inverse of {@link #transform(Tensor, Tensor)}. */
    public void inverse(Tensor in, Tensor out) {
        HadamardSize size = check(in, out);
        run(in, out, size, defaultScale(size.d()), true, null, null);
    }

    /** {@code out = scale · in · H_dᵀ} row by row; see the class description. */
    public void inverse(Tensor in, Tensor out, float scale) {
        HadamardSize size = check(in, out);
        Args.finite(scale, "scale");
        run(in, out, size, scale, true, null, null);
    }

    /**
     * Rotates and quantizes to FP8 E4M3 in one call, the way Q and K are prepared for FP8
     * attention: for every row {@code y = x · H_d / √d}, kept in fp32 (never rounded to
     * {@code in}'s dtype); then for every group of {@code rowsPerScale} consecutive rows
     * {@code s = max(amax|y| / 448, Float.MIN_NORMAL)} (1 for an all-zero group), {@code out = e4m3(y / s)} (round to
     * nearest even, saturating) and {@code scales[g] = s}, so that {@code out · s} dequantizes.
     * {@code rowsPerScale = rows} gives one scale per tensor; the sequence length of a
     * {@code [B, H, S, D]} tensor gives one per (batch, head), as the attention op's
     * {@code PER_HEAD} scales.
     *
     * <p>Backends with a fused kernel ({@link HadamardFp8Kernel}: CUDA, for bf16 and fp16 rows of
     * d = 2^k ≥ 4) read the input twice (once for the amax, once to quantize) and write one byte
     * per element; others transform into a temporary fp32 tensor and quantize on the host. NaN or
     * ±∞ in a group make its scale non-finite.
     *
     * @param in           FP32, BF16 or FP16, last dimension an accepted size, any row stride
     * @param out          FP8_E4M3FN, the shape of {@code in}, disjoint from {@code in}; host tensors
     *                     any row stride (outputs the fused CUDA kernel cannot take go through the
     *                     composite path); device tensors only what the fused kernel takes (bf16 or
     *                     fp16 rows of d = 2^k ≥ 4, out's row stride and address multiples of 4), else
     *                     {@code UnsupportedOperationException}
     * @param scales       FP32 with {@code rows / rowsPerScale} elements, contiguous, disjoint from both
     * @param rowsPerScale ≥ 1 and dividing the row count of {@code in}
     */
    public void transformToFp8(Tensor in, Tensor out, Tensor scales, long rowsPerScale) {
        Args.live(in, "in");
        Args.live(out, "out");
        Args.live(scales, "scales");
        Args.dtype(in, "in", DTYPES);
        Args.dtype(out, "out", EnumSet.of(DType.FP8_E4M3FN));
        Args.dtype(scales, "scales", EnumSet.of(DType.FP32));
        if (!Arrays.equals(in.shape(), out.shape())) {
            throw new IllegalArgumentException("out has shape " + Arrays.toString(out.shape())
                    + "; expected the shape of in, " + Arrays.toString(in.shape()));
        }
        long d = in.cols();
        if (!HadamardSize.isSupported(d)) {
            throw new IllegalArgumentException("in has last dimension d = " + d + ", not a supported Hadamard size; accepted: "
                    + HadamardSize.ACCEPTED);
        }
        Args.writable(out, "out");
        Args.writable(scales, "scales");
        long rows = in.rows();
        if (rowsPerScale < 1 || (rows > 0 && rows % rowsPerScale != 0)) {
            throw new IllegalArgumentException("rowsPerScale = " + rowsPerScale + " must be ≥ 1 and divide the " + rows
                    + " rows of in");
        }
        long groups = rows == 0 ? 0 : rows / rowsPerScale;
        if (scales.elementCount() != groups || !scales.isContiguous()) {
            throw new IllegalArgumentException("scales (" + scales.describe() + ") must be contiguous with " + groups
                    + " elements, one per group of " + rowsPerScale + " rows");
        }
        Args.sameDevice(in, "in", out, "out");
        Args.sameDevice(in, "in", scales, "scales");
        Args.reachable(backend, in, "in");
        Args.disjoint(in, "in", out, "out");
        Args.disjoint(in, "in", scales, "scales");
        Args.disjoint(out, "out", scales, "scales");
        if (rows == 0) {
            return;
        }
        HadamardSize size = HadamardSize.of((int) d);
        fp8Kernel().transformToFp8(in, out, scales, size, defaultScale(size.d()), rowsPerScale);
    }

    private HadamardFp8Kernel fp8Kernel() {
        return backend.kernels(HadamardFp8Kernel.class).orElseGet(() -> HadamardFp8Kernel.composite(kernel));
    }

    /**
     * Every check on the tensors (not on the scale); returns the size plan of their last
     * dimension. Package-private for {@link RandomizedRotation}, which then calls {@link #run}.
     */
    HadamardSize check(Tensor in, Tensor out) {
        Args.live(in, "in");
        Args.live(out, "out");
        Args.writable(out, "out");
        Args.dtype(in, "in", DTYPES);
        if (out.dtype() != in.dtype()) {
            throw new IllegalArgumentException("out has dtype " + out.dtype() + "; expected the dtype of in, " + in.dtype());
        }
        if (!Arrays.equals(in.shape(), out.shape())) {
            throw new IllegalArgumentException("out has shape " + Arrays.toString(out.shape())
                    + "; expected the shape of in, " + Arrays.toString(in.shape()));
        }
        Args.sameDevice(in, "in", out, "out");
        Args.reachable(backend, in, "in");
        long d = in.cols();
        if (!HadamardSize.isSupported(d)) {
            throw new IllegalArgumentException("in has last dimension d = " + d + " (shape "
                    + Arrays.toString(in.shape()) + "), not a supported Hadamard size; accepted: " + HadamardSize.ACCEPTED);
        }
        Args.inPlaceOrDisjoint(in, "in", out, "out");
        return HadamardSize.of((int) d);
    }

    /** Runs a checked call; the sign arrays, when present, have {@code size.d()} elements. */
    void run(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose, float[] preSigns, float[] postSigns) {
        if (in.rows() == 0) {
            return;
        }
        kernel.transform(in, out, size, scale, transpose, preSigns, postSigns);
    }

    @Override
    public String toString() {
        return "Hadamard on " + backend.name();
    }
}
