package org.offload4j.tornado;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.offload4j.core.Settings;
import org.offload4j.core.Tensor;
import uk.ac.manchester.tornado.api.DataRange;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid3D;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.ProfilerMode;
import uk.ac.manchester.tornado.api.enums.TornadoVMBackendType;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

/**
 * Running TornadoVM execution plans without a silent fallback, caching them, and moving tensors
 * in and out of TornadoVM's off-heap arrays.
 *
 * <p><b>The check on every run.</b> TornadoVM, by default, runs a task graph it cannot compile as
 * sequential Java and only prints a warning. The provider turns that recovery off
 * ({@code tornado.recover.bailout=False}), so a failed compilation throws; and every plan runs
 * with TornadoVM's profiler on ({@link ProfilerMode#SILENT}), so that after each
 * {@link #run} the device kernel time proves a kernel ran on the device. Either failure becomes a
 * {@link TornadoKernelException} that names the kernel, the device and TornadoVM's reason.
 *
 * <p><b>Plans are cached per shape.</b> TornadoVM compiles a task graph on its first execution
 * (a second or more); a kernel object keeps its recent plans, keyed by everything that shapes
 * the graph, and reuses their device buffers, so the data that does not change between calls
 * (weights, tables) is sent once ({@code FIRST_EXECUTION}) and intermediates never leave the device.
 */
final class Plans {
    private static final AtomicLong IDS = new AtomicLong();
    /**
     * {@code -Doffload.tornado.profile=true}: one line per run on stderr with TornadoVM's time
     * breakdown; a value other than true or false is logged (Settings.flag), not taken as false silently.
     */
    private static final boolean PROFILE = Settings.flag("offload.tornado.profile");

    private Plans() {}

    /**
     * The element count of a TornadoVM array of {@code factors} (product), for {@code what}:
     * TornadoVM's arrays and the kernels' indices are int, so a larger one is refused here, naming
     * it, instead of a wrapped-around size (an array too small, then an IndexOutOfBoundsException
     * or a write past its end on the device).
     */
    static int elements(String what, long... factors) {
        long n = product(factors);
        if (n > Integer.MAX_VALUE) {
            throw new UnsupportedOperationException(what + " needs " + (n == Long.MAX_VALUE ? "more than 2^63" : String.valueOf(n))
                    + " elements; a TornadoVM array holds at most " + Integer.MAX_VALUE + ": split the call");
        }
        return (int) n;
    }

