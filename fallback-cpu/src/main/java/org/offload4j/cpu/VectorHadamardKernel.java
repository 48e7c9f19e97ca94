package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;

/**
 * The Hadamard transform on the CPU: rows spread over {@link CpuThreads}, each row transformed
 * in a per-thread fp32 scratch row with {@link FloatVector} butterflies at the preferred width.
 *
 * <h2>Data flow of one row ({@code d = m·n}, {@code n = 2^k}, V floats per vector, {@code nv = n/V})</h2>
 * <pre>
 *  in row (fp32 | bf16 | fp16)                        scratch: float[2d] per thread, reused
 *  ───────────────────────────                        ─────────────────────────────────────
 *  LOAD pass   widen, ⊙ preSigns, the log2(V) lane     z[a·n + q]   one block of n per a < m
 *              stages (permute + fma), 3 vector
 *              stages in registers ─────────────────▶
 *  MID passes  3 vector stages per pass (radix 8)      in place, block by block; passes that
 *              on 8 vectors held in registers          stay inside 16 KiB run sub-block by
 *                                                      sub-block, so they hit L1
 *  m = 1:  STORE pass  last ≤ 3 stages, × scale (⊙ postSigns), round once, store ──▶ out row
 *  m > 1:  MIX pass    y[a'] = Σ_a ±z[a] over the m blocks, 2 column vectors at a time,
 *                      × scale (⊙ postSigns), round once, store ──────────────────▶ out row
 * </pre>
 * Every pass keeps 8 vectors in registers, so a row of {@code 2^k} floats costs about
 * {@code (k − log2 V) / 3} trips through L1 plus the load and the store: 3 for {@code d = 4096}
 * at V = 8. The butterflies of different bits commute, so a pass may take any three index bits;
 * the plan ({@link Plan}) picks them so that the load and the store passes see the vectors they
 * need together.
 *
 * <h2>Layouts</h2>
 * <ul>
 *   <li><b>fp32</b>: scratch position = element index; vectors load and store straight from and to
 *       the tensor memory.</li>
 *   <li><b>bf16 ("paired")</b>: one {@link IntVector} load takes 2V bf16 values; the even elements
 *       are {@code int << 16}, the odd ones {@code int & 0xFFFF0000} (little-endian), two lane-wise
 *       ops instead of a cross-lane widening. The scratch keeps them as they fall: within each chunk
 *       of 2V elements, element {@code 2l + p} sits at position {@code V·p + l}. That is a
 *       permutation of the index bits, and {@code H_n[π(i)][π(j)] = H_n[i][j]} for any bit
 *       permutation {@code π}, so the transform of the permuted row is the permuted transform: the
 *       store pass undoes it for free by pairing the two vectors back into one int store (rounding:
 *       {@code bits + 0x7FFF + lsb}, NaN quieted, as {@code Bf16.fromFloat}). The sign vectors are
 *       permuted the same way once per call. The store pass must therefore hold vectors {@code 2c}
 *       and {@code 2c+1} together (vector-index bit 0), and the load pass takes bits 1–3 instead,
 *       reading each chunk twice (once for its even, once for its odd half; the second read hits
 *       L1).</li>
 *   <li><b>fp16</b>, and any tensor whose memory the Vector API cannot address (a heap segment not
 *       backed by {@code byte[]}): a scalar loop widens the row into the scratch with
 *       {@code Float.float16ToFloat} (HotSpot's F16C intrinsic) and narrows it back with
 *       {@code Float.floatToFloat16} after the vector passes.</li>
 * </ul>
 *
 * <h2>The m-point stage</h2>
 * For {@code m ∈ {12, 20, 28}} the MIX pass computes, for each pair of column vectors, every
 * output block as a ±1 combination of the {@code m} input blocks (fma with a broadcast ±1: no
 * branch on the sign), {@code m} fmas per output vector. {@code H_40 = H_2 ⊗ H_20} is done as a
 * 20-point stage on each half and one butterfly between them, 21 instead of 40 operations per
 * output. Sizes with {@code n < 2V} (d ≤ 320 at V = 8) take a plain scalar path.
 *
 * <h2>Rejected alternatives</h2>
 * <ul>
 *   <li>Widening bf16 with {@code ShortVector → IntVector} conversion and narrowing with I2S:
 *       cross-lane shuffles on both sides; the paired layout needs only shifts and masks.</li>
 *   <li>One pass per butterfly stage over the scratch: 12 trips through L1 for {@code d = 4096}
 *       instead of 3, load/store bound.</li>
 *   <li>A transpose so that the lane stages become vector stages: an 8×8 transpose costs about as
 *       many shuffles as the three permute+fma lane stages it would remove.</li>
 *   <li>Branching on the sign of each ±1 in the m-point stage: the pattern is too long for the
 *       branch predictor; an fma with a broadcast sign costs the same as an add.</li>
 * </ul>
 *
 * <p>Each call allocates only its plan and, when signs are given, their permuted copies; rows
 * allocate nothing. Arguments are assumed valid ({@link org.offload4j.hadamard.Hadamard} checks them).
 */
