package org.offload4j.tornado;

import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.core.Tensor;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * FP8 attention on TornadoVM ({@link AttentionKernels} has the device code). One plan per shape,
 * mask and split count, cached; the softmax scale and the fp8 scales are data, not compiled in.
 * The first pass aims at {@link AttentionKernels#GROUPS_PER_UNIT} work-groups per compute unit of
 * the device; {@code -Doffload.tornado.attention.groups=N} sets that total instead (read at every
 * call; the tests use it to split the keys on PoCL's 2 compute units).
 */
final class TornadoAttentionKernel implements AttentionKernel {
    private final TornadoDevice device;
    private final Plans.Cache<Key, Plan> plans = new Plans.Cache<>(6);
    /** The device's compute units, asked once (0: not yet). */
    private int computeUnits;

    TornadoAttentionKernel(TornadoDevice device) {
        this.device = device;
    }

    private record Key(AttentionShape shape, boolean causal, int splits) {}

    @Override
    public synchronized void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal,
                                     float softmaxScale, Tensor out, Tensor lse) {
        if ((long) shape.batch() * shape.qHeads() * shape.qLen() == 0) {
            return;
        }
        int rows = shape.batch() * shape.qHeads() * shape.qLen();
        int splits = AttentionKernels.splits(rows, shape.kvLen(), shape.headDim(), targetGroups());
        plans.get(new Key(shape, causal, splits), () -> new Plan(shape, causal, splits)).run(q, k, v, softmaxScale, out, lse);
    }

    private int targetGroups() {
        String forced = System.getProperty("offload.tornado.attention.groups", "");
        if (!forced.isEmpty()) {
            try {
                int n = Integer.parseInt(forced);
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("-Doffload.tornado.attention.groups=" + forced + ": expected a positive integer");
        }
        if (computeUnits == 0) {
            computeUnits = Math.max(1, device.getPhysicalDevice().getDeviceMaxComputeUnits());
        }
        return AttentionKernels.GROUPS_PER_UNIT * computeUnits;
    }

    private final class Plan implements AutoCloseable {
        final AttentionShape s;
        final ByteArray q8;
        final ByteArray k8;
        final ByteArray v8;
        final FloatArray qs;
        final FloatArray kvs;
        final FloatArray params = new FloatArray(1);
        final FloatArray pm;
        final FloatArray pl;
        final FloatArray pacc;
        final ShortArray out16;
        final FloatArray lse32;
        final TornadoExecutionPlan plan;
        final String what;

        Plan(AttentionShape s, boolean causal, int splits) {
            this.s = s;
            int d = s.headDim();
            int rows = Plans.elements("attention rows (batch · q heads · q len)", s.batch(), s.qHeads(), s.qLen());
            int kvElements = Plans.elements("attention K and V (batch · kv heads · kv len · d)", s.batch(), s.kvHeads(), s.kvLen(), d);
            this.what = "fp8 attention " + s + (causal ? " causal" : "") + (splits > 1 ? ", " + splits + " key splits" : "");
            q8 = new ByteArray(Plans.elements("attention Q (batch · q heads · q len · d)", rows, d));
            k8 = new ByteArray(Math.max(1, kvElements));
            v8 = new ByteArray(Math.max(1, kvElements));
            qs = new FloatArray(s.batch() * s.qHeads());
            kvs = new FloatArray(2 * s.batch() * s.kvHeads());
            out16 = new ShortArray(rows * d); // rows · d fits: Q has as many
            lse32 = new FloatArray(rows);
            int chunk = AttentionKernels.chunk(s.kvLen(), d, splits);
            // The partial results exist only with more than one split (one split writes out and lse itself).
            int parts = splits > 1 ? Plans.elements("attention split partials", rows, splits) : 1;
            pm = new FloatArray(parts);
            pl = new FloatArray(parts);
            pacc = new FloatArray(Plans.elements("attention split accumulators", parts, splits > 1 ? d : 1));
            FloatArray lut = Codec.e4m3Table();
            FloatArray pow2 = Codec.pow2Table();
            IntArray dims = IntArray.fromElements(s.batch(), s.qHeads(), s.kvHeads(), s.qLen(), s.kvLen(), d, causal ? 1 : 0,
                    splits, chunk);
            String name = Plans.graphName("attention");
            TaskGraph g = new TaskGraph(name)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, lut, pow2, dims, pm, pl, pacc) // pm, pl, pacc: device-only
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, q8, k8, v8, qs, kvs, params)
                    .task("partial", AttentionKernels::partial, new KernelContext(), q8, k8, v8, qs, kvs, params, lut, pow2,
                            pm, pl, pacc, out16, lse32, dims);
            Plans.Grids grids = new Plans.Grids(name).groups("partial", (long) rows * splits, d);
            if (splits > 1) {
                g.task("combine", AttentionKernels::combine, new KernelContext(), pm, pl, pacc, kvs, pow2, out16, lse32,
                        s.batch(), s.qHeads(), s.kvHeads(), s.qLen(), s.kvLen(), d, causal ? 1 : 0, splits);
                grids.groups("combine", rows, d);
            }
            g.transferToHost(DataTransferMode.EVERY_EXECUTION, out16, lse32);
            plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler());
        }

        void run(Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, float softmaxScale, Tensor out, Tensor lse) {
            Plans.load(q.data(), q8);
            if (s.kvLen() > 0) {
                Plans.load(k.data(), k8);
                Plans.load(v.data(), v8);
            }
            int kvPairs = s.batch() * s.kvHeads();
            for (int b = 0; b < s.batch(); b++) {
                for (int h = 0; h < s.qHeads(); h++) {
                    qs.set(b * s.qHeads() + h, q.scale(b, h));
                }
                for (int g = 0; g < s.kvHeads(); g++) {
                    kvs.set(b * s.kvHeads() + g, k.scale(b, g));
                    kvs.set(kvPairs + b * s.kvHeads() + g, v.scale(b, g));
                }
            }
            params.set(0, softmaxScale);
            Plans.run(plan, what, device);
            Plans.store(out16, out);
            if (lse != null) {
                Plans.store(lse32, lse);
            }
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }
}