    /** The product of non-negative {@code factors}; {@link Long#MAX_VALUE} where it overflows a long. */
    private static long product(long... factors) {
        long n = 1;
        for (long f : factors) {
            if (f == 0) {
                return 0;
            }
        }
        try {
            for (long f : factors) {
                n = Math.multiplyExact(n, f);
            }
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
        return n;
    }

    /**
     * The capacity of a plan for a size that varies from call to call (attention's key length,
     * W4A16's rows): the next power of two (at least 1). A plan holds its arrays for the capacity
     * and takes the call's size as data, so a size that grows by one per call (decode) compiles a
     * plan only when it doubles (about log2 of it in all), at the price of up to twice the array.
     * Callers fall back to the exact size where the capacity's arrays would not fit an int but
     * the call's do, so rounding up never refuses a call that fits.
     */
    static int capacity(int size) {
        if (size <= 1) {
            return 1;
        }
        int p = Integer.highestOneBit(size - 1) << 1;
        return p > 0 ? p : size; // above 2^30: exactly the size
    }

    /**
     * The capacity of a plan for {@code count} units (tokens, rows, copies) whose arrays hold
     * {@code count · perUnit[i]} elements each: {@link #capacity(int)}, or exactly {@code count}
     * where one of the rounded-up arrays would not fit an int-indexed array.
     */
    static int capacity(int count, long... perUnit) {
        int rounded = capacity(count);
        for (long n : perUnit) {
            if (!fits(new long[] {rounded, n})) {
                return count;
            }
        }
        return rounded;
    }

    /** Whether every product of {@code factors} rows (each a list of factors) fits a TornadoVM array. */
    static boolean fits(long[]... arrays) {
        for (long[] factors : arrays) {
            if (product(factors) > Integer.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    /** A fresh task-graph name: TornadoVM keys compiled code and buffers by it. */
    static String graphName(String op) {
        return op + IDS.incrementAndGet();
    }

    /**
     * OpenCL build options of every plan: TornadoVM's default adds {@code -cl-fast-relaxed-math},
     * which lets the OpenCL compiler assume that no value is NaN or infinite. On PoCL that folded
     * {@code v != v} in {@link Codec#encode16} to false, so an attention row that was NaN came out
     * as a finite bf16 value (found by {@code TornadoAttentionTest.nanCodesReachExactlyTheRowsThatSeeThem});
     * the ops' contracts let non-finite values propagate, so the kernels are built without it
     * ({@code -cl-mad-enable} stays: it may fuse a·b + c, which changes no NaN or infinity).
     * PTX and SPIR-V keep TornadoVM's defaults. This overrides {@code -Dtornado.opencl.compiler.flags}.
     */
    static final String OPENCL_FLAGS = "-cl-mad-enable -w";

    /** An execution plan on {@code device}, profiled (for the check in {@link #run}), built with {@link #OPENCL_FLAGS}. */
    static TornadoExecutionPlan plan(TornadoDevice device, uk.ac.manchester.tornado.api.ImmutableTaskGraph graph) {
        return new TornadoExecutionPlan(graph).withDevice(device).withProfiler(ProfilerMode.SILENT)
                .withCompilerFlags(TornadoVMBackendType.OPENCL, OPENCL_FLAGS);
    }

    /** An output declared {@code UNDER_DEMAND}, of which the first {@code elements} come back after a run. */
    record Fetch(TornadoNativeArray array, long elements) {}

    /**
     * Executes {@code plan}, checks that a kernel ran on {@code device}, then copies back the
     * first {@code elements} of each of {@code fetches} (outputs declared {@code UNDER_DEMAND}:
     * a plan built for a capacity moves the call's part of them, not the whole array).
     */
    static TornadoExecutionResult run(TornadoExecutionPlan plan, String what, TornadoDevice device, Fetch... fetches) {
        TornadoExecutionResult r;
        try {
            r = plan.execute();
        } catch (RuntimeException | uk.ac.manchester.tornado.api.exceptions.TornadoInternalError e) {
            // TornadoInternalError is an Error (TornadoVM's assertion failures): wrapped too, so that it
            // names the op, its shape and the device like every other failure.
            throw new TornadoKernelException("TornadoVM could not compile or run " + what + " on " + describe(device)
                    + ": " + reason(e) + " (run with -Dtornado.debug=True or --printKernel for its log)", e);
        }
        long kernelNanos = r.getProfilerResult() == null ? 0 : r.getProfilerResult().getDeviceKernelTime();
        if (kernelNanos <= 0) {
            throw new TornadoKernelException("TornadoVM ran " + what + " but reports no kernel time on " + describe(device)
                    + ": the task graph did not run on the device", null);
        }
        long fetchStart = System.nanoTime();
        for (Fetch f : fetches) {
            fetch(r, f, what, device);
        }
        long fetchNanos = System.nanoTime() - fetchStart;
        if (PROFILE) {
            // The on-demand copies back are not in TornadoVM's profile of the run: their wall time is added.
            var p = r.getProfilerResult();
            System.err.printf("tornado profile %s: total %.3f ms, kernels %.3f ms, to device %.3f ms, to host %.3f ms"
                            + " (of which %.3f ms wall time copying the call's rows back on demand), dispatch %.3f ms%n%s%n",
                    what, (p.getTotalTime() + fetchNanos) / 1e6, kernelNanos / 1e6, p.getDeviceWriteTime() / 1e6,
                    (p.getDeviceReadTime() + fetchNanos) / 1e6, fetchNanos / 1e6,
                    (p.getKernelDispatchTime() + p.getDataTransferDispatchTime()) / 1e6, p.getProfileLog());
        }
        return r;
    }

    private static void fetch(TornadoExecutionResult result, Fetch f, String what, TornadoDevice device) {
        if (f.elements() == 0) {
            return; // DataRange reads a size of 0 as "to the end of the array"
        }
        try {
            result.transferToHost(new DataRange(f.array()).withSize(f.elements()));
        } catch (RuntimeException | uk.ac.manchester.tornado.api.exceptions.TornadoInternalError e) {
            throw new TornadoKernelException("TornadoVM could not copy the result of " + what + " from " + describe(device)
                    + ": " + reason(e), e);
        }
    }

    static String describe(TornadoDevice device) {
        return device.getTornadoVMBackend() + " device '" + device.getPhysicalDevice().getDeviceName().trim() + "'";
    }

    /** The exception chain's messages, outermost first. */
    private static String reason(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 2000; t = t.getCause()) {
            if (!sb.isEmpty()) {
                sb.append(" <- ");
            }
            String msg = String.valueOf(t.getMessage());
            int cut = msg.indexOf("Stacktrace:");
            sb.append(t.getClass().getSimpleName()).append(": ").append((cut < 0 ? msg : msg.substring(0, cut)).strip());
        }
        return sb.toString();
    }

    /**
     * The launch shape of every task in one graph. Element-wise steps are {@code KernelContext}
     * kernels with one work-item per element and no loop ({@link #items}), not {@code @Parallel}
     * loops: TornadoVM launches a {@code @Parallel} loop on a CPU device with one work-item per
     * compute unit (2 here), each walking its share serially, and even with a full grid the loop
     * stays a loop inside each work-item, which keeps PoCL from vectorizing across work-items
     * ("could not determine number of loop iterations"). The Hadamard bf16 store pass (2^24
     * elements) took 390 ms the first way, 138 ms with the new encoder ({@link Codec#encode16}),
     * and 46–51 ms with that encoder in a loop-free kernel.
     */
    static final class Grids {
        /** Work-items per group for element-wise kernels: a multiple of every SIMD width and GPU warp. */
        static final int ITEM_GROUP = 256;
        /** The largest grid extent in y and z that every device takes (CUDA's {@code gridDim.y} and {@code .z}). */
        static final int MAX_GRID_YZ = 65535;

        private final String graph;
        private final GridScheduler scheduler = new GridScheduler();
        /**
         * Each task's work-group size, kept here: TornadoVM may clear a grid's local work (when it
         * exceeds the device's limit) and let the driver choose, so it cannot be read back.
         */
        private final Map<String, long[]> groupSizes = new HashMap<>();

        /**
         * The fold limit of this graph's launches ({@link #gridYz}), read once: a table sized for
         * the folded launches of a plan ({@link #foldedSlots}) holds only while every later
         * launch folds the same way.
         */
        private final int foldLimit;

        Grids(String graph) {
            this.graph = graph;
            this.foldLimit = gridYz();
        }

        /** Task {@code task}, an element-wise kernel over {@code count} items ({@code if (ctx.globalIdx < count)}). */
        Grids items(String task, long count) {
            long groups = Math.max(1, (count + ITEM_GROUP - 1) / ITEM_GROUP);
            return groups(task, groups, ITEM_GROUP);
        }

        /** Task {@code task}, a {@code KernelContext} kernel: {@code groups} work-groups of {@code groupSize}. */
        Grids groups(String task, long groups, int groupSize) {
            WorkerGrid1D grid = new WorkerGrid1D(Math.toIntExact(groups * groupSize));
            grid.setLocalWork(groupSize, 1, 1);
            scheduler.addWorkerGrid(graph + "." + task, grid);
            groupSizes.put(task, new long[] {groupSize, 1});
            return this;
        }

        /**
         * Relaunches task {@code task} (added by {@link #items} or {@link #groups}) with
         * {@code groups} work-groups of its group size from the next run on: TornadoVM reads a
         * task's worker grid at every launch (OpenCL and PTX alike), so a plan built for a
         * capacity runs only the call's work.
         */
        void regroup(String task, long groups) {
            long[] local = groupSizes.get(task);
            scheduler.get(graph + "." + task).setGlobalWork(Math.toIntExact(Math.max(1, groups) * local[0]), 1, 1);
        }

        /** {@link #regroup} for an element-wise task over {@code count} items. */
        void reitem(String task, long count) {
            regroup(task, (count + ITEM_GROUP - 1) / ITEM_GROUP);
        }

        /**
         * Task {@code task}, a 2-D {@code KernelContext} kernel of {@code gx × gy} work-groups of
         * {@code lx × ly}, with the gy groups folded into y and z so that neither exceeds
         * {@link #MAX_GRID_YZ} (CUDA's limit on a grid's y and z extent, where TornadoVM's PTX back
         * end clamps a larger extent without a word, and groups past it would never run). The
         * kernel's group index in y is {@code groupIdz · (globalGroupSizeY / localGroupSizeY) +
         * groupIdy} (with {@code ly = 1}: {@code globalIdz · globalGroupSizeY + globalIdy}), and up
         * to {@link #foldedSlots(long)}{@code (gy)} of them run, fewer than z past gy: the kernel
         * drops those, or finds them in a table that says they have no work.
         */
        Grids groupsFolded(String task, long gx, long gy, int lx, int ly) {
            WorkerGrid3D grid = new WorkerGrid3D(Math.toIntExact(gx * lx), ly, 1);
            grid.setLocalWork(lx, ly, 1);
            scheduler.addWorkerGrid(graph + "." + task, grid);
            groupSizes.put(task, new long[] {lx, ly});
            regroupFolded(task, gx, gy);
            return this;
        }

        /** {@link #groupsFolded} launched for {@code gx × gy} groups from the next run on. */
        void regroupFolded(String task, long gx, long gy) {
            long[] local = groupSizes.get(task);
            long[] yz = rowsYz(gy, foldLimit);
            scheduler.get(graph + "." + task).setGlobalWork(Math.toIntExact(Math.max(1, gx) * local[0]),
                    Math.toIntExact(yz[0] * local[1]), Math.toIntExact(yz[1]));
        }

        /**
         * The folded group indices a launch for up to {@code groups} groups reaches ({@code y·z}):
         * the size of a table indexed by them. It never shrinks as {@code groups} grows, so a table
         * sized for a capacity serves every smaller launch.
         */
        int foldedSlots(long groups) {
            return foldedSlots(groups, foldLimit);
        }

        /** {@link #foldedSlots(long)} under fold limit {@code limit}. */
        static int foldedSlots(long groups, long limit) {
            long[] yz = rowsYz(groups, limit);
            return Math.toIntExact(yz[0] * yz[1]);
        }

        /**
         * The extent that y and z are kept within: {@link #MAX_GRID_YZ}, or less with
         * {@code -Doffload.tornado.gridYz=N} (for tests: it folds small launches into z, so that
         * the z path runs on any device). Each {@code Grids}, so each plan, reads it once, when it is
         * built.
         */
        static int gridYz() {
            return Settings.integer("offload.tornado.gridYz", MAX_GRID_YZ, 1, MAX_GRID_YZ);
        }

        /**
         * {@code {y, z}} with {@code y ≤ limit} and {@code rows ≤ y·z < rows + z}; z stays within
         * the limit while rows ≤ limit², which always holds at the real limit (65535² > 2^31).
         */
        static long[] rowsYz(long rows, long limit) {
            long r = Math.max(1, rows);
            long z = (r + limit - 1) / limit;
            long y = (r + z - 1) / z;
            return new long[] {y, z};
        }

        GridScheduler scheduler() {
            return scheduler;
        }
    }

    /** A small LRU map of plans that closes what it evicts. Not thread-safe: kernels synchronize. */
    static final class Cache<K, V extends AutoCloseable> {
        private final Map<K, V> map;

        Cache(int capacity) {
            this.map = new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                    if (size() > capacity) {
                        closeQuietly(eldest.getValue());
                        return true;
                    }
                    return false;
                }
            };
        }

        V get(K key, Supplier<V> make) {
            V v = map.get(key);
            if (v == null) {
                v = make.get();
                map.put(key, v);
            }
            return v;
        }

        void clear() {
            map.values().forEach(Cache::closeQuietly);
            map.clear();
        }

        static void closeQuietly(AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                // A plan that fails to free its device memory is not worth failing the next call for.
            }
        }
    }