final class VectorHadamardKernel implements HadamardKernel {
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final int V = F.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    /** Where the first of two bf16 values sits in the int that holds both. */
    private static final boolean LITTLE = NATIVE == ByteOrder.LITTLE_ENDIAN;
    private static final int HI = 0xFFFF0000;

    /** Lane-stage shuffles ({@code i ↦ i ^ s}) and signs ({@code −1} where bit s of the lane is set). */
    private static final VectorShuffle<Float> SH1 = swap(1);
    private static final VectorShuffle<Float> SH2 = swap(2);
    private static final VectorShuffle<Float> SH4 = swap(4);
    private static final VectorShuffle<Float> SH8 = swap(8);
    private static final FloatVector SG1 = laneSigns(1);
    private static final FloatVector SG2 = laneSigns(2);
    private static final FloatVector SG4 = laneSigns(4);
    private static final FloatVector SG8 = laneSigns(8);

    /** The vector path is written for 4 to 16 lanes (SSE/NEON, AVX2, AVX-512); wider shapes run scalar. */
    private static final boolean VECTOR_LANES_OK = V >= 4 && V <= 16;

    /** Passes that stay within this many floats (16 KiB, half an L1) run sub-block by sub-block. */
    private static final int L1_FLOATS = 4096;

    /** At least this many elements per task, so that small calls do not pay for a fork. */
    private static final long MIN_TASK_ELEMENTS = 1 << 15;

    private static final ThreadLocal<float[]> SCRATCH = new ThreadLocal<>();

    /** The ±1 tables of the m-point stages: [m][transpose ? 1 : 0], row ao holds output ao's coefficients. */
    private static final float[][][] MIX = new float[41][][];

    static {
        for (int m : new int[] {12, 20, 28, 40}) {
            int[][] h = HadamardMatrices.of(m);
            MIX[m] = new float[][] {coefficients(h, false), coefficients(h, true)};
        }
    }

    private static VectorShuffle<Float> swap(int s) {
        return s < V ? VectorShuffle.fromOp(F, i -> i ^ s) : null;
    }

    private static FloatVector laneSigns(int s) {
        float[] v = new float[V];
        for (int i = 0; i < V; i++) {
            v[i] = (i & s) == 0 ? 1f : -1f;
        }
        return FloatVector.fromArray(F, v, 0);
    }

    /** {@code c[ao·m + a]}: the factor of input block a in output block ao. */
    private static float[] coefficients(int[][] h, boolean transpose) {
        int m = h.length;
        float[] c = new float[m * m];
        for (int ao = 0; ao < m; ao++) {
            for (int a = 0; a < m; a++) {
                c[ao * m + a] = transpose ? h[ao][a] : h[a][ao];
            }
        }
        return c;
    }

