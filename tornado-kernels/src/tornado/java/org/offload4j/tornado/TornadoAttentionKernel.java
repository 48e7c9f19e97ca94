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
 * mask and split count, cached, with the key length and the query length each rounded up to a
 * capacity ({@link Plans#capacity}: the next power of two): the sizes the kernels loop over are
 * data ({@code dims}), so a decode loop whose key length grows by one per step reuses one
 * compiled plan until the length doubles, and prompts of 300 and 500 tokens share the 512-row
 * prefill plan, instead of compiling a graph (about a second on PoCL) per size. A call packs its
 * query rows first in the plan's arrays, launches its own rows' work-groups only
 * ({@link Plans.Grids#regroup}) and copies its own rows back ({@link Plans.Fetch}). The softmax
 * scale and the fp8 scales are data too. The first pass aims at
 * {@link AttentionKernels#GROUPS_PER_UNIT} work-groups per compute unit of the device, splitting
 * the keys as the capacity needs (a shorter call leaves the last splits empty);
 * {@code -Doffload.tornado.attention.groups=N} sets that total instead (read at every call; the
 * tests use it to split the keys on PoCL's 2 compute units).
 */
final class TornadoAttentionKernel implements AttentionKernel {
    private final TornadoDevice device;
    private final Plans.Cache<Key, Plan> plans = new Plans.Cache<>(6);
    /** The device's compute units, asked once (0: not yet). */
    private int computeUnits;
    /** Plans compiled so far (for tests). */
    private int plansBuilt;

    TornadoAttentionKernel(TornadoDevice device) {
        this.device = device;
    }

    /**
     * What a plan is compiled for: everything but the key and query lengths, which are only
     * bounded by {@code kvSlots}, the key rows per head of the plan's K and V arrays (not the
     * call's KV cache capacity, {@link AttentionShape#kvCapacity()}: only the call's keys are
     * copied in), and by {@code qSlots}, the query rows per head its arrays hold.
     */
    private record Key(int batch, int qHeads, int kvHeads, int qSlots, int headDim, int kvSlots, boolean causal, int splits) {}

    @Override
    public synchronized void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal,
                                     float softmaxScale, Tensor out, Tensor lse) {
        if ((long) shape.batch() * shape.qHeads() * shape.qLen() == 0) {
            return;
        }
        int kvSlots = kvSlots(shape.batch(), shape.kvHeads(), shape.kvLen(), shape.headDim());
        int qSlots = kvSlots(shape.batch(), shape.qHeads(), shape.qLen(), shape.headDim()); // the same rule for Q's rows
        int splits = AttentionKernels.splits(shape.batch() * shape.qHeads() * qSlots, kvSlots, shape.headDim(), targetGroups());
        Key key = new Key(shape.batch(), shape.qHeads(), shape.kvHeads(), qSlots, shape.headDim(), kvSlots, causal, splits);
        plans.get(key, () -> {
            plansBuilt++;
            return new Plan(key);
        }).run(shape, q, k, v, softmaxScale, out, lse);
    }

    /**
     * The key slots per head of the plan for {@code kvLen} keys: {@link Plans#capacity}, or exactly
     * {@code kvLen} where the rounded-up K and V would not fit an int-indexed array but the call's do.
     * (Q's rows per head likewise, with {@code heads} its heads and {@code kvLen} its length.)
     */
    static int kvSlots(int batch, int kvHeads, int kvLen, int d) {
        int rounded = Plans.capacity(kvLen);
        return Plans.fits(new long[] {batch, kvHeads, rounded, d}) ? rounded : kvLen;
    }

    /** Plans compiled by this kernel so far. */
    synchronized int plansBuilt() {
        return plansBuilt;
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
        final Key key;
        final ByteArray q8;
        final ByteArray k8;
        final ByteArray v8;
        final FloatArray qs;
        final FloatArray kvs;
        final FloatArray params = new FloatArray(1);
        final IntArray dims;
        final FloatArray pm;
        final FloatArray pl;
        final FloatArray pacc;
        final ShortArray out16;
        final FloatArray lse32;
        final TornadoExecutionPlan plan;
        final Plans.Grids grids;
        final String what;

        Plan(Key key) {
            this.key = key;
            int d = key.headDim();
            int splits = key.splits();
            int rows = Plans.elements("attention rows (batch · q heads · q slots " + key.qSlots() + ")", key.batch(), key.qHeads(),
                    key.qSlots());
            int kvElements = Plans.elements("attention K and V (batch · kv heads · key slots " + key.kvSlots() + " · d)",
                    key.batch(), key.kvHeads(), key.kvSlots(), d);
            this.what = "fp8 attention B=" + key.batch() + " Hq=" + key.qHeads() + " Hkv=" + key.kvHeads() + " Sq≤" + key.qSlots()
                    + " Skv≤" + key.kvSlots() + " D=" + d + (key.causal() ? " causal" : "") + (splits > 1 ? ", " + splits + " key splits" : "");
            q8 = new ByteArray(Plans.elements("attention Q (batch · q heads · q len · d)", rows, d));
            k8 = new ByteArray(kvElements);
            v8 = new ByteArray(kvElements);
            qs = new FloatArray(key.batch() * key.qHeads());
            kvs = new FloatArray(2 * key.batch() * key.kvHeads());
            out16 = new ShortArray(rows * d); // rows · d fits: Q has as many
            lse32 = new FloatArray(rows);
            dims = new IntArray(AttentionKernels.DIMS);
            // The partial results exist only with more than one split (one split writes out and lse itself).
            int parts = splits > 1 ? Plans.elements("attention split partials", rows, splits) : 1;
            pm = new FloatArray(parts);
            pl = new FloatArray(parts);
            pacc = new FloatArray(Plans.elements("attention split accumulators", parts, splits > 1 ? d : 1));
            FloatArray lut = Codec.e4m3Table();
            FloatArray pow2 = Codec.pow2Table();
            String name = Plans.graphName("attention");
            TaskGraph g = new TaskGraph(name)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, lut, pow2, pm, pl, pacc) // pm, pl, pacc: device-only
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, q8, k8, v8, qs, kvs, params, dims)
                    .task("partial", AttentionKernels::partial, new KernelContext(), q8, k8, v8, qs, kvs, params, lut, pow2,
                            pm, pl, pacc, out16, lse32, dims);
            grids = new Plans.Grids(name).groups("partial", (long) rows * splits, d);
            if (splits > 1) {
                g.task("combine", AttentionKernels::combine, new KernelContext(), pm, pl, pacc, kvs, pow2, out16, lse32, dims);
                grids.groups("combine", rows, d);
            }
            g.transferToHost(DataTransferMode.UNDER_DEMAND, out16, lse32);
            plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler());
        }

        void run(AttentionShape s, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, float softmaxScale, Tensor out, Tensor lse) {
            int d = key.headDim();
            Plans.load(q.data(), q8);
            if (s.kvLen() > 0) {
                long heads = (long) s.batch() * s.kvHeads();
                Plans.loadBlocks(k.data(), k8, heads, s.kvLen(), s.kvCapacity(), key.kvSlots());
                Plans.loadBlocks(v.data(), v8, heads, s.kvLen(), s.kvCapacity(), key.kvSlots());
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
            int[] values = {s.batch(), s.qHeads(), s.kvHeads(), s.qLen(), s.kvLen(), d, key.causal() ? 1 : 0, key.splits(),
                    AttentionKernels.chunk(s.kvLen(), d, key.splits()), key.kvSlots()};
            for (int i = 0; i < values.length; i++) {
                dims.set(i, values[i]);
            }
            int rows = s.batch() * s.qHeads() * s.qLen();
            grids.regroup("partial", (long) rows * key.splits());
            if (key.splits() > 1) {
                grids.regroup("combine", rows);
            }
            Plans.Fetch outRows = new Plans.Fetch(out16, (long) rows * d);
            String call = what + " (Sq=" + s.qLen() + ", Skv=" + s.kvLen() + ")";
            if (lse != null) {
                Plans.run(plan, call, device, outRows, new Plans.Fetch(lse32, rows));
            } else {
                Plans.run(plan, call, device, outRows);
            }
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
