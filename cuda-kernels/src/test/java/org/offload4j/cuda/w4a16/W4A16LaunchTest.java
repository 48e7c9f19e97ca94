package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.offload4j.core.DType;
import org.offload4j.cuda.kernels.KernelName;
import org.junit.jupiter.api.Test;

class W4A16LaunchTest {

    @Test
    void gridsAndWorkspace() {
        W4A16Launch l = W4A16Launch.of(5, 300 - 300 % 8, 4096, 128, 3, DType.BF16);
        assertEquals(3, l.splitKGridX());          // 296 columns → 3 tiles of 128
        assertEquals(1, l.splitKGridY());          // 5 rows → 1 tile of 8
        assertEquals(3, l.splitKGridZ());
        assertEquals((5 * 296 + 255) / 256, l.reduceGridX());
        assertEquals(4L * 3 * 5 * 296, l.workspaceBytes());
        assertEquals(KernelName.W4A16_SPLITK_BF16, l.splitKKernel());
        assertEquals(KernelName.W4A16_REDUCE_BF16, l.reduceKernel());
        W4A16Launch f = W4A16Launch.of(129, 8, 64, 64, 1, DType.FP16);
        assertEquals(1, f.splitKGridX());
        assertEquals(17, f.splitKGridY());
        assertEquals(KernelName.W4A16_SPLITK_F16, f.splitKKernel());
        assertEquals(KernelName.W4A16_REDUCE_F16, f.reduceKernel());
    }

    @Test
    void biasKinds() {
        assertEquals(W4A16Launch.BIAS_NONE, W4A16Launch.biasKind(null, DType.BF16));
        assertEquals(W4A16Launch.BIAS_FP32, W4A16Launch.biasKind(DType.FP32, DType.BF16));
        assertEquals(W4A16Launch.BIAS_SAME_AS_Y, W4A16Launch.biasKind(DType.FP16, DType.FP16));
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.biasKind(DType.FP16, DType.BF16));
    }

    @Test
    void rejectsWhatTheKernelsCannotTake() {
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(0, 8, 64, 64, 1, DType.BF16));
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(1, 12, 64, 64, 1, DType.BF16));
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(1, 8, 64, 64, 9, DType.BF16)); // > k/8
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(1, 8, 96, 64, 1, DType.BF16)); // g ∤ k
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(1, 8, 64, 64, 1, DType.FP32));
        assertThrows(IllegalArgumentException.class, () -> W4A16Launch.of(65535 * 8 + 1, 8, 64, 64, 1, DType.BF16));
    }
}