    @Override
    public void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                          float[] preSigns, float[] postSigns) {
        Plan plan = new Plan(in, out, size, scale, transpose, preSigns, postSigns);
        int d = size.d();
        MemorySegment src = in.segment();
        MemorySegment dst = out.segment();
        CpuThreads.forRange(in.rows(), Math.max(1, MIN_TASK_ELEMENTS / d), (from, to) -> {
            float[] buf = scratch(2 * d);
            for (long r = from; r < to; r++) {
                plan.row(src, in.rowByteOffset(r), dst, out.rowByteOffset(r), buf);
            }
        });
    }

    private static float[] scratch(int floats) {
        float[] b = SCRATCH.get();
        if (b == null || b.length < floats) {
            b = new float[Math.max(floats, 2 * L1_FLOATS)];
            SCRATCH.set(b);
        }
        return b;
    }

    /** True when the Vector API can load from and store to the segment. */
    private static boolean vectorAddressable(MemorySegment s) {
        return s.isNative() || s.heapBase().map(o -> o instanceof byte[]).orElse(false);
    }

    // ---- where a vector comes from and goes to ----

    /** Vectors load from / store to fp32 tensor memory. */
    private static final int KIND_F32 = 0;
    /** Vectors load from / store to bf16 tensor memory in the paired layout. */
    private static final int KIND_BF16 = 1;
    /** Vectors load from / store to the scratch; scalar loops convert to and from the tensor. */
    private static final int KIND_BUF = 2;

    /** The plan of one call: layout, kinds, passes, signs. Immutable, shared by the worker threads. */
    private static final class Plan {
        final DType dtype;
        final int d;
        final int m;
        final int n;
        final int nv;
        final boolean vector;
        final int loadKind;
        final int storeKind;
        final float scale;
        /** Pre-signs in scratch layout, or null. */
        final float[] pre;
        /** Post-signs times scale in scratch layout, or null (then the scale is applied alone). */
        final float[] postScaled;
        /** Natural-layout copies for the scalar path. */
        final float[] preNatural;
        final float[] postNatural;
        /** m-point stage: the base order (20 for m = 40), whether an outer H_2 follows, the ±1 table. */
        final int mi;
        final boolean outer2;
        final float[] mix;
        final float[] mixFull;
        /** Passes before the store/mix: run per sub-block of {@code localVectors} vectors, then over the block. */
        final Pass[] local;
        final Pass[] global;
        final int localVectors;
        /** The STORE pass when m = 1. */
        final Pass last;

        Plan(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose, float[] preSigns, float[] postSigns) {
            this.dtype = in.dtype();
            this.d = size.d();
            this.m = size.m();
            this.n = size.n();
            this.nv = n / V;
            this.scale = scale;
            this.vector = VECTOR_LANES_OK && nv >= 2;
            boolean inVec = vectorAddressable(in.segment());
            boolean outVec = vectorAddressable(out.segment());
            boolean paired = vector && dtype == DType.BF16 && inVec && outVec;
            if (!vector || dtype == DType.FP16 || (dtype == DType.BF16 && !paired)) {
                loadKind = KIND_BUF;
                storeKind = KIND_BUF;
            } else if (dtype == DType.BF16) {
                loadKind = KIND_BF16;
                storeKind = KIND_BF16;
            } else {
                loadKind = inVec ? KIND_F32 : KIND_BUF;
                storeKind = outVec ? KIND_F32 : KIND_BUF;
            }
            this.preNatural = preSigns;
            this.postNatural = postSigns;
            this.pre = preSigns == null ? null : paired ? toPaired(preSigns, 1f) : preSigns;
            if (postSigns == null) {
                this.postScaled = null;
            } else {
                float[] p = paired ? toPaired(postSigns, scale) : postSigns.clone();
                if (!paired) {
                    for (int i = 0; i < p.length; i++) {
                        p[i] *= scale;
                    }
                }
                this.postScaled = p;
            }
            this.outer2 = m == 40;
            this.mi = outer2 ? 20 : m;
            this.mix = m == 1 ? null : MIX[mi][transpose ? 1 : 0];
            this.mixFull = m == 1 ? null : MIX[m][transpose ? 1 : 0];

            List<Pass> passes = new ArrayList<>();
            Pass store = null;
            if (vector) {
                int s = Integer.numberOfTrailingZeros(nv);
                List<Integer> rest = new ArrayList<>();
                if (s < 3) {
                    passes.add(new Pass(Pass.LOAD1, 0, 0, 0));
                    for (int b = 0; b < s; b++) {
                        rest.add(b);
                    }
                } else {
                    int first = paired && s >= 4 ? 1 : 0;
                    passes.add(new Pass(Pass.LOAD8, 1 << first, 2 << first, 4 << first));
                    for (int b = 0; b < s; b++) {
                        if (b < first || b > first + 2) {
                            rest.add(b);
                        }
                    }
                }
                if (m == 1) {
                    // The store pass takes the highest remaining bits; in the paired layout it must also
                    // hold bit 0, so that vectors 2c and 2c+1 meet again for the int store.
                    List<Integer> storeBits = new ArrayList<>();
                    if (paired && rest.contains(0)) {
                        storeBits.add(0);
                        rest.remove(Integer.valueOf(0));
                    }
                    int keepFirst = storeBits.size();
                    while (storeBits.size() < 3 && !rest.isEmpty()) {
                        storeBits.add(keepFirst, rest.removeLast()); // stays ascending
                    }
                    store = storeBits.isEmpty() ? new Pass(Pass.STORE0, 1, 0, 0) : Pass.of(Pass.STORE2, storeBits);
                }
                for (int i = 0; i < rest.size(); i += 3) {
                    passes.add(Pass.of(Pass.MID2, rest.subList(i, Math.min(rest.size(), i + 3))));
                }
            }
            this.last = store;
            int lv = Math.max(1, Math.min(nv, L1_FLOATS / V));
            int split = 0;
            while (split < passes.size() && passes.get(split).span() <= lv) {
                split++;
            }
            this.localVectors = lv;
            this.local = passes.subList(0, split).toArray(new Pass[0]);
            this.global = passes.subList(split, passes.size()).toArray(new Pass[0]);
        }

        /** {@code natural} permuted into the paired layout, times {@code factor}. */
        private float[] toPaired(float[] natural, float factor) {
            float[] p = new float[natural.length];
            for (int q = 0; q < p.length; q++) {
                int chunk = q / (2 * V);
                int r = q % (2 * V);
                int i = chunk * 2 * V + 2 * (r % V) + r / V;
                p[q] = natural[i] * factor;
            }
            return p;
        }

        /** One row: {@code src + srcOff → dst + dstOff}, through {@code buf} ({@code ≥ 2d} floats). */
        void row(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, float[] buf) {
            if (loadKind == KIND_BUF) {
                widen(src, srcOff, buf);
            }
            if (!vector) {
                scalarRow(buf);
                narrow(buf, 0, dst, dstOff);
                return;
            }
            for (int a = 0; a < m; a++) {
                int block = a * nv;
                for (int sub = 0; sub < nv; sub += localVectors) {
                    for (Pass p : local) {
                        run(p, src, srcOff, buf, block + sub, localVectors);
                    }
                }
                for (Pass p : global) {
                    run(p, src, srcOff, buf, block, nv);
                }
                if (m == 1) {
                    store(last, buf, 0, dst, dstOff);
                }
            }
            if (m > 1) {
                if (outer2) {
                    mix40(buf, dst, dstOff);
                } else {
                    mix(buf, dst, dstOff);
                }
            }
            if (storeKind == KIND_BUF) {
                narrow(buf, m > 1 ? d : 0, dst, dstOff);
            }
        }

        private void run(Pass p, MemorySegment src, long srcOff, float[] buf, int base, int count) {
            switch (p.type) {
                case Pass.LOAD1 -> load1(src, srcOff, buf, base, count);
                case Pass.LOAD8 -> load8(src, srcOff, buf, base, count, p.o1, p.o2, p.o3);
                case Pass.MID2 -> mid2(buf, base, count, p.o1);
                case Pass.MID4 -> mid4(buf, base, count, p.o1, p.o2);
                case Pass.MID8 -> mid8(buf, base, count, p.o1, p.o2, p.o3);
                default -> throw new AssertionError(p.type);
            }
        }

        private void store(Pass p, float[] buf, int base, MemorySegment dst, long dstOff) {
            switch (p.type) {
                case Pass.STORE0 -> store0(buf, dst, dstOff);
                case Pass.STORE2 -> store2(buf, dst, dstOff, p.o1);
                case Pass.STORE4 -> store4(buf, dst, dstOff, p.o1, p.o2);
                case Pass.STORE8 -> store8(buf, dst, dstOff, p.o1, p.o2, p.o3);
                default -> throw new AssertionError(p.type);
            }
        }

        // ---- loads: widen, pre-signs, lane stages ----

        /** Vector at scratch position {@code pos} of the row, widened to fp32, times the pre-signs. */
        private FloatVector load(MemorySegment src, long srcOff, float[] buf, int pos) {
            FloatVector x = switch (loadKind) {
                case KIND_F32 -> FloatVector.fromMemorySegment(F, src, srcOff + 4L * pos, NATIVE);
                case KIND_BF16 -> {
                    // pos = 2V·chunk + V·half; the chunk's 2V bf16 values are V ints.
                    boolean odd = (pos & V) != 0;
                    IntVector w = IntVector.fromMemorySegment(I, src, srcOff + 2L * (pos - (odd ? V : 0)), NATIVE);
                    yield (odd == LITTLE ? w.and(HI) : w.lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
                }
                default -> FloatVector.fromArray(F, buf, pos);
            };
            return pre == null ? x : x.mul(FloatVector.fromArray(F, pre, pos));
        }

        /** The log2(V) butterfly stages between the lanes of one vector. */
        private static FloatVector lanes(FloatVector x) {
            x = x.fma(SG1, x.rearrange(SH1));
            x = x.fma(SG2, x.rearrange(SH2));
            if (V >= 8) {
                x = x.fma(SG4, x.rearrange(SH4));
            }
            if (V >= 16) {
                x = x.fma(SG8, x.rearrange(SH8));
            }
            return x;
        }

        /** Load and lane stages of vectors [base, base + count), one at a time (nv < 8). */
        private void load1(MemorySegment src, long srcOff, float[] buf, int base, int count) {
            for (int j = base; j < base + count; j++) {
                lanes(load(src, srcOff, buf, j * V)).intoArray(buf, j * V);
            }
        }

        /** Load, lane stages and the stages of vector offsets o1 < o2 < o3 (in vectors) in registers. */
        private void load8(MemorySegment src, long srcOff, float[] buf, int base, int count, int o1, int o2, int o3) {
            int mask = o1 | o2 | o3;
            int a = o1 * V;
            int b = o2 * V;
            int c = o3 * V;
            for (int j = 0; j < count; j = ((j | mask) + 1) & ~mask) {
                int p = (base + j) * V;
                FloatVector v0 = lanes(load(src, srcOff, buf, p));
                FloatVector v1 = lanes(load(src, srcOff, buf, p + a));
                FloatVector v2 = lanes(load(src, srcOff, buf, p + b));
                FloatVector v3 = lanes(load(src, srcOff, buf, p + a + b));
                FloatVector v4 = lanes(load(src, srcOff, buf, p + c));
                FloatVector v5 = lanes(load(src, srcOff, buf, p + c + a));
                FloatVector v6 = lanes(load(src, srcOff, buf, p + c + b));
                FloatVector v7 = lanes(load(src, srcOff, buf, p + c + b + a));
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v4); v4 = t.sub(v4);
                t = v1; v1 = t.add(v5); v5 = t.sub(v5);
                t = v2; v2 = t.add(v6); v6 = t.sub(v6);
                t = v3; v3 = t.add(v7); v7 = t.sub(v7);
                v0.intoArray(buf, p);
                v1.intoArray(buf, p + a);
                v2.intoArray(buf, p + b);
                v3.intoArray(buf, p + a + b);
                v4.intoArray(buf, p + c);
                v5.intoArray(buf, p + c + a);
                v6.intoArray(buf, p + c + b);
                v7.intoArray(buf, p + c + b + a);
            }
        }

        // ---- middle passes on the scratch ----

        private static void mid2(float[] buf, int base, int count, int o1) {
            int a = o1 * V;
            for (int j = 0; j < count; j = ((j | o1) + 1) & ~o1) {
                int p = (base + j) * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                v0.add(v1).intoArray(buf, p);
                v0.sub(v1).intoArray(buf, p + a);
            }
        }

        private static void mid4(float[] buf, int base, int count, int o1, int o2) {
            int mask = o1 | o2;
            int a = o1 * V;
            int b = o2 * V;
            for (int j = 0; j < count; j = ((j | mask) + 1) & ~mask) {
                int p = (base + j) * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                v0.add(v2).intoArray(buf, p);
                v0.sub(v2).intoArray(buf, p + b);
                v1.add(v3).intoArray(buf, p + a);
                v1.sub(v3).intoArray(buf, p + a + b);
            }
        }

        private static void mid8(float[] buf, int base, int count, int o1, int o2, int o3) {
            int mask = o1 | o2 | o3;
            int a = o1 * V;
            int b = o2 * V;
            int c = o3 * V;
            for (int j = 0; j < count; j = ((j | mask) + 1) & ~mask) {
                int p = (base + j) * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                v0.add(v4).intoArray(buf, p);
                v0.sub(v4).intoArray(buf, p + c);
                v1.add(v5).intoArray(buf, p + a);
                v1.sub(v5).intoArray(buf, p + c + a);
                v2.add(v6).intoArray(buf, p + b);
                v2.sub(v6).intoArray(buf, p + c + b);
                v3.add(v7).intoArray(buf, p + a + b);
                v3.sub(v7).intoArray(buf, p + c + b + a);
            }
        }

        // ---- store passes: last stages, scale, round once ----

        /**
         * Scales the vectors at scratch positions {@code pe} and {@code po} and stores them; in the
         * paired layout {@code po = pe + V} and the two become one int store of 2V bf16 values.
         */
        private void put(FloatVector e, FloatVector o, int pe, int po, float[] buf, int bufBase, MemorySegment dst, long dstOff) {
            if (postScaled == null) {
                FloatVector s = FloatVector.broadcast(F, scale);
                e = e.mul(s);
                o = o.mul(s);
            } else {
                e = e.mul(FloatVector.fromArray(F, postScaled, pe));
                o = o.mul(FloatVector.fromArray(F, postScaled, po));
            }
            switch (storeKind) {
                case KIND_F32 -> {
                    e.intoMemorySegment(dst, dstOff + 4L * pe, NATIVE);
                    o.intoMemorySegment(dst, dstOff + 4L * po, NATIVE);
                }
                case KIND_BF16 -> {
                    IntVector re = bf16Bits(e);
                    IntVector ro = bf16Bits(o);
                    IntVector w = LITTLE ? re.lanewise(VectorOperators.LSHR, 16).or(ro.and(HI))
                            : ro.lanewise(VectorOperators.LSHR, 16).or(re.and(HI));
                    w.intoMemorySegment(dst, dstOff + 2L * pe, NATIVE);
                }
                default -> {
                    e.intoArray(buf, bufBase + pe);
                    o.intoArray(buf, bufBase + po);
                }
            }
        }

        /** Pairs (j, j+1) with no stage left (every bit done earlier). */
        private void store0(float[] buf, MemorySegment dst, long dstOff) {
            for (int j = 0; j < nv; j += 2) {
                int p = j * V;
                put(FloatVector.fromArray(F, buf, p), FloatVector.fromArray(F, buf, p + V), p, p + V, buf, 0, dst, dstOff);
            }
        }

        private void store2(float[] buf, MemorySegment dst, long dstOff, int o1) {
            int a = o1 * V;
            for (int j = 0; j < nv; j = ((j | o1) + 1) & ~o1) {
                int p = j * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                put(v0.add(v1), v0.sub(v1), p, p + a, buf, 0, dst, dstOff);
            }
        }

        private void store4(float[] buf, MemorySegment dst, long dstOff, int o1, int o2) {
            int mask = o1 | o2;
            int a = o1 * V;
            int b = o2 * V;
            for (int j = 0; j < nv; j = ((j | mask) + 1) & ~mask) {
                int p = j * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                put(v0.add(v2), v1.add(v3), p, p + a, buf, 0, dst, dstOff);
                put(v0.sub(v2), v1.sub(v3), p + b, p + a + b, buf, 0, dst, dstOff);
            }
        }

        private void store8(float[] buf, MemorySegment dst, long dstOff, int o1, int o2, int o3) {
            int mask = o1 | o2 | o3;
            int a = o1 * V;
            int b = o2 * V;
            int c = o3 * V;
            for (int j = 0; j < nv; j = ((j | mask) + 1) & ~mask) {
                int p = j * V;
                FloatVector v0 = FloatVector.fromArray(F, buf, p);
                FloatVector v1 = FloatVector.fromArray(F, buf, p + a);
                FloatVector v2 = FloatVector.fromArray(F, buf, p + b);
                FloatVector v3 = FloatVector.fromArray(F, buf, p + a + b);
                FloatVector v4 = FloatVector.fromArray(F, buf, p + c);
                FloatVector v5 = FloatVector.fromArray(F, buf, p + c + a);
                FloatVector v6 = FloatVector.fromArray(F, buf, p + c + b);
                FloatVector v7 = FloatVector.fromArray(F, buf, p + c + b + a);
                FloatVector t;
                t = v0; v0 = t.add(v1); v1 = t.sub(v1);
                t = v2; v2 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v5); v5 = t.sub(v5);
                t = v6; v6 = t.add(v7); v7 = t.sub(v7);
                t = v0; v0 = t.add(v2); v2 = t.sub(v2);
                t = v1; v1 = t.add(v3); v3 = t.sub(v3);
                t = v4; v4 = t.add(v6); v6 = t.sub(v6);
                t = v5; v5 = t.add(v7); v7 = t.sub(v7);
                put(v0.add(v4), v1.add(v5), p, p + a, buf, 0, dst, dstOff);
                put(v2.add(v6), v3.add(v7), p + b, p + b + a, buf, 0, dst, dstOff);
                put(v0.sub(v4), v1.sub(v5), p + c, p + c + a, buf, 0, dst, dstOff);
                put(v2.sub(v6), v3.sub(v7), p + c + b, p + c + b + a, buf, 0, dst, dstOff);
            }
        }

        /** {@code Bf16.fromFloat} on every lane: the rounded bits, bf16 in the upper half. */
        private static IntVector bf16Bits(FloatVector v) {
            IntVector bits = v.reinterpretAsInts();
            IntVector rounded = bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1).add(0x7FFF));
            VectorMask<Integer> nan = v.test(VectorOperators.IS_NAN).cast(I);
            return rounded.blend(bits.or(0x00400000), nan);
        }

        // ---- the m-point stage across blocks ----

        /** {@code y[ao] = Σ_a mix[ao][a] · z[a]} for every column pair, then scale and store. */
        private void mix(float[] buf, MemorySegment dst, long dstOff) {
            int k = mi;
            for (int col = 0; col < n; col += 2 * V) {
                for (int ao = 0; ao < k; ao++) {
                    FloatVector e = FloatVector.zero(F);
                    FloatVector o = FloatVector.zero(F);
                    int row = ao * k;
                    for (int a = 0; a < k; a++) {
                        FloatVector h = FloatVector.broadcast(F, mix[row + a]);
                        int p = a * n + col;
                        e = FloatVector.fromArray(F, buf, p).fma(h, e);
                        o = FloatVector.fromArray(F, buf, p + V).fma(h, o);
                    }
                    int q = ao * n + col;
                    put(e, o, q, q + V, buf, d, dst, dstOff);
                }
            }
        }

        /** {@code H_40 = H_2 ⊗ H_20}: the 20-point stage on both halves, then one butterfly between them. */
        private void mix40(float[] buf, MemorySegment dst, long dstOff) {
            int k = mi;
            int half = k * n;
            for (int col = 0; col < n; col += 2 * V) {
                for (int ao = 0; ao < k; ao++) {
                    FloatVector e0 = FloatVector.zero(F);
                    FloatVector o0 = FloatVector.zero(F);
                    FloatVector e1 = FloatVector.zero(F);
                    FloatVector o1 = FloatVector.zero(F);
                    int row = ao * k;
                    for (int a = 0; a < k; a++) {
                        FloatVector h = FloatVector.broadcast(F, mix[row + a]);
                        int p = a * n + col;
                        e0 = FloatVector.fromArray(F, buf, p).fma(h, e0);
                        o0 = FloatVector.fromArray(F, buf, p + V).fma(h, o0);
                        e1 = FloatVector.fromArray(F, buf, p + half).fma(h, e1);
                        o1 = FloatVector.fromArray(F, buf, p + half + V).fma(h, o1);
                    }
                    int q = ao * n + col;
                    put(e0.add(e1), o0.add(o1), q, q + V, buf, d, dst, dstOff);
                    put(e0.sub(e1), o0.sub(o1), q + half, q + half + V, buf, d, dst, dstOff);
                }
            }
        }

        // ---- scalar conversions and the scalar path ----

        /** The row widened into {@code buf[0, d)}, natural layout, no signs yet. */
        private void widen(MemorySegment src, long srcOff, float[] buf) {
            switch (dtype) {
                case FP32 -> {
                    for (int i = 0; i < d; i++) {
                        buf[i] = src.get(ValueLayout.JAVA_FLOAT_UNALIGNED, srcOff + 4L * i);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < d; i++) {
                        buf[i] = Bf16.toFloat(src.get(ValueLayout.JAVA_SHORT_UNALIGNED, srcOff + 2L * i));
                    }
                }
                default -> {
                    for (int i = 0; i < d; i++) {
                        buf[i] = Fp16.toFloat(src.get(ValueLayout.JAVA_SHORT_UNALIGNED, srcOff + 2L * i));
                    }
                }
            }
        }

        /** {@code buf[from, from + d)} rounded once into the row. */
        private void narrow(float[] buf, int from, MemorySegment dst, long dstOff) {
            switch (dtype) {
                case FP32 -> {
                    for (int i = 0; i < d; i++) {
                        dst.set(ValueLayout.JAVA_FLOAT_UNALIGNED, dstOff + 4L * i, buf[from + i]);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < d; i++) {
                        dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Bf16.fromFloat(buf[from + i]));
                    }
                }
                default -> {
                    for (int i = 0; i < d; i++) {
                        dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, dstOff + 2L * i, Fp16.fromFloat(buf[from + i]));
                    }
                }
            }
        }

        /** Small sizes (n < 2V): the whole transform in scalar fp32 on {@code buf[0, d)}. */
        private void scalarRow(float[] buf) {
            if (preNatural != null) {
                for (int i = 0; i < d; i++) {
                    buf[i] *= preNatural[i];
                }
            }
            for (int a = 0; a < m; a++) {
                for (int h = 1; h < n; h *= 2) {
                    for (int i = a * n; i < (a + 1) * n; i += 2 * h) {
                        for (int j = i; j < i + h; j++) {
                            float x = buf[j];
                            float y = buf[j + h];
                            buf[j] = x + y;
                            buf[j + h] = x - y;
                        }
                    }
                }
            }
            if (m > 1) {
                for (int ao = 0; ao < m; ao++) {
                    for (int b = 0; b < n; b++) {
                        float s = 0;
                        for (int a = 0; a < m; a++) {
                            s += mixFull[ao * m + a] * buf[a * n + b];
                        }
                        buf[d + ao * n + b] = s;
                    }
                }
                System.arraycopy(buf, d, buf, 0, d);
            }
            for (int i = 0; i < d; i++) {
                buf[i] *= postNatural == null ? scale : scale * postNatural[i];
            }
        }
    }

    /** One pass of the plan: its type and up to three vector offsets (powers of two, ascending). */
    private record Pass(int type, int o1, int o2, int o3) {
        static final int LOAD1 = 0;
        static final int LOAD8 = 1;
        static final int MID2 = 2;
        static final int MID4 = 3;
        static final int MID8 = 4;
        static final int STORE0 = 5;
        static final int STORE2 = 6;
        static final int STORE4 = 7;
        static final int STORE8 = 8;

        /** A pass of 1–3 bits; {@code type2} is its 2-vector variant (MID2 or STORE2), the 4 and 8 follow it. */
        static Pass of(int type2, List<Integer> bits) {
            int[] o = bits.stream().mapToInt(b -> 1 << b).toArray();
            return switch (o.length) {
                case 1 -> new Pass(type2, o[0], 0, 0);
                case 2 -> new Pass(type2 + 1, o[0], o[1], 0);
                default -> new Pass(type2 + 2, o[0], o[1], o[2]);
            };
        }

        /** Vectors one group of this pass reaches across. */
        int span() {
            return 2 * Math.max(o1, Math.max(o2, o3));
        }
    }
}
