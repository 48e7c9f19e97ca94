package org.offload4j.cuda.hadamard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.offload4j.core.DType;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;
import org.junit.jupiter.api.Test;

class HadamardLaunchTest {
    /** CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN of sm_86/sm_89, sm_80 and sm_90. */
    static final int OPTIN_SM86 = 101376;
    static final int OPTIN_SM80 = 166912;
    static final int OPTIN_SM90 = 232448;

    @Test
    void threadsAreWholeWarpsOnePerButterflyUpTo512() {
        assertEquals(32, HadamardLaunch.threadsFor(2));
        assertEquals(32, HadamardLaunch.threadsFor(12));
        assertEquals(32, HadamardLaunch.threadsFor(64));
        assertEquals(64, HadamardLaunch.threadsFor(80));    // 40 butterflies → 2 warps
        assertEquals(512, HadamardLaunch.threadsFor(1024));
        assertEquals(512, HadamardLaunch.threadsFor(32768));
        for (int d = 2; d <= HadamardSize.MAX_D; d++) {
            if (HadamardSize.isSupported(d)) {
                int t = HadamardLaunch.threadsFor(d);
                assertTrue(t % 32 == 0 && t >= 32 && t <= 512, "d=" + d);
            }
        }
    }

    @Test
    void sharedMemoryIsTheFp32RowPlusHm() {
        assertEquals(131072, HadamardLaunch.smemBytes(HadamardSize.of(32768)));
        assertEquals(4 * 20480 + 4 * 1600, HadamardLaunch.smemBytes(HadamardSize.of(20480)));
        assertEquals(4 * 12 + 4 * 144, HadamardLaunch.smemBytes(HadamardSize.of(12)));
        assertEquals(8, HadamardLaunch.smemBytes(HadamardSize.of(2)));
        assertFalse(HadamardLaunch.of(HadamardSize.of(8192), 1, DType.FP32).needsSmemOptIn()); // 32 KiB
        assertTrue(HadamardLaunch.of(HadamardSize.of(16384), 1, DType.BF16).needsSmemOptIn()); // 64 KiB
    }

    @Test
    void onlyTheTwoLargestSizesExceedTheSm86Limit() {
        for (int d = 2; d <= HadamardSize.MAX_D; d++) {
            if (!HadamardSize.isSupported(d)) {
                continue;
            }
            HadamardLaunch l = HadamardLaunch.of(HadamardSize.of(d), 3, DType.FP16);
            assertTrue(l.fits(OPTIN_SM80) && l.fits(OPTIN_SM90), "d=" + d);
            assertEquals(d != 28672 && d != 32768, l.fits(OPTIN_SM86), "d=" + d);
        }
    }

    @Test
    void gridCoversRowsUpTo65535() {
        assertEquals(1, HadamardLaunch.of(HadamardSize.of(64), 1, DType.FP32).gridX());
        assertEquals(129, HadamardLaunch.of(HadamardSize.of(64), 129, DType.FP32).gridX());
        assertEquals(65535, HadamardLaunch.of(HadamardSize.of(64), 1L << 40, DType.FP32).gridX());
        assertThrows(IllegalArgumentException.class, () -> HadamardLaunch.of(HadamardSize.of(64), 0, DType.FP32));
    }

    @Test
    void kernelPerDtype() {
        assertEquals(KernelName.HADAMARD_F32, HadamardLaunch.kernelFor(DType.FP32));
        assertEquals(KernelName.HADAMARD_BF16, HadamardLaunch.kernelFor(DType.BF16));
        assertEquals(KernelName.HADAMARD_F16, HadamardLaunch.kernelFor(DType.FP16));
        assertThrows(IllegalArgumentException.class, () -> HadamardLaunch.kernelFor(DType.INT32));
    }

    @Test
    void matrixArgumentIsJavasHmRowMajor() {
        assertNull(HadamardLaunch.matrixArgument(1));
        for (int m : HadamardMatrices.SPECIAL_ORDERS) {
            int[][] h = HadamardMatrices.of(m);
            float[] a = HadamardLaunch.matrixArgument(m);
            float[] expected = new float[m * m];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < m; j++) {
                    expected[i * m + j] = h[i][j];
                }
            }
            assertArrayEquals(expected, a, "m=" + m);
        }
    }

    @Test
    void argumentListHas13Parameters() {
        assertEquals(13, HadamardLaunch.ARGUMENTS.size());
    }
}
