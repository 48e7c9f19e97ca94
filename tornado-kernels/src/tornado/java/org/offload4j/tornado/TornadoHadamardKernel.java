package org.offload4j.tornado;

import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The Hadamard op on TornadoVM ({@link HadamardKernels} has the device code). One compiled plan
 * per (dtype, rows, d, transpose), kept for the next call; calls on one instance are serialized.
 */
final class TornadoHadamardKernel implements HadamardKernel {
    /** Work-items per row: enough to cover a stage's d/2 butterflies in a few rounds. */
    static final int MAX_THREADS = 256;

    private final TornadoDevice device;
    private final Plans.Cache<Key, Plan> plans = new Plans.Cache<>(8);

    TornadoHadamardKernel(TornadoDevice device) {
        this.device = device;
    }

    private record Key(DType dtype, long rows, int d, boolean transpose) {}

    @Override
    public synchronized void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                                       float[] preSigns, float[] postSigns) {
        Plan p = plans.get(new Key(in.dtype(), in.rows(), size.d(), transpose), () -> new Plan(in.dtype(), (int) in.rows(), size,
                transpose));
        p.run(in, out, scale, preSigns, postSigns);
    }

    private final class Plan implements AutoCloseable {
        final DType dtype;
        final int d;
        final FloatArray pre;
        final FloatArray post;
        final FloatArray scale = new FloatArray(1);
        final FloatArray in32;
        final FloatArray out32;
        final ShortArray in16;
        final ShortArray out16;
        final TornadoExecutionPlan plan;
        final String what;

        Plan(DType dtype, int rows, HadamardSize size, boolean transpose) {
            this.dtype = dtype;
            this.d = size.d();
            int total = Math.multiplyExact(rows, d);
            this.what = "hadamard " + size + " rows=" + rows + " " + dtype.shortName() + (transpose ? " (inverse)" : "");
            pre = new FloatArray(d);
            post = new FloatArray(d);
            FloatArray work = new FloatArray(total);
            FloatArray work2 = new FloatArray(size.d() > HadamardKernels.LOCAL_D && size.m() > 1 ? total : 1);
            FloatArray pow2 = Codec.pow2Table();
            int m = size.m();
            int[][] h = HadamardMatrices.of(m);
            IntArray hm = new IntArray(m * m);
            for (int a = 0; a < m; a++) {
                for (int b = 0; b < m; b++) {
                    hm.set(a * m + b, h[a][b]);
                }
            }
            boolean fp32 = dtype == DType.FP32;
            int fmt = dtype == DType.BF16 ? Codec.BF16 : Codec.FP16;
            in32 = fp32 ? new FloatArray(total) : null;
            out32 = fp32 ? new FloatArray(total) : null;
            in16 = fp32 ? null : new ShortArray(total);
            out16 = fp32 ? null : new ShortArray(total);
            String name = Plans.graphName("hadamard");
            TaskGraph g = new TaskGraph(name)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, pow2, hm, work, work2)
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, fp32 ? in32 : in16, pre, post, scale);
            KernelContext ctx = new KernelContext();
            if (fp32) {
                g.task("load", HadamardKernels::load32, ctx, in32, work, pre, total, d);
            } else {
                g.task("load", HadamardKernels::load16, ctx, in16, work, pre, pow2, total, d, fmt);
            }
            int t = 1 << Math.min(31 - Integer.numberOfLeadingZeros(Math.max(1, d / 2)), 8); // power of two ≤ min(d/2, 256)
            int tr = transpose ? 1 : 0;
            if (d <= HadamardKernels.LOCAL_D) {
                g.task("fwht", HadamardKernels::fwhtLocal, ctx, work, hm, d, m, size.n(), tr);
            } else {
                g.task("fwht", HadamardKernels::fwhtGlobal, ctx, work, work2, hm, d, m, size.n(), tr);
            }
            if (fp32) {
                g.task("store", HadamardKernels::store32, ctx, work, out32, post, scale, total, d);
            } else {
                g.task("store", HadamardKernels::store16, ctx, work, out16, post, scale, total, d, fmt);
            }
            g.transferToHost(DataTransferMode.EVERY_EXECUTION, fp32 ? out32 : out16);
            Plans.Grids grids = new Plans.Grids(name).items("load", total).groups("fwht", rows, t).items("store", total);
            plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler());
        }

        void run(Tensor in, Tensor out, float s, float[] preSigns, float[] postSigns) {
            for (int i = 0; i < d; i++) {
                pre.set(i, preSigns == null ? 1.0f : preSigns[i]);
                post.set(i, postSigns == null ? 1.0f : postSigns[i]);
            }
            scale.set(0, s);
            if (dtype == DType.FP32) {
                Plans.load(in, in32);
            } else {
                Plans.load(in, in16);
            }
            Plans.run(plan, what, device);
            if (dtype == DType.FP32) {
                Plans.store(out32, out);
            } else {
                Plans.store(out16, out);
            }
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }
}
