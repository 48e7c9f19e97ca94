package org.offload4j.tornado;

import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.Consumer;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.Routing;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The MoE steps on TornadoVM ({@link MoeKernels} has the device code). Each method is one task
 * graph: its inputs go to the device (bf16 as raw bits, widened there), the steps run back to
 * back on fp32 device buffers, and only its outputs come back, rounded once.
 *
 * <p><b>Expert weights</b> are decoded to fp32 through {@link ExpertWeights#decode} once per
 * weights object (any format, W4A16 included) and sent to the device on a plan's first run only:
 * like a W4A16 prepack, later changes to the weight tensors are not seen. Holding int4 experts
 * packed on the device is not done yet (docs/tornado.md).
 */
final class TornadoMoeKernel implements MoeKernel {
    private final TornadoDevice device;
    private final Plans.Cache<List<Object>, Plan> plans = new Plans.Cache<>(8);
    private final Map<ExpertWeights, FloatArray[]> decoded = new WeakHashMap<>();

    TornadoMoeKernel(TornadoDevice device) {
        this.device = device;
    }

    // ---- the op's methods ----

    @Override
    public synchronized void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
        int tokens = (int) x.rows();
        int dModel = (int) x.cols();
        int experts = (int) routerWeights.cols();
        if (tokens == 0) {
            return;
        }
        Plan p = plans.get(List.of("route", tokens, dModel, experts, k, renormalize, x.dtype(), routerWeights.dtype()), () -> {
            Builder b = new Builder("moeRoute");
            In xs = b.in(x.dtype(), Plans.elements("MoE x", tokens, dModel));
            In wr = b.in(routerWeights.dtype(), Plans.elements("MoE router weights", dModel, experts));
            FloatArray logits = b.device(Plans.elements("MoE logits", tokens, experts));
            IntArray ids = new IntArray(Plans.elements("MoE routing", tokens, k));
            FloatArray w = new FloatArray(Plans.elements("MoE routing", tokens, k));
            b.g.task("logits", MoeKernels::logits, new KernelContext(), xs.f, wr.f, logits, tokens, dModel, experts)
                    .task("topk", MoeKernels::topk, new KernelContext(), logits, ids, w, tokens, experts, k, renormalize ? 1 : 0)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, ids, w);
            b.grids.items("logits", (long) tokens * experts).items("topk", tokens);
            return b.build("router T=" + tokens + " E=" + experts + " k=" + k, a -> {
                xs.load((Tensor) a[0]);
                wr.load((Tensor) a[1]);
            }, a -> {
                int[] idsOut = (int[]) a[2];
                float[] wOut = (float[]) a[3];
                java.lang.foreign.MemorySegment.copy(ids.getSegment(), java.lang.foreign.ValueLayout.JAVA_INT, 0, idsOut, 0, idsOut.length);
                java.lang.foreign.MemorySegment.copy(w.getSegment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, wOut, 0, wOut.length);
            });
        });
        p.run(x, routerWeights, expertIds, weights);
    }

    @Override
    public synchronized void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out) {
        int copies = routing.copies();
        if (copies == 0) {
            return;
        }
        int rows = matrix.rows(weights);
        int cols = matrix.cols(weights);
        Plan p = plans.get(List.of("gemm", copies, weights, matrix, in.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeGemm");
            In x = b.in(in.dtype(), Plans.elements("MoE grouped GEMM input", copies, rows));
            IntArray tiles = b.ints(3 * maxTiles(copies, weights));
            FloatArray w = b.weights(weights, matrix);
            FloatArray y = b.device(Plans.elements("MoE grouped GEMM output", copies, cols));
            b.gemm("gemm", x.f, w, tiles, y, copies, rows, cols, weights);
            Out o = b.out(y, out.dtype(), Plans.elements("MoE grouped GEMM output", copies, cols));
            return b.build("grouped GEMM " + matrix + " P=" + copies, a -> {
                x.load((Tensor) a[0]);
                setTiles(tiles, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        });
        p.run(in, routing, out);
    }

    @Override
    public synchronized void swiglu(Tensor h, Tensor a) {
        int rows = (int) h.rows();
        int dFf = (int) a.cols();
        if (rows == 0) {
            return;
        }
        Plan p = plans.get(List.of("swiglu", rows, dFf, h.dtype(), a.dtype()), () -> {
            Builder b = new Builder("moeSwiglu");
            In hs = b.in(h.dtype(), Plans.elements("MoE SwiGLU input", rows, 2, dFf));
            FloatArray af = b.device(Plans.elements("MoE SwiGLU output", rows, dFf));
            b.g.task("swiglu", MoeKernels::swiglu, new KernelContext(), hs.f, af, rows, dFf);
            b.grids.items("swiglu", (long) rows * dFf);
            Out o = b.out(af, a.dtype(), Plans.elements("MoE SwiGLU output", rows, dFf));
            return b.build("swiglu rows=" + rows, x -> hs.load((Tensor) x[0]), x -> o.store((Tensor) x[1]));
        });
        p.run(h, a);
    }

    @Override
    public synchronized void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) {
        int copies = routing.copies();
        if (copies == 0) {
            return;
        }
        int dModel = weights.dModel();
        int dFf = weights.dFf();
        Plan p = plans.get(List.of("mlp", copies, weights, xPermuted.dtype(), y.dtype()), () -> {
            Builder b = new Builder("moeMlp");
            In x = b.in(xPermuted.dtype(), Plans.elements("MoE expert input", copies, dModel));
            IntArray tiles = b.ints(3 * maxTiles(copies, weights));
            FloatArray y32 = b.mlp(x.f, tiles, weights, copies);
            Out o = b.out(y32, y.dtype(), Plans.elements("MoE expert output", copies, dModel));
            return b.build("expert MLP P=" + copies, a -> {
                x.load((Tensor) a[0]);
                setTiles(tiles, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        });
        p.run(xPermuted, routing, y);
    }

    @Override
    public synchronized void combine(Tensor y, Routing routing, Tensor out) {
        int tokens = routing.tokens();
        int k = routing.k();
        int dModel = (int) out.cols();
        if (tokens == 0) {
            return;
        }
        Plan p = plans.get(List.of("combine", tokens, k, dModel, y.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeCombine");
            In ys = b.in(y.dtype(), Plans.elements("MoE combine input", tokens, k, dModel));
            IntArray slotToCopy = b.ints(Plans.elements("MoE routing", tokens, k));
            FloatArray w = b.floats(Plans.elements("MoE routing", tokens, k));
            FloatArray o32 = b.device(Plans.elements("MoE output", tokens, dModel));
            b.g.task("combine", MoeKernels::combine, new KernelContext(), ys.f, o32, slotToCopy, w, tokens, k, dModel);
            b.grids.items("combine", (long) tokens * dModel);
            Out o = b.out(o32, out.dtype(), Plans.elements("MoE output", tokens, dModel));
            return b.build("combine T=" + tokens + " k=" + k, a -> {
                ys.load((Tensor) a[0]);
                setCombine(slotToCopy, w, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        });
        p.run(y, routing, out);
    }

    @Override
    public synchronized void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) {
        int tokens = routing.tokens();
        int k = routing.k();
        int copies = routing.copies();
        int dModel = weights.dModel();
        if (tokens == 0) {
            return;
        }
        Plan p = plans.get(List.of("forward", tokens, k, weights, x.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeForward");
            In xs = b.in(x.dtype(), Plans.elements("MoE x", tokens, dModel));
            IntArray copyToToken = b.ints(copies);
            IntArray tiles = b.ints(3 * maxTiles(copies, weights));
            IntArray slotToCopy = b.ints(Plans.elements("MoE routing", tokens, k));
            FloatArray w = b.floats(Plans.elements("MoE routing", tokens, k));
            FloatArray xp = b.device(Plans.elements("MoE permuted x", copies, dModel));
            b.g.task("gather", MoeKernels::gather, new KernelContext(), xs.f, xp, copyToToken, copies, dModel);
            b.grids.items("gather", (long) copies * dModel);
            FloatArray y32 = b.mlp(xp, tiles, weights, copies);
            FloatArray o32 = b.device(Plans.elements("MoE output", tokens, dModel));
            b.g.task("combine", MoeKernels::combine, new KernelContext(), y32, o32, slotToCopy, w, tokens, k, dModel);
            b.grids.items("combine", (long) tokens * dModel);
            Out o = b.out(o32, out.dtype(), Plans.elements("MoE output", tokens, dModel));
            return b.build("MoE forward T=" + tokens + " k=" + k + " E=" + weights.experts(), a -> {
                xs.load((Tensor) a[0]);
                Routing r = (Routing) a[1];
                int[] ctt = r.copyToToken();
                for (int i = 0; i < ctt.length; i++) {
                    copyToToken.set(i, ctt[i]);
                }
                setTiles(tiles, r);
                setCombine(slotToCopy, w, r);
            }, a -> o.store((Tensor) a[2]));
        });
        p.run(x, routing, out);
    }

    // ---- per-call host data ----

    /** Row tiles for {@code copies} permuted rows: each expert's rows split in tiles of TILE, at most one partial tile each. */
    private static int maxTiles(int copies, ExpertWeights weights) {
        return (copies + MoeKernels.TILE - 1) / MoeKernels.TILE + weights.experts();
    }

    /** {@link MoeKernels#gemm}'s tile table: each expert's run of permuted rows in tiles of TILE; unused tiles get 0 rows. */
    private static void setTiles(IntArray tiles, Routing r) {
        int t = 0;
        for (int e = 0; e < r.experts(); e++) {
            for (int start = r.offset(e); start < r.offset(e + 1); start += MoeKernels.TILE) {
                tiles.set(3 * t, start);
                tiles.set(3 * t + 1, Math.min(MoeKernels.TILE, r.offset(e + 1) - start));
                tiles.set(3 * t + 2, e);
                t++;
            }
        }
        for (; 3 * t < tiles.getSize(); t++) {
            tiles.set(3 * t, 0);
            tiles.set(3 * t + 1, 0);
            tiles.set(3 * t + 2, 0);
        }
    }

    private static void setCombine(IntArray slotToCopy, FloatArray w, Routing r) {
        for (int t = 0; t < r.tokens(); t++) {
            for (int j = 0; j < r.k(); j++) {
                slotToCopy.set(t * r.k() + j, r.copyOf(t, j));
                w.set(t * r.k() + j, r.weight(t, j));
            }
        }
    }

    /** The fp32 {@code [E, rows, cols]} values of one matrix, decoded once per weights object. */
    private FloatArray decodedWeights(ExpertWeights w, ExpertWeights.Matrix matrix) {
        FloatArray[] both = decoded.computeIfAbsent(w, key -> new FloatArray[2]);
        int slot = matrix.ordinal();
        if (both[slot] == null) {
            int rows = matrix.rows(w);
            int cols = matrix.cols(w);
            FloatArray a = new FloatArray(Plans.elements("MoE " + matrix + " weights decoded to fp32", w.experts(), rows, cols));
            float[] buf = new float[rows * cols];
            for (int e = 0; e < w.experts(); e++) {
                w.decode(matrix, e, 0, rows, 0, cols, buf, 0, cols);
                MemorySegmentCopy.copy(buf, a, (long) e * rows * cols);
            }
            both[slot] = a;
        }
        return both[slot];
    }

    // ---- building plans ----

    /** An input tensor: raw 16-bit bits widened on the device, or fp32 sent as is. */
    private static final class In {
        final ShortArray raw;
        final FloatArray f;

        In(ShortArray raw, FloatArray f) {
            this.raw = raw;
            this.f = f;
        }

        void load(Tensor t) {
            if (raw != null) {
                Plans.load(t, raw);
            } else {
                Plans.load(t, f);
            }
        }
    }

    /** An output tensor: rounded to 16 bits on the device, or fp32 as is. */
    private static final class Out {
        final ShortArray raw;
        final FloatArray f;

        Out(ShortArray raw, FloatArray f) {
            this.raw = raw;
            this.f = f;
        }

        void store(Tensor t) {
            if (raw != null) {
                Plans.store(raw, t);
            } else {
                Plans.store(f, t);
            }
        }
    }

    private final class Builder {
        final String name;
        final TaskGraph g;
        final Plans.Grids grids;
        final FloatArray pow2 = Codec.pow2Table();
        int tasks;

        Builder(String op) {
            this.name = Plans.graphName(op);
            this.g = new TaskGraph(name).transferToDevice(DataTransferMode.FIRST_EXECUTION, pow2);
            this.grids = new Plans.Grids(name);
        }

        In in(DType t, int n) {
            FloatArray f = new FloatArray(Math.max(1, n));
            if (t == DType.FP32) {
                g.transferToDevice(DataTransferMode.EVERY_EXECUTION, f);
                return new In(null, f);
            }
            ShortArray raw = new ShortArray(Math.max(1, n));
            g.transferToDevice(DataTransferMode.EVERY_EXECUTION, raw);
            g.transferToDevice(DataTransferMode.FIRST_EXECUTION, f);
            String task = "in" + tasks++;
            g.task(task, MoeKernels::toF32, new KernelContext(), raw, f, pow2, n, t == DType.BF16 ? Codec.BF16 : Codec.FP16);
            grids.items(task, n);
            return new In(raw, f);
        }

        Out out(FloatArray f, DType t, int n) {
            if (t == DType.FP32) {
                g.transferToHost(DataTransferMode.EVERY_EXECUTION, f);
                return new Out(null, f);
            }
            ShortArray raw = new ShortArray(Math.max(1, n));
            String task = "out" + tasks++;
            g.task(task, MoeKernels::fromF32, new KernelContext(), f, raw, n, t == DType.BF16 ? Codec.BF16 : Codec.FP16);
            grids.items(task, n);
            g.transferToHost(DataTransferMode.EVERY_EXECUTION, raw);
            return new Out(raw, null);
        }

        FloatArray device(int n) {
            FloatArray f = new FloatArray(Math.max(1, n));
            g.transferToDevice(DataTransferMode.FIRST_EXECUTION, f);
            return f;
        }

        IntArray ints(int n) {
            IntArray a = new IntArray(Math.max(1, n));
            g.transferToDevice(DataTransferMode.EVERY_EXECUTION, a);
            return a;
        }

        FloatArray floats(int n) {
            FloatArray a = new FloatArray(Math.max(1, n));
            g.transferToDevice(DataTransferMode.EVERY_EXECUTION, a);
            return a;
        }

        FloatArray weights(ExpertWeights w, ExpertWeights.Matrix m) {
            FloatArray a = decodedWeights(w, m);
            g.transferToDevice(DataTransferMode.FIRST_EXECUTION, a);
            return a;
        }

        /** gate/up GEMM, SwiGLU, down GEMM on device buffers; returns y fp32 {@code [copies, d_model]}. */
        FloatArray mlp(FloatArray xp, IntArray tiles, ExpertWeights weights, int copies) {
            int dModel = weights.dModel();
            int dFf = weights.dFf();
            FloatArray w1 = weights(weights, ExpertWeights.Matrix.GATE_UP);
            FloatArray w2 = weights(weights, ExpertWeights.Matrix.DOWN);
            FloatArray h = device(copies * 2 * dFf);
            FloatArray a = device(copies * dFf);
            FloatArray y = device(copies * dModel);
            gemm("gateUp", xp, w1, tiles, h, copies, dModel, 2 * dFf, weights);
            g.task("swiglu", MoeKernels::swiglu, new KernelContext(), h, a, copies, dFf);
            grids.items("swiglu", (long) copies * dFf);
            gemm("down", a, w2, tiles, y, copies, dFf, dModel, weights);
            return y;
        }

        /** A grouped GEMM task {@code out [copies, cols] = in [copies, rows] · W[expert]}, one work-group per TILE × TILE block. */
        void gemm(String task, FloatArray in, FloatArray w, IntArray tiles, FloatArray out, int copies, int rows, int cols,
                  ExpertWeights weights) {
            g.task(task, MoeKernels::gemm, new KernelContext(), in, w, tiles, out, rows, cols);
            grids.groups2d(task, (cols + MoeKernels.TILE - 1) / MoeKernels.TILE, maxTiles(copies, weights), MoeKernels.TILE,
                    MoeKernels.GROUP_Y);
        }

        Plan build(String what, Consumer<Object[]> before, Consumer<Object[]> after) {
            return new Plan(Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler()), what, before, after);
        }
    }

    private final class Plan implements AutoCloseable {
        final TornadoExecutionPlan plan;
        final String what;
        final Consumer<Object[]> before;
        final Consumer<Object[]> after;

        Plan(TornadoExecutionPlan plan, String what, Consumer<Object[]> before, Consumer<Object[]> after) {
            this.plan = plan;
            this.what = what;
            this.before = before;
            this.after = after;
        }

        void run(Object... args) {
            before.accept(args);
            Plans.run(plan, what, device);
            after.accept(args);
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }

    /** float[] into a FloatArray at an element offset. */
    private static final class MemorySegmentCopy {
        static void copy(float[] src, FloatArray dst, long offset) {
            java.lang.foreign.MemorySegment.copy(src, 0, dst.getSegment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, offset * 4,
                    src.length);
        }
    }
}
