package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.moe.CudaMoeKernel;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * {@link CudaMoeKernel#prepare} through {@code MoeLayer.prepared()} on the {@link FakeCudaDriver}
 * (whose "device" memory is host memory): bf16 experts in host memory are copied into two device
 * tensors once, byte for byte (a strided w1 included), owned by the prepared layer and freed by
 * its close; experts already on the device, and int4 experts, are shared. That the prepared layer
 * computes the same bits is a GPU test's to show (CudaMoeKernelGpuTest).
 */
class MoePrepareFakeDriverTest {
    private static final int E = 3;
    private static final int D_MODEL = 16;
    private static final int D_FF = 8;

    private FakeCudaDriver driver;
    private CudaDevice device;
    private OneKernelBackend backend;
    private Tensor router;

    @BeforeEach
    void open() {
        driver = new FakeCudaDriver();
        device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
        backend = new OneKernelBackend("fake-cuda", device.asDevice(), MoeKernel.class, new CudaMoeKernel(device, false));
        router = TensorFill.gaussian(Tensor.allocate(DType.FP32, D_MODEL, E), 1, 1);
    }

    @AfterEach
    void close() {
        router.close();
        device.close();
    }

    @Test
    void bf16ExpertsInHostMemoryAreCopiedToTheGpuOnceAndFreedWithTheLayer() {
        Arena arena = Arena.ofShared(); // the caller's weights, closed while the prepared layer runs
        try {
            long w1Stride = 2 * D_FF + 8; // strided rows: the copy goes row by row and skips the gaps
            Tensor w1 = TensorFill.gaussian(Tensor.wrapStrided(arena.allocate(2L * E * D_MODEL * w1Stride), DType.BF16, w1Stride,
                    E, D_MODEL, 2 * D_FF), 2, 1);
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, E, D_FF, D_MODEL), 3, 1);
            float[] w1Values = w1.toFloatArray();
            float[] w2Values = w2.toFloatArray();
            MoeLayer layer = MoeLayer.create(backend, router, Bf16ExpertWeights.of(w1, w2), MoeOptions.topK(2));
            int allocationsBefore = driver.allocations.size();
            Bf16ExpertWeights copy;
            try (MoeLayer prepared = layer.prepared()) {
                assertTrue(prepared.ownsExpertWeights(), "the layer owns the device copy");
                copy = (Bf16ExpertWeights) prepared.expertWeights();
                assertTrue(copy.ownsTensors());
                assertEquals(device.asDevice(), copy.w1().device());
                assertEquals(device.asDevice(), copy.w2().device());
                assertEquals(allocationsBefore + 2, driver.allocations.size(), "one allocation per matrix");
                assertArrayEquals(w1Values, download(copy.w1()), "w1 on the device");
                assertArrayEquals(w2Values, download(copy.w2()), "w2 on the device");
                assertSame(router, prepared.routerWeights(), "the router weights stay shared");
                arena.close(); // the caller's weights may go: the copy holds every value
                assertTrue(copy.isAlive());
                assertArrayEquals(w1Values, download(copy.w1()));
            }
            assertFalse(copy.isAlive(), "closing the layer closes its copy");
            assertEquals(allocationsBefore, driver.allocations.size(), "and frees its device memory");
        } finally {
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    @Test
    void expertsAlreadyOnTheGpuAndInt4ExpertsAreShared() {
        try (Tensor w1 = device.allocateTensor(DType.BF16, E, D_MODEL, 2 * D_FF);
             Tensor w2 = device.allocateTensor(DType.BF16, E, D_FF, D_MODEL)) {
            Bf16ExpertWeights onGpu = Bf16ExpertWeights.of(w1, w2);
            int allocationsBefore = driver.allocations.size();
            try (MoeLayer prepared = MoeLayer.create(backend, router, onGpu, MoeOptions.topK(2)).prepared()) {
                assertFalse(prepared.ownsExpertWeights());
                assertSame(onGpu, prepared.expertWeights());
                assertEquals(allocationsBefore, driver.allocations.size());
            }
            assertTrue(w1.isAlive() && w2.isAlive(), "the caller's tensors stay open");
        }
        try (Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, E, D_MODEL, 2 * D_FF), 4, 1);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, E, D_FF, D_MODEL), 5, 1);
             W4A16ExpertWeights int4 = W4A16ExpertWeights.quantize(w1, w2, -1, false, DType.FP16);
             MoeLayer prepared = MoeLayer.create(backend, router, int4, MoeOptions.topK(2)).prepared()) {
            assertFalse(prepared.ownsExpertWeights());
            assertSame(int4, prepared.expertWeights());
        }
    }

    /** Out of device memory at w2: w1's copy is freed and the error reaches the caller; the layer is unchanged. */
    @Test
    void aFailedCopyFreesWhatItAllocated() {
        try (Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, E, D_MODEL, 2 * D_FF), 6, 1);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, E, D_FF, D_MODEL), 7, 1)) {
            MoeLayer layer = MoeLayer.create(backend, router, Bf16ExpertWeights.of(w1, w2), MoeOptions.topK(2));
            int allocationsBefore = driver.allocations.size();
            long freesBefore = driver.frees.get();
            driver.memoryLimit = driver.allocated + 2L * w1.elementCount(); // room for w1, not for w2
            RuntimeException e = assertThrows(RuntimeException.class, layer::prepared);
            assertTrue(String.valueOf(e.getMessage()).contains("cuMemAlloc"), "the failing call is named: " + e);
            assertEquals(freesBefore + 1, driver.frees.get(), "w1's device copy was made, then freed");
            assertEquals(allocationsBefore, driver.allocations.size(), "nothing left allocated");
            driver.memoryLimit = Long.MAX_VALUE;
            try (MoeLayer prepared = layer.prepared()) {
                assertTrue(prepared.ownsExpertWeights(), "the layer can still be prepared");
            }
        }
    }

    private float[] download(Tensor onDevice) {
        try (Tensor host = Tensor.allocate(onDevice.dtype(), onDevice.shape())) {
            device.copy(onDevice, host);
            return host.toFloatArray();
        }
    }
}
