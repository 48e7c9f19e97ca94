package org.offload4j.tornado;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.LongUnaryOperator;
import java.util.function.Supplier;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.ExpertWeightsCache;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * The MoE steps on TornadoVM ({@link MoeKernels} has the device code). Each method is one task
 * graph: its inputs go to the device (bf16 as raw bits, widened there), the steps run back to
 * back on fp32 device buffers, and only its outputs come back, rounded once.
 *
 * <p><b>Expert weights</b> are copied once per weights object and sent to the device on a plan's
 * first run only: like a W4A16 prepack, later changes to the weight tensors are not seen. The
 * grouped GEMM turns each element into its value as it stages it ({@link MoeKernels#gemm}), so
 * the weights stay in their own format: {@link Bf16ExpertWeights} as their raw 16-bit bits (2
 * bytes a weight, where the fp32 copy they were once decoded to took 4: Mixtral's experts are
 * 90 GB in bf16), {@link W4A16ExpertWeights} as their GPTQ words, zero points and fp32 scales
 * (about 0.53 bytes a weight at g = 128, where fp32 took about 7.5 times as much). Any other
 * format is decoded to fp32 through {@link ExpertWeights#decode}.
 *
 * <p><b>Plans per capacity.</b> A plan is compiled for a capacity of tokens (route, combine,
 * forward), permuted rows (grouped GEMM, expert MLP) or rows (SwiGLU): {@link Plans#capacity}, the
 * next power of two. Each call launches its own work only and copies its own rows back, so a
 * prompt of 300 tokens and one of 500 share the 512-token plan, and its device copy of the
 * experts, instead of compiling a graph (seconds on PoCL) and holding an fp32 copy of the experts
 * each. The price: the inputs move whole, up to twice the call's bytes.
 *
 * <p><b>Where plans live.</b> Plans that read no experts (route, SwiGLU, combine) share one cache
 * of 8 for the whole kernel, keyed by sizes. Those that read experts live with their weights
 * object ({@link ExpertPlans}: its host copy and the plans of its two most recently used
 * capacities): for weights as the caller gave them, in an {@link ExpertWeightsCache} (weakly
 * keyed by identity, freed at the next call once the weights are collected or closed, as the
 * CUDA backend keeps its packed int4 experts); for a {@link #prepare prepared} copy
 * ({@link TornadoExpertWeights}), in the copy, until it is closed. So a decode loop over any
 * number of MoE layers compiles each layer's plan once. Those plans must not hold their weights
 * object (it would never be collected): their keys and closures take the experts' count and
 * sizes, never the object.
 */
final class TornadoMoeKernel implements MoeKernel {
    private final TornadoDevice device;
    private final Plans.Cache<List<Object>, Plan> plans = new Plans.Cache<>(8);
    /** Weights as the caller gave them: their host copies and plans, weakly keyed by identity. */
    private final ExpertWeightsCache<ExpertPlans> byWeights = new ExpertWeightsCache<>();
    /** Plans compiled so far (for tests). */
    private int plansBuilt;

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
        int cap = Plans.capacity(tokens, dModel, experts, k);
        run(null, cap, List.of("route", dModel, experts, k, renormalize, x.dtype(), routerWeights.dtype()), () -> {
            Builder b = new Builder("moeRoute");
            In xs = b.in(x.dtype(), cap, dModel, "MoE x");
            In wr = b.fixedIn(routerWeights.dtype(), Plans.elements("MoE router weights", dModel, experts));
            FloatArray logits = b.device(Plans.elements("MoE logits", cap, experts));
            IntArray ids = new IntArray(Plans.elements("MoE routing", cap, k));
            FloatArray w = new FloatArray(Plans.elements("MoE routing", cap, k));
            b.g.task("logits", MoeKernels::logits, new KernelContext(), xs.f, wr.f, logits, cap, dModel, experts)
                    .task("topk", MoeKernels::topk, new KernelContext(), logits, ids, w, cap, experts, k, renormalize ? 1 : 0);
            b.items("logits", cap, experts).items("topk", cap, 1).fetched(ids, k).fetched(w, k);
            return b.build("router T≤" + cap + " E=" + experts + " k=" + k, a -> {
                xs.load((Tensor) a[0]);
                wr.load((Tensor) a[1]);
            }, a -> {
                int[] idsOut = (int[]) a[2];
                float[] wOut = (float[]) a[3];
                MemorySegment.copy(ids.getSegment(), ValueLayout.JAVA_INT, 0, idsOut, 0, idsOut.length);
                MemorySegment.copy(w.getSegment(), ValueLayout.JAVA_FLOAT, 0, wOut, 0, wOut.length);
            });
        }, tokens, x, routerWeights, expertIds, weights);
    }

    @Override
    public synchronized void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out) {
        int copies = routing.copies();
        if (copies == 0) {
            return;
        }
        int rows = matrix.rows(weights);
        int cols = matrix.cols(weights);
        int cap = Plans.capacity(copies, rows, cols);
        run(weights, cap, List.of("gemm", matrix, in.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeGemm");
            In x = b.in(in.dtype(), cap, rows, "MoE grouped GEMM input");
            IntArray tiles = b.ints(3 * b.tileSlots(cap, weights.experts()));
            ExpertArrays w = b.weights(weights, matrix);
            FloatArray y = b.device(Plans.elements("MoE grouped GEMM output", cap, cols));
            b.gemm("gemm", x.f, w, tiles, y, cap, rows, cols, weights.experts());
            Out o = b.out(y, out.dtype(), cap, cols);
            return b.build("grouped GEMM " + matrix + " P≤" + cap, a -> {
                x.load((Tensor) a[0]);
                setTiles(tiles, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        }, copies, in, routing, out);
    }

    @Override
    public synchronized void swiglu(Tensor h, Tensor a) {
        int rows = (int) h.rows();
        int dFf = (int) a.cols();
        if (rows == 0) {
            return;
        }
        int cap = Plans.capacity(rows, 2L * dFf);
        run(null, cap, List.of("swiglu", dFf, h.dtype(), a.dtype()), () -> {
            Builder b = new Builder("moeSwiglu");
            In hs = b.in(h.dtype(), cap, 2L * dFf, "MoE SwiGLU input");
            FloatArray af = b.device(Plans.elements("MoE SwiGLU output", cap, dFf));
            b.g.task("swiglu", MoeKernels::swiglu, new KernelContext(), hs.f, af, cap, dFf);
            b.items("swiglu", cap, dFf);
            Out o = b.out(af, a.dtype(), cap, dFf);
            return b.build("swiglu rows≤" + cap, x -> hs.load((Tensor) x[0]), x -> o.store((Tensor) x[1]));
        }, rows, h, a);
    }

    @Override
    public synchronized void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) {
        int copies = routing.copies();
        if (copies == 0) {
            return;
        }
        int dModel = weights.dModel();
        int dFf = weights.dFf();
        int cap = Plans.capacity(copies, dModel, 2L * dFf);
        run(weights, cap, List.of("mlp", xPermuted.dtype(), y.dtype()), () -> {
            Builder b = new Builder("moeMlp");
            In x = b.in(xPermuted.dtype(), cap, dModel, "MoE expert input");
            IntArray tiles = b.ints(3 * b.tileSlots(cap, weights.experts()));
            FloatArray y32 = b.mlp(x.f, tiles, weights, cap);
            Out o = b.out(y32, y.dtype(), cap, dModel);
            return b.build("expert MLP P≤" + cap, a -> {
                x.load((Tensor) a[0]);
                setTiles(tiles, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        }, copies, xPermuted, routing, y);
    }

    @Override
    public synchronized void combine(Tensor y, Routing routing, Tensor out) {
        int tokens = routing.tokens();
        int k = routing.k();
        int dModel = (int) out.cols();
        if (tokens == 0) {
            return;
        }
        int cap = Plans.capacity(tokens, (long) k * dModel, dModel);
        run(null, cap, List.of("combine", k, dModel, y.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeCombine");
            In ys = b.in(y.dtype(), cap, (long) k * dModel, "MoE combine input");
            IntArray slotToCopy = b.ints(Plans.elements("MoE routing", cap, k));
            FloatArray w = b.floats(Plans.elements("MoE routing", cap, k));
            FloatArray o32 = b.device(Plans.elements("MoE output", cap, dModel));
            b.g.task("combine", MoeKernels::combine, new KernelContext(), ys.f, o32, slotToCopy, w, cap, k, dModel);
            b.items("combine", cap, dModel);
            Out o = b.out(o32, out.dtype(), cap, dModel);
            return b.build("combine T≤" + cap + " k=" + k, a -> {
                ys.load((Tensor) a[0]);
                setCombine(slotToCopy, w, (Routing) a[1]);
            }, a -> o.store((Tensor) a[2]));
        }, tokens, y, routing, out);
    }

    @Override
    public synchronized void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) {
        int tokens = routing.tokens();
        int k = routing.k();
        int dModel = weights.dModel();
        if (tokens == 0) {
            return;
        }
        int cap = Plans.capacity(tokens, (long) k * dModel, 2L * k * weights.dFf());
        run(weights, cap, List.of("forward", k, x.dtype(), out.dtype()), () -> {
            Builder b = new Builder("moeForward", k);
            int copiesCap = Plans.elements("MoE routing", cap, k);
            In xs = b.in(x.dtype(), cap, dModel, "MoE x");
            IntArray copyToToken = b.ints(copiesCap);
            IntArray tiles = b.ints(3 * b.tileSlots(copiesCap, weights.experts()));
            IntArray slotToCopy = b.ints(copiesCap);
            FloatArray w = b.floats(copiesCap);
            FloatArray xp = b.device(Plans.elements("MoE permuted x", copiesCap, dModel));
            b.g.task("gather", MoeKernels::gather, new KernelContext(), xs.f, xp, copyToToken, copiesCap, dModel);
            b.items("gather", cap, (long) k * dModel);
            FloatArray y32 = b.mlp(xp, tiles, weights, copiesCap);
            FloatArray o32 = b.device(Plans.elements("MoE output", cap, dModel));
            b.g.task("combine", MoeKernels::combine, new KernelContext(), y32, o32, slotToCopy, w, cap, k, dModel);
            b.items("combine", cap, dModel);
            Out o = b.out(o32, out.dtype(), cap, dModel);
            return b.build("MoE forward T≤" + cap + " k=" + k + " E=" + weights.experts(), a -> {
                xs.load((Tensor) a[0]);
                Routing r = (Routing) a[1];
                int[] ctt = r.copyToToken();
                for (int i = 0; i < ctt.length; i++) {
                    copyToToken.set(i, ctt[i]);
                }
                setTiles(tiles, r);
                setCombine(slotToCopy, w, r);
            }, a -> o.store((Tensor) a[2]));
        }, tokens, x, routing, out);
    }

    /**
     * Runs the plan for {@code key} of capacity {@code cap} for {@code units} units, compiled by
     * {@code make} on a miss: from the plans of {@code weights} (null: the plan reads no experts;
     * the kernel's shared cache), under a prepared copy's lock so that closing it cannot free a
     * running plan.
     */
    private void run(ExpertWeights weights, int cap, List<Object> key, Supplier<Plan> make, int units, Object... args) {
        byWeights.expunge();
        Supplier<Plan> counted = () -> {
            Plan p = make.get();
            plansBuilt++;
            return p;
        };
        if (weights == null) {
            List<Object> shared = new ArrayList<>(key);
            shared.add(cap);
            plans.get(shared, counted).run(units, args);
        } else if (weights instanceof TornadoExpertWeights prepared && prepared.ownedBy(this)) {
            synchronized (prepared) {
                if (!prepared.isAlive()) {
                    throw new IllegalStateException(prepared + " is closed");
                }
                ((Plan) prepared.plans().plan(cap, key, counted)).run(units, args);
            }
        } else {
            if (!weights.isAlive()) { // another kernel's closed copy: MoeLayer checks, a direct caller may not
                throw new IllegalStateException(weights + " is closed");
            }
            ((Plan) plansOf(weights).plan(cap, key, counted)).run(units, args);
        }
    }

    /** What the kernel keeps for {@code weights} (not a copy it prepared), made at its first call. */
    private ExpertPlans plansOf(ExpertWeights weights) {
        return byWeights.get(weights, w -> new ExpertPlans());
    }

    /** Weights as the caller gave them with plans held (tests), after freeing those of collected or closed weights. */
    synchronized int weightsHeld() {
        byWeights.expunge();
        return byWeights.size();
    }

    /** Plans held for {@code weights} (tests). */
    synchronized int plansHeld(ExpertWeights weights) {
        if (weights instanceof TornadoExpertWeights prepared && prepared.ownedBy(this)) {
            return prepared.plansHeld();
        }
        ExpertPlans p = byWeights.find(weights);
        return p == null ? 0 : p.plansHeld();
    }

    /**
     * {@code weights} copied into a {@link TornadoExpertWeights} that keeps this kernel's plans
     * for them (any format; a copy this kernel prepared is returned as it is).
     *
     * @throws UnsupportedOperationException when a matrix's experts together hold more elements
     *         than a TornadoVM array can (2^31 − 1)
     */
    @Override
    public ExpertWeights prepare(ExpertWeights weights) {
        if (weights instanceof TornadoExpertWeights copy && !copy.isAlive()) {
            throw new IllegalStateException(copy + " is closed");
        }
        return weights instanceof TornadoExpertWeights own && own.ownedBy(this) ? weights : TornadoExpertWeights.copyOf(weights, this);
    }

    /** The device this kernel's plans run on (tests). */
    TornadoDevice device() {
        return device;
    }

    /** Plans compiled so far (for tests). */
    synchronized int plansBuilt() {
        return plansBuilt;
    }

    // ---- per-call host data ----

    /** Row tiles for {@code copies} permuted rows: each expert's rows split in tiles of TILE, at most one partial tile each. */
    private static int maxTiles(int copies, int experts) {
        return (copies + MoeKernels.TILE - 1) / MoeKernels.TILE + experts;
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

    /** One matrix's weights in the kernels' form, copied once per weights object (a prepared copy holds its own). */
    private ExpertArrays deviceWeights(ExpertWeights w, ExpertWeights.Matrix matrix) {
        return w instanceof TornadoExpertWeights prepared && prepared.ownedBy(this) ? prepared.arrays(matrix)
                : plansOf(w).arrays(w, matrix);
    }

    /** Bytes of expert weight values this kernel holds for {@code w}, or {@code w} holds when prepared (tests: bf16 stays 16-bit). */
    synchronized long heldWeightBytes(ExpertWeights w) {
        if (w instanceof TornadoExpertWeights prepared && prepared.ownedBy(this)) {
            return prepared.bytes();
        }
        ExpertPlans p = byWeights.find(w);
        return p == null ? 0 : p.bytes();
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

    /**
     * One task graph under construction. Its arrays are sized for a capacity of units (tokens,
     * copies or rows: {@link Plans#capacity}); what depends on the call's count of units (the
     * grids of the element-wise and GEMM tasks, the part of each output copied back) is recorded
     * here and applied at every run ({@link Plan#run}).
     */
    private final class Builder {
        final String name;
        final TaskGraph g;
        final Plans.Grids grids;
        final FloatArray pow2 = Codec.pow2Table();
        final List<IntConsumer> resize = new ArrayList<>();
        final List<PartOut> outputs = new ArrayList<>();
        /** Permuted rows (copies) per unit of the call: k in {@code forward}, whose unit is the token; else 1. */
        final int copiesPerUnit;
        int tasks;

        Builder(String op) {
            this(op, 1);
        }

        Builder(String op, int copiesPerUnit) {
            this.name = Plans.graphName(op);
            this.g = new TaskGraph(name).transferToDevice(DataTransferMode.FIRST_EXECUTION, pow2);
            this.grids = new Plans.Grids(name);
            this.copiesPerUnit = copiesPerUnit;
        }

        /** An input of {@code perUnit} elements per unit, {@code capUnits} units (the whole array moves at every run). */
        In in(DType t, int capUnits, long perUnit, String what) {
            return in(t, Plans.elements(what, capUnits, perUnit), units -> units * perUnit);
        }

        /** An input whose size does not change with the call (the router weights). */
        In fixedIn(DType t, int n) {
            return in(t, n, units -> n);
        }

        private In in(DType t, int n, LongUnaryOperator callItems) {
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
            resize.add(units -> grids.reitem(task, callItems.applyAsLong(units)));
            return new In(raw, f);
        }

        /**
         * An element-wise task of {@code perUnit} items per unit: launched for the call's units
         * only. Its kernel's bound is the capacity (a compiled-in constant), so the items of its
         * last work-group past the call's units read and write rows of the capacity that no call
         * reads; the index arrays they read ({@code copyToToken}, {@code tokenSlotToCopy}) hold
         * zeros or an earlier call's entries there, which index within the capacity too.
         */
        Builder items(String task, int capUnits, long perUnit) {
            grids.items(task, (long) capUnits * perUnit);
            resize.add(units -> grids.reitem(task, units * perUnit));
            return this;
        }

        /** {@code array}, an output of {@code perUnit} elements per unit, copied back for the call's units only. */
        Builder fetched(TornadoNativeArray array, long perUnit) {
            g.transferToHost(DataTransferMode.UNDER_DEMAND, array);
            outputs.add(new PartOut(array, perUnit));
            return this;
        }

        /** The output {@code f} ({@code perUnit} elements per unit), rounded to {@code t} on the device unless fp32. */
        Out out(FloatArray f, DType t, int capUnits, long perUnit) {
            if (t == DType.FP32) {
                fetched(f, perUnit);
                return new Out(null, f);
            }
            int n = Plans.elements("MoE output", capUnits, perUnit);
            ShortArray raw = new ShortArray(Math.max(1, n));
            String task = "out" + tasks++;
            g.task(task, MoeKernels::fromF32, new KernelContext(), f, raw, n, t == DType.BF16 ? Codec.BF16 : Codec.FP16);
            items(task, capUnits, perUnit).fetched(raw, perUnit);
            return new Out(raw, null);
        }

        FloatArray device(int n) {
            FloatArray f = new FloatArray(Math.max(1, n));
            g.transferToDevice(DataTransferMode.FIRST_EXECUTION, f);
            return f;
        }

        /**
         * Entries of the tile table for up to {@code copies} rows: the row tiles fold into the grid's
         * y and z ({@link Plans.Grids#groupsFolded}, since CUDA stops y at 65535 groups and
         * TornadoVM's PTX scheduler clamps without a word), which launches a few groups past the
         * last tile; their entries say 0 rows, like every unused tile's.
         */
        int tileSlots(int copies, int experts) {
            return grids.foldedSlots(maxTiles(copies, experts));
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

        ExpertArrays weights(ExpertWeights w, ExpertWeights.Matrix m) {
            ExpertArrays a = deviceWeights(w, m);
            a.sendOnce(g);
            return a;
        }

        /** gate/up GEMM, SwiGLU, down GEMM on device buffers of {@code copiesCap} rows; returns y fp32 {@code [copiesCap, d_model]}. */
        FloatArray mlp(FloatArray xp, IntArray tiles, ExpertWeights weights, int copiesCap) {
            int dModel = weights.dModel();
            int dFf = weights.dFf();
            ExpertArrays w1 = weights(weights, ExpertWeights.Matrix.GATE_UP);
            ExpertArrays w2 = weights(weights, ExpertWeights.Matrix.DOWN);
            FloatArray h = device(Plans.elements("MoE gate/up output", copiesCap, 2, dFf));
            FloatArray a = device(Plans.elements("MoE SwiGLU output", copiesCap, dFf));
            FloatArray y = device(Plans.elements("MoE expert output", copiesCap, dModel));
            gemm("gateUp", xp, w1, tiles, h, copiesCap, dModel, 2 * dFf, weights.experts());
            g.task("swiglu", MoeKernels::swiglu, new KernelContext(), h, a, copiesCap, dFf);
            grids.items("swiglu", (long) copiesCap * dFf);
            resize.add(units -> grids.reitem("swiglu", (long) units * copiesPerUnit * dFf));
            gemm("down", a, w2, tiles, y, copiesCap, dFf, dModel, weights.experts());
            return y;
        }

        /**
         * A grouped GEMM task {@code out [copies, cols] = in [copies, rows] · W[expert]}, one work-group
         * per TILE × TILE block, launched for the row tiles the call's copies can fill.
         */
        void gemm(String task, FloatArray in, ExpertArrays w, IntArray tiles, FloatArray out, int copiesCap, int rows, int cols,
                  int experts) {
            g.task(task, MoeKernels::gemm, new KernelContext(), in, w.f(), w.bf16(), pow2, w.q(), w.qz(), w.qs(), w.fmt(), w.group(),
                    w.symmetric(), tiles, out, rows, cols);
            long columnTiles = (cols + MoeKernels.TILE - 1) / MoeKernels.TILE;
            grids.groupsFolded(task, columnTiles, maxTiles(copiesCap, experts), MoeKernels.TILE, MoeKernels.GROUP_Y);
            resize.add(units -> grids.regroupFolded(task, columnTiles, maxTiles(units * copiesPerUnit, experts)));
        }

        Plan build(String what, Consumer<Object[]> before, Consumer<Object[]> after) {
            return new Plan(Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler()), what, resize, outputs, before,
                    after);
        }
    }

    /** An output copied back in part: {@code perUnit} elements per unit of the call. */
    private record PartOut(TornadoNativeArray array, long perUnit) {}

    private final class Plan implements AutoCloseable {
        final TornadoExecutionPlan plan;
        final String what;
        final List<IntConsumer> resize;
        final List<PartOut> outputs;
        final Consumer<Object[]> before;
        final Consumer<Object[]> after;

        Plan(TornadoExecutionPlan plan, String what, List<IntConsumer> resize, List<PartOut> outputs, Consumer<Object[]> before,
             Consumer<Object[]> after) {
            this.plan = plan;
            this.what = what;
            this.resize = List.copyOf(resize);
            this.outputs = List.copyOf(outputs);
            this.before = before;
            this.after = after;
        }

        /** Runs the plan for {@code units} units (tokens, copies or rows: at most the plan's capacity). */
        void run(int units, Object... args) {
            before.accept(args);
            resize.forEach(r -> r.accept(units));
            String call = what + " (" + units + ")";
            Plans.Fetch[] parts = new Plans.Fetch[outputs.size()];
            for (int i = 0; i < parts.length; i++) {
                parts[i] = new Plans.Fetch(outputs.get(i).array(), units * outputs.get(i).perUnit());
            }
            Plans.run(plan, call, device, parts);
            after.accept(args);
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }
}
