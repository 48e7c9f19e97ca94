package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.cuda.w4a16.CudaW4A16Kernel;
import org.offload4j.cuda.w4a16.W4A16Launch;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;

/**
 * {@link CudaW4A16Kernel}'s host side through the {@link FakeCudaDriver}: the two kernels are
 * stubs that record their arguments (w4a16.cu's parameter lists, {@link W4A16Launch}), so what is
 * checked is what the launches are given (row chunks, workspace) and the weight's lifetime, not
 * the arithmetic (CudaW4A16KernelTest's, on a GPU).
 */
class W4A16FakeDriverTest {
    /** The arguments of one stage-1 launch that the checks read. */
    private record SplitK(long x, long ws, int rows, int n, int splits) {
    }

    private final List<SplitK> splitKs = Collections.synchronizedList(new ArrayList<>()); // concurrent runs add too
    /** What a stage-1 launch does besides recording its arguments: a test's hook to hold a run inside. */
    private volatile Runnable insideSplitK = () -> { };
    private final List<Long> reduceWorkspaces = new ArrayList<>();
    private final AtomicInteger memAllocs = new AtomicInteger();
    private FakeCudaDriver driver;
    private CudaDevice device;

    @BeforeEach
    void open() {
        driver = new FakeCudaDriver() {
            @Override
            public synchronized long memAlloc(long bytes) {
                memAllocs.incrementAndGet();
                return super.memAlloc(bytes);
            }
        };
        driver.kernel(KernelName.W4A16_SPLITK_BF16.symbol(), (a, gx, gy, gz, bx, smem) ->
        {
            splitKs.add(new SplitK(a[0], a[5], (int) a[6], (int) a[7], (int) a[10]));
            insideSplitK.run();
        });
        driver.kernel(KernelName.W4A16_REDUCE_BF16.symbol(), (a, gx, gy, gz, bx, smem) -> reduceWorkspaces.add(a[0]));
        device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
    }

    @AfterEach
    void close() {
        device.close();
    }

