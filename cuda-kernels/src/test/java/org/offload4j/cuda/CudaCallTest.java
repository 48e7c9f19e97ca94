package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;

/**
 * The staging and lifetime logic of {@link CudaCall}, {@link CudaDevice} and the buffers, on
 * {@link FakeCudaDriver}: a "negate" kernel that reads and writes through the addresses and
 * strides the call handed it, exactly as a CUDA kernel would.
 */
class CudaCallTest {
    private FakeCudaDriver driver;
    private CudaDevice device;

    /** negate(const float* in, float* out, int rows, int cols, int inStride, int outStride). */
    private static void negate(long[] a, int gx, int gy, int gz, int bx, int smem) {
        long in = a[0];
        long out = a[1];
        int rows = (int) a[2];
        int cols = (int) a[3];
        int inStride = (int) a[4];
        int outStride = (int) a[5];
        MemorySegment src = MemorySegment.ofAddress(in).reinterpret(4L * ((rows - 1L) * inStride + cols));
        MemorySegment dst = MemorySegment.ofAddress(out).reinterpret(4L * ((rows - 1L) * outStride + cols));
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                dst.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * outStride + c,
                        -src.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * inStride + c));
            }
        }
    }

    @BeforeEach
    void open() {
        driver = new FakeCudaDriver().kernel("negate", CudaCallTest::negate).kernel("noop", (a, gx, gy, gz, bx, s) -> { });
        device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1, 2, 3}, new Properties()));
    }

    @AfterEach
    void close() {
        device.close();
    }

    private void runNegate(Tensor in, Tensor out) {
        CudaFunction f = device.function("negate");
        try (CudaCall call = CudaCall.begin(device)) {
            long x = call.in(in);
            long y = call.out(out);
            call.params().pointer(x).pointer(y).i32((int) in.rows()).i32((int) in.cols())
                    .i32((int) in.rowStride()).i32((int) out.rowStride());
            call.launch(f, 1, 1, 1, 32, 1, 1, 0);
            call.finish();
        }
    }

    @Test
    void hostTensorsAreStagedAndCopiedBack() {
        try (Tensor in = Tensor.of(DType.FP32, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor out = Tensor.allocate(DType.FP32, 2, 3)) {
            runNegate(in, out);
            assertEquals(List.of(-1f, -2f, -3f, -4f, -5f, -6f), boxed(out.toFloatArray()));
        }
    }

    @Test
    void stridedHostOutputLeavesTheGapsBetweenRowsAlone() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment outMem = arena.allocate(4 * 15);
            for (int i = 0; i < 15; i++) {
                outMem.setAtIndex(ValueLayout.JAVA_FLOAT, i, 99f);
            }
            Tensor in = Tensor.of(DType.FP32, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3);
            Tensor out = Tensor.wrapStrided(outMem, DType.FP32, 5, 3, 3);
            runNegate(in, out);
            float[] all = outMem.toArray(ValueLayout.JAVA_FLOAT);
            assertEquals(List.of(-1f, -2f, -3f, 99f, 99f, -4f, -5f, -6f, 99f, 99f, -7f, -8f, -9f, 99f, 99f), boxed(all));
            in.close();
        }
    }

    @Test
    void inPlaceUsesOneDeviceCopy() {
        try (Tensor t = Tensor.of(DType.FP32, new float[] {1, -2, 3}, 1, 3);
             CudaCall call = CudaCall.begin(device)) {
            long x = call.in(t);
            long y = call.out(t);
            assertEquals(x, y);
            call.params().pointer(x).pointer(y).i32(1).i32(3).i32(3).i32(3);
            call.launch(device.function("negate"), 1, 1, 1, 32, 1, 1, 0);
            call.finish();
            assertEquals(List.of(-1f, 2f, -3f), boxed(t.toFloatArray()));
        }
    }

    @Test
    void heapBackedHostTensorsAreStagedThroughNativeMemory() {
        float[] backing = {1, 2, 3, 4};
        float[] result = new float[4];
        Tensor in = Tensor.wrap(MemorySegment.ofArray(backing), DType.FP32, 2, 2);
        Tensor out = Tensor.wrap(MemorySegment.ofArray(result), DType.FP32, 2, 2);
        runNegate(in, out);
        assertEquals(List.of(-1f, -2f, -3f, -4f), boxed(result));
    }

    @Test
    void deviceTensorsRunWithoutCopiesAndFreeTheirMemoryOnClose() {
        long before = driver.frees.get();
        try (Tensor host = Tensor.of(DType.FP32, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
             Tensor a = device.allocateTensor(DType.FP32, 3, 2);
             Tensor b = device.allocateTensor(DType.FP32, 3, 2);
             Tensor back = Tensor.allocate(DType.FP32, 3, 2)) {
            device.copy(host, a);
            runNegate(a, b);
            device.copy(b, back);
            assertEquals(List.of(-1f, -2f, -3f, -4f, -5f, -6f), boxed(back.toFloatArray()));
            assertThrows(IllegalStateException.class, () -> a.getFloat(0, 0));
        }
        assertEquals(before + 2, driver.frees.get());
    }

    @Test
    void uploadsOfArraysReachTheDeviceIntact() {
        try (CudaCall call = CudaCall.begin(device)) {
            long p = call.upload(new float[] {1.5f, -2f});
            long q = call.upload(new int[] {7, 8, 9});
            assertNotEquals(p, q);
            MemorySegment dp = MemorySegment.ofAddress(p).reinterpret(8);
            MemorySegment dq = MemorySegment.ofAddress(q).reinterpret(12);
            assertEquals(-2f, dp.getAtIndex(ValueLayout.JAVA_FLOAT, 1));
            assertEquals(9, dq.getAtIndex(ValueLayout.JAVA_INT, 2));
            assertEquals(0, call.upload((float[]) null));
            call.finish();
        }
    }

    @Test
    void largeDynamicSharedMemoryOptsInOnceAndIsBoundedByTheDevice() {
        CudaFunction f = device.function("noop");
        try (CudaCall call = CudaCall.begin(device)) {
            call.launch(f, 1, 1, 1, 32, 1, 1, 100_000);
            call.launch(f, 1, 1, 1, 32, 1, 1, 90_000);
            assertThrows(IllegalArgumentException.class, () -> call.launch(f, 1, 1, 1, 32, 1, 1, 300_000));
            call.finish();
        }
        assertEquals(1, driver.calls.stream().filter(c -> c.startsWith("setAttribute")).count());
    }

    @Test
    void outOfMemoryIsItsOwnExceptionAndTheDeviceStaysUsable() {
        driver.memoryLimit = 1 << 20;
        assertThrows(CudaOutOfMemoryException.class, () -> device.allocate(2 << 20));
        try (DeviceBuffer ok = device.allocate(1024)) {
            assertEquals(1024, ok.bytes());
        }
    }

    @Test
    void kernelParameterBufferRefusesMoreArgumentsThanItHolds() {
        try (CudaCall call = CudaCall.begin(device)) {
            var p = call.params();
            for (int i = 0; i < p.capacity(); i++) {
                p.i32(i);
            }
            assertThrows(IllegalStateException.class, () -> p.i32(0));
            assertEquals(0, call.params().count());
        }
    }

    @Test
    void concurrentCallsUseDistinctLanes() throws Exception {
        Set<Long> streams = ConcurrentHashMap.newKeySet();
        int threads = 4;
        CountDownLatch allIn = new CountDownLatch(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                done.add(pool.submit(() -> {
                    try (CudaCall call = CudaCall.begin(device)) {
                        streams.add(call.stream().handle());
                        allIn.countDown();
                        allIn.await();
                        call.finish();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        assertEquals(threads, streams.size());
    }

    @Test
    void forgottenBuffersAreFreedByTheCleaner() throws InterruptedException {
        long before = driver.frees.get();
        allocateAndDrop();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (driver.frees.get() == before && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(driver.frees.get() > before, "the Cleaner never freed the dropped buffer");
    }

    private void allocateAndDrop() {
        device.allocate(4096);
    }

    @Test
    void closedDeviceRefusesWork() {
        device.close();
        assertThrows(IllegalStateException.class, () -> device.allocate(16));
        assertTrue(driver.calls.contains("release"));
    }

    private static List<Float> boxed(float[] a) {
        List<Float> l = new ArrayList<>();
        for (float f : a) {
            l.add(f);
        }
        return l;
    }
}