    // ---- host copies: strided tensor rows <-> contiguous TornadoVM arrays ----

    static void load(Tensor t, ShortArray a) {
        copyIn(t, a.getSegment(), 2, 0);
    }

    static void load(Tensor t, FloatArray a) {
        copyIn(t, a.getSegment(), 4, 0);
    }

    static void load(Tensor t, ByteArray a) {
        copyIn(t, a.getSegment(), 1, 0);
    }

    /** An INT32 tensor's rows into {@code a} from element {@code at} on (MoE experts side by side). */
    static void load(Tensor t, IntArray a, long at) {
        copyIn(t, a.getSegment(), 4, 4 * at);
    }

    /**
     * The first {@code rowsPerBlock} rows of each of {@code blocks} blocks of {@code t} (block
     * {@code i} starting at row {@code i · srcStride} of {@code t}: a KV cache's heads) into
     * {@code a}, block {@code i} starting at row {@code i · dstStride} (a plan's capacity layout).
     * The rows between are neither read nor written.
     */
    static void loadBlocks(Tensor t, ByteArray a, long blocks, long rowsPerBlock, long srcStride, long dstStride) {
        MemorySegment dst = a.getSegment();
        long rowBytes = t.cols();
        boolean packedRows = t.isContiguous(); // then a block's rows are one run of memory
        for (long block = 0; block < blocks; block++) {
            long from = block * srcStride;
            long to = block * dstStride * rowBytes;
            if (packedRows) {
                MemorySegment.copy(t.segment(), t.rowByteOffset(from), dst, to, rowsPerBlock * rowBytes);
                continue;
            }
            for (long r = 0; r < rowsPerBlock; r++) {
                MemorySegment.copy(t.segment(), t.rowByteOffset(from + r), dst, to + r * rowBytes, rowBytes);
            }
        }
    }

    static void store(ShortArray a, Tensor t) {
        copyOut(a.getSegment(), t, 2);
    }

    static void store(FloatArray a, Tensor t) {
        copyOut(a.getSegment(), t, 4);
    }

    private static void copyIn(Tensor t, MemorySegment dst, int elementBytes, long dstOffset) {
        long rowBytes = t.cols() * elementBytes;
        if (t.isContiguous()) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(0), dst, dstOffset, rowBytes * t.rows());
            return;
        }
        for (long r = 0; r < t.rows(); r++) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(r), dst, dstOffset + r * rowBytes, rowBytes);
        }
    }

    private static void copyOut(MemorySegment src, Tensor t, int elementBytes) {
        long rowBytes = t.cols() * elementBytes;
        if (t.isContiguous()) {
            MemorySegment.copy(src, 0, t.segment(), t.rowByteOffset(0), rowBytes * t.rows());
            return;
        }
        for (long r = 0; r < t.rows(); r++) {
            MemorySegment.copy(src, r * rowBytes, t.segment(), t.rowByteOffset(r), rowBytes);
        }
    }
}
