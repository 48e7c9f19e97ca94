package org.offload4j.tornado;

import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16Kernel;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The W4A16 op on TornadoVM ({@link W4A16Kernels} has the device code and the SplitK layout).
 *
 * <p><b>Prepack.</b> {@code qweight} is kept in the GPTQ layout (its {@code [k/8, n]} words are
 * already what the kernel wants: a row of words per 8 rows of W, columns adjacent); zeros are
 * unpacked to one int per (group, column) and scales widened to fp32 (exact). Each compiled plan
 * (one per m and activation dtype, cached on the packed weight) sends the weight to the device
 * on its first run only.
 */
final class TornadoW4A16Kernel implements W4A16Kernel {
    /**
     * Aim for at least this many work-items before adding splits: a GPU streams the weight at
     * full speed only with many loads in flight (an H100 holds about 270 000 threads; at m = 1,
     * n = 4096 this gives 32 splits, 16 words per work-item). The first value, 4096, gave decode
     * one split, one work-item per column. On PoCL the count matters little (m = 1, 4096²:
     * 7.4–10.4 ms with 1 split in earlier runs, 7.5–10.0 with 32).
     */
    static final int TARGET_ITEMS = 1 << 17;
    static final int MAX_SPLITS = 32;
    static final int GROUP_ITEMS = 64;

    private final TornadoDevice device;
    /** Plans compiled so far, over every packed weight (for tests). */
    private final java.util.concurrent.atomic.AtomicInteger plansBuilt = new java.util.concurrent.atomic.AtomicInteger();

    TornadoW4A16Kernel(TornadoDevice device) {
        this.device = device;
    }

    /** Plans compiled by this kernel so far. */
    int plansBuilt() {
        return plansBuilt.get();
    }

    @Override
    public PackedWeight prepack(QuantizedWeight w) {
        int k = w.k();
        int n = w.n();
        int groups = w.groups();
        IntArray qweight = new IntArray(Plans.elements("W4A16 packed weight (k/8 · n)", k / 8, n));
        for (int r = 0; r < k / 8; r++) {
            for (int j = 0; j < n; j++) {
                qweight.set(r * n + j, w.qweight().getInt(r, j));
            }
        }
        IntArray zeros = new IntArray(Plans.elements("W4A16 zeros (groups · n)", groups, n));
        FloatArray scales = new FloatArray(groups * n);
        for (int g = 0; g < groups; g++) {
            for (int j = 0; j < n; j++) {
                zeros.set(g * n + j, w.zero(g, j));
                scales.set(g * n + j, w.scale(g, j));
            }
        }
        return new Packed(k, n, w.groupSize(), qweight, zeros, scales);
    }