    /**
     * More rows than one launch takes: the chunks cover x's rows in order, and all of them use one
     * workspace, allocated once and large enough for each (every chunk once took a lane slot of
     * its own, all held at once).
     */
    @Test
    void rowChunksShareOneWorkspaceThatFitsEach() {
        int m = W4A16Launch.MAX_GRID_Y * W4A16Launch.TILE_M + 5; // a full chunk, then 5 rows
        int k = 8;
        int n = 8;
        CudaW4A16Kernel kernel = new CudaW4A16Kernel(device);
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), 1, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 8, false, DType.FP16);
             PackedWeight pw = kernel.prepack(qw);
             Tensor x = Tensor.allocate(DType.BF16, m, k);
             Tensor y = Tensor.allocate(DType.BF16, m, n)) {
            int before = memAllocs.get();
            kernel.matmul(x, pw, null, y);
            assertEquals(3, memAllocs.get() - before, "x and y staged, one workspace");
            assertEquals(2, splitKs.size(), "chunks: " + splitKs);
            long ws = splitKs.getFirst().ws();
            long wsBytes = driver.allocations.get(ws).byteSize();
            long nextRow = 0;
            for (SplitK s : splitKs) {
                assertEquals(ws, s.ws(), "the same workspace for every chunk: " + splitKs);
                assertTrue(4L * s.splits() * s.rows() * s.n() <= wsBytes, s + " fits the " + wsBytes + " bytes");
                assertEquals(splitKs.getFirst().x() + nextRow * k * 2, s.x(), "chunks in order, no gap: " + splitKs);
                nextRow += s.rows();
            }
            assertEquals(m, nextRow, "the chunks cover every row");
            assertEquals(List.of(ws, ws), reduceWorkspaces, "each reduce reads that workspace");
        }
    }

    /** A small asymmetric weight: qweight, zeros and scales, three device buffers. */
    private static QuantizedWeight smallWeight() {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 256, 64), 3, 0.05)) {
            return RtnQuantizer.quantize(wf, 64, false, DType.FP16);
        }
    }

    private static void matmul(CudaW4A16Kernel kernel, PackedWeight pw, int m) {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, pw.k()), 4, 1.0);
             Tensor y = Tensor.allocate(DType.BF16, m, pw.n())) {
            kernel.matmul(x, pw, null, y);
        }
    }

    @Test
    void aRunOnAClosedWeightIsRefusedByNameAndLaunchesNothing() {
        CudaW4A16Kernel kernel = new CudaW4A16Kernel(device);
        try (QuantizedWeight qw = smallWeight()) {
            PackedWeight pw = kernel.prepack(qw);
            pw.close();
            var e = assertThrows(IllegalStateException.class, () -> matmul(kernel, pw, 2));
            assertEquals(pw + " is closed", e.getMessage());
            assertEquals(List.of(), splitKs, "no launch");
        }
    }

    /** close() waits for a run whose kernels read the weight: freeing it under them was a use after free. */
    @Test
    void closeWaitsForARunInside() throws Exception {
        CudaW4A16Kernel kernel = new CudaW4A16Kernel(device);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        insideSplitK = () -> {
            inside.countDown();
            awaitOrFail(leave);
        };
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try (QuantizedWeight qw = smallWeight()) {
            PackedWeight pw = kernel.prepack(qw);
            Future<?> run = threads.submit(() -> matmul(kernel, pw, 2));
            awaitOrFail(inside);
            long frees = driver.frees.get();
            AtomicReference<Thread> closer = new AtomicReference<>();
            Future<?> close = threads.submit(() -> {
                closer.set(Thread.currentThread());
                pw.close();
            });
            Thread.State state = stateOnceBlockedOrDone(close, closer);
            assertNotEquals(Thread.State.TERMINATED, state, "close() returned while a run was inside");
            assertEquals(frees, driver.frees.get(), "nothing freed under the run");
            leave.countDown();
            run.get(10, TimeUnit.SECONDS);
            close.get(10, TimeUnit.SECONDS);
            assertEquals(frees + 3, driver.frees.get(), "qweight, zeros and scales freed after the run");
        } finally {
            leave.countDown();
            threads.shutdownNow();
        }
    }

    /** Two runs on one weight are inside their kernels at once: the guard does not serialize them. */
    @Test
    void runsOnOneWeightStayConcurrent() throws Exception {
        CudaW4A16Kernel kernel = new CudaW4A16Kernel(device);
        CyclicBarrier bothInside = new CyclicBarrier(2);
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try (QuantizedWeight qw = smallWeight(); PackedWeight pw = kernel.prepack(qw)) {
            matmul(kernel, pw, 2); // functions looked up before the threads race
            insideSplitK = () -> {
                try {
                    bothInside.await(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError("the other run never came inside", e);
                }
            };
            Future<?> a = threads.submit(() -> matmul(kernel, pw, 2));
            Future<?> b = threads.submit(() -> matmul(kernel, pw, 3));
            a.get(20, TimeUnit.SECONDS);
            b.get(20, TimeUnit.SECONDS);
            assertEquals(3, splitKs.size());
        } finally {
            threads.shutdownNow();
        }
    }

    private static void awaitOrFail(CountDownLatch latch) {
        try {
            assertTrue(latch.await(10, TimeUnit.SECONDS), "timed out");
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /** The state of the thread running {@code task} once it is blocked (waiting) or has finished. */
    private static Thread.State stateOnceBlockedOrDone(Future<?> task, AtomicReference<Thread> thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (task.isDone()) {
                return Thread.State.TERMINATED;
            }
            Thread t = thread.get();
            if (t != null && (t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING)) {
                return t.getState();
            }
            Thread.sleep(1);
        }
        throw new AssertionError("neither blocked nor done in 10 s");
    }
}
