package org.offload4j.tornado;

import java.util.Arrays;
import org.offload4j.core.Floors;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The TornadoVM device's ceilings, each measured with a TornadoVM kernel on the device and timed
 * by TornadoVM's profiler as device kernel time: what the device itself can do, without the host
 * copies into and out of TornadoVM's arrays that every op's end-to-end time includes. So the
 * bench's "% floor" for this backend also shows what those copies cost.
 * <ul>
 *   <li>copy: {@code out[i] = in[i]} over {@value #STREAM_FLOATS} floats (256 MiB each way);
 *   <li>in place: {@code x[i] = −x[i]} over the same;
 *   <li>FMA peak, also used as the matrix rate: {@value #FMA_ITEMS} work-items, each
 *       {@value #FMA_CHAINS} independent multiply-add chains of {@value #FMA_STEPS} steps in
 *       registers: what the device's arithmetic gives to TornadoVM's code.
 * </ul>
 * Each is the median of {@value #RUNS} runs after {@value #WARMUPS} (the first compiles).
 */
final class TornadoFloors implements Floors {
    static final int STREAM_FLOATS = 1 << 26;
    static final int FMA_ITEMS = 1 << 18;
    static final int FMA_CHAINS = 8;
    static final int FMA_STEPS = 1024;
    private static final int WARMUPS = 2;
    private static final int RUNS = 5;

    private final TornadoDevice device;
    /** Measured once: {@link #matmulFlopsPerSecond} reports the same figure. */
    private double fmaPeak = Double.NaN;

    TornadoFloors(TornadoDevice device) {
        this.device = device;
    }

    static void copy(KernelContext ctx, FloatArray in, FloatArray out, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            out.set(i, in.get(i));
        }
    }

    static void negate(KernelContext ctx, FloatArray x, int n) {
        int i = ctx.globalIdx;
        if (i < n) {
            x.set(i, -x.get(i));
        }
    }

    /** {@value #FMA_CHAINS} independent chains {@code a = a · m + c}; the sum is stored so that nothing is dead. */
    static void fmaChains(KernelContext ctx, FloatArray out, FloatArray mc, int steps) {
        int i = ctx.globalIdx;
        float m = mc.get(0);
        float c = mc.get(1);
        float a0 = i;
        float a1 = a0 + 1.0f;
        float a2 = a0 + 2.0f;
        float a3 = a0 + 3.0f;
        float a4 = a0 + 4.0f;
        float a5 = a0 + 5.0f;
        float a6 = a0 + 6.0f;
        float a7 = a0 + 7.0f;
        for (int t = 0; t < steps; t++) {
            a0 = a0 * m + c;
            a1 = a1 * m + c;
            a2 = a2 * m + c;
            a3 = a3 * m + c;
            a4 = a4 * m + c;
            a5 = a5 * m + c;
            a6 = a6 * m + c;
            a7 = a7 * m + c;
        }
        out.set(i, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    @Override
    public double copyBytesPerSecond() {
        FloatArray in = filled(STREAM_FLOATS);
        FloatArray out = new FloatArray(STREAM_FLOATS);
        String name = Plans.graphName("floorCopy");
        TaskGraph g = new TaskGraph(name)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, in, out)
                .task("t", TornadoFloors::copy, new KernelContext(), in, out, STREAM_FLOATS);
        return 2.0 * 4 * STREAM_FLOATS / medianKernelSeconds(g, new Plans.Grids(name).items("t", STREAM_FLOATS), "the copy ceiling");
    }

    @Override
    public double inPlaceBytesPerSecond() {
        FloatArray x = filled(STREAM_FLOATS);
        String name = Plans.graphName("floorInPlace");
        TaskGraph g = new TaskGraph(name)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, x)
                .task("t", TornadoFloors::negate, new KernelContext(), x, STREAM_FLOATS);
        return 2.0 * 4 * STREAM_FLOATS / medianKernelSeconds(g, new Plans.Grids(name).items("t", STREAM_FLOATS), "the in-place ceiling");
    }

    /**
     * The FMA peak, not a matrix product: this backend's own GEMM (the MoE op's tiled kernel)
     * reached 4.3 GFLOP/s on PoCL against 29 for the FMA chains, and a floor made from it would
     * put slow kernels "at the floor".
     */
    @Override
    public double matmulFlopsPerSecond() {
        return fmaPeakFlopsPerSecond();
    }

    @Override
    public synchronized double fmaPeakFlopsPerSecond() {
        if (Double.isNaN(fmaPeak)) {
            fmaPeak = measureFmaPeak();
        }
        return fmaPeak;
    }

    private double measureFmaPeak() {
        FloatArray out = new FloatArray(FMA_ITEMS);
        FloatArray mc = FloatArray.fromElements(0.999f, 0.001f); // runtime values: nothing folds
        String name = Plans.graphName("floorFma");
        TaskGraph g = new TaskGraph(name)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, out, mc)
                .task("t", TornadoFloors::fmaChains, new KernelContext(), out, mc, FMA_STEPS);
        return 2.0 * FMA_CHAINS * FMA_STEPS * FMA_ITEMS / medianKernelSeconds(g, new Plans.Grids(name).items("t", FMA_ITEMS),
                "the FMA peak");
    }

    @Override
    public String method() {
        return "TornadoVM kernels on the device, profiler device kernel time (no host copies), median of " + RUNS
                + ": copy and x = -x over 2^26 floats; FMA peak (also the matmul rate): " + FMA_CHAINS + " chains of "
                + FMA_STEPS + " multiply-adds in each of 2^18 work-items";
    }

    private static FloatArray filled(int n) {
        FloatArray a = new FloatArray(n);
        a.init(1.5f); // never time zeros
        return a;
    }

    private double medianKernelSeconds(TaskGraph g, Plans.Grids grids, String what) {
        double[] seconds = new double[RUNS];
        try (TornadoExecutionPlan plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler())) {
            for (int i = 0; i < WARMUPS + RUNS; i++) {
                long nanos = Plans.run(plan, what, device).getProfilerResult().getDeviceKernelTime();
                if (i >= WARMUPS) {
                    seconds[i - WARMUPS] = nanos * 1e-9;
                }
            }
        } catch (TornadoKernelException e) {
            throw e;
        } catch (Exception e) {
            throw new TornadoKernelException("TornadoVM failed measuring " + what + " on " + Plans.describe(device) + ": " + e, e);
        }
        Arrays.sort(seconds);
        return seconds[RUNS / 2];
    }
}