    @Override
    public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
        Packed p = (Packed) w;
        synchronized (p) {
            p.ensureOpen();
            int m = (int) x.dim(0);
            int rounded = Plans.capacity(m);
            int mCap = fits(rounded, p.n, p.k) ? rounded : m; // never refuse a call that fits for want of its capacity
            Plan plan = p.plans.get(new Key(mCap, x.dtype()), () -> {
                plansBuilt.incrementAndGet();
                return new Plan(p, mCap, x.dtype());
            });
            plan.run(x, bias, y);
        }
    }

    /**
     * SplitK splits for a plan of {@code m} rows: enough work-items for {@link #TARGET_ITEMS}, at
     * most {@link #MAX_SPLITS} and k/8, then trimmed so that no split is empty.
     */
    static int splits(int m, int n, int k) {
        int k8 = k / 8;
        long rowItems = m == 1 ? 1 : (m + 3L) / 4; // splitK4 for m > 1: 4 rows per work-item
        long wanted = (TARGET_ITEMS + rowItems * n - 1) / (rowItems * n);
        int splits = (int) Math.max(1, Math.min(Math.min(MAX_SPLITS, k8), wanted));
        int wordsPerSplit = (k8 + splits - 1) / splits;
        return (k8 + wordsPerSplit - 1) / wordsPerSplit;
    }

    /** Whether a plan of {@code m} rows has every array within TornadoVM's int-indexed size. */
    static boolean fits(int m, int n, int k) {
        return Plans.fits(new long[] {m, k}, new long[] {m, n}, new long[] {splits(m, n, k), m, n});
    }

    /** A plan serves every m up to {@code mCap} (1, or the next power of two): m is data ({@code rows}). */
    private record Key(int mCap, DType xType) {}

    /** The weight on the host in TornadoVM arrays, and the plans compiled for it. */
    private static final class Packed implements PackedWeight {
        final int k;
        final int n;
        final int groupSize;
        final IntArray qweight;
        final IntArray zeros;
        final FloatArray scales;
        final Plans.Cache<Key, Plan> plans = new Plans.Cache<>(4);
        boolean closed;

        Packed(int k, int n, int groupSize, IntArray qweight, IntArray zeros, FloatArray scales) {
            this.k = k;
            this.n = n;
            this.groupSize = groupSize;
            this.qweight = qweight;
            this.zeros = zeros;
            this.scales = scales;
        }

        void ensureOpen() {
            if (closed) {
                throw new IllegalStateException("the packed weight was closed");
            }
        }

        @Override
        public int k() {
            return k;
        }

        @Override
        public int n() {
            return n;
        }

        @Override
        public int groupSize() {
            return groupSize;
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                plans.clear();
            }
        }
    }

    private final class Plan implements AutoCloseable {
        final int mCap;
        final int n;
        final IntArray rows = new IntArray(1);
        final ShortArray x16;
        final ShortArray y16;
        final FloatArray bias;
        final TornadoExecutionPlan plan;
        final String what;

        Plan(Packed w, int mCap, DType xType) {
            this.mCap = mCap;
            this.n = w.n;
            int m = mCap; // sizes and grids for the capacity; the kernels stop at the call's m
            int k = w.k;
            int k8 = k / 8;
            long rowItems = m == 1 ? 1 : (m + 3L) / 4; // splitK4 for m > 1: 4 rows per work-item
            int splits = splits(m, n, k);
            int wordsPerSplit = (k8 + splits - 1) / splits;
            int fmt = xType == DType.BF16 ? Codec.BF16 : Codec.FP16;
            this.what = "w4a16 m≤" + m + " n=" + n + " k=" + k + " g=" + w.groupSize + " splitK=" + splits + " " + xType.shortName();
            x16 = new ShortArray(Plans.elements("W4A16 x (m · k)", m, k));
            y16 = new ShortArray(Plans.elements("W4A16 y (m · n)", m, n));
            bias = new FloatArray(n);
            FloatArray xf = new FloatArray(m * k); // m · k fits: x16 has as many
            FloatArray part = new FloatArray(Plans.elements("W4A16 SplitK partials (splits · m · n)", splits, m, n));
            FloatArray pow2 = Codec.pow2Table();
            String name = Plans.graphName("w4a16");
            TaskGraph g = new TaskGraph(name)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, w.qweight, w.zeros, w.scales, pow2, xf, part)
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, x16, bias, rows)
                    .task("loadX", W4A16Kernels::loadX, new KernelContext(), x16, xf, pow2, rows, k, fmt);
            if (m == 1) {
                g.task("splitK", W4A16Kernels::splitK, new KernelContext(), xf, w.qweight, w.zeros, w.scales, part, rows, n, k,
                        w.groupSize, splits, wordsPerSplit);
            } else {
                g.task("splitK", W4A16Kernels::splitK4, new KernelContext(), xf, w.qweight, w.zeros, w.scales, part, rows, n, k,
                        w.groupSize, splits, wordsPerSplit);
            }
            g.task("reduce", W4A16Kernels::reduce, new KernelContext(), part, bias, y16, rows, n, splits, fmt)
                    .transferToHost(DataTransferMode.UNDER_DEMAND, y16); // the call's m rows only: run()
            long items = splits * rowItems * n; // ≤ the partials' size (splits · m · n), which fits an int
            Plans.Grids grids = new Plans.Grids(name).items("loadX", (long) m * k)
                    .groups("splitK", (items + GROUP_ITEMS - 1) / GROUP_ITEMS, GROUP_ITEMS).items("reduce", (long) m * n);
            plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler());
        }

        void run(Tensor x, Tensor b, Tensor y) {
            rows.set(0, (int) x.dim(0));
            Plans.load(x, x16);
            for (int j = 0; j < n; j++) {
                bias.set(j, b == null ? 0.0f : b.getFloat(0, j));
            }
            Plans.run(plan, what, device, new Plans.Fetch(y16, x.dim(0) * n));
            Plans.store(y16, y);
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }
}
