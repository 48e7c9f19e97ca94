package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;

/**
 * How {@link CudaW4A16Kernel} cuts a call into row chunks and sizes their shared workspace: every
 * chunk's workspace fits the one allocated, which stays within the planner's bound (or one row's
 * {@code 4·n} bytes where n alone exceeds it), also for a one-split plan, which the planner does
 * not bound (m = 8192, n = 128256 once took a 4.2 GB workspace).
 */
class CudaW4A16ChunksTest {
    private static final long MAX_WORKSPACE_BYTES = 4 * SplitKPlan.MAX_WORKSPACE_FLOATS;

    @Test
    void everyChunksWorkspaceFitsOneBoundedAllocation() {
        int[][] cases = { // m, n, k, groupSize, smCount
                {8192, 128256, 4096, 128, 132},   // LM head, prefill
                {2_000_000, 8192, 4096, 128, 132}, // huge m
                {1, 128256, 4096, 128, 132},
                {3, 4096, 14336, 128, 132},        // decode: many splits
                {64, 8192, 8192, 128, 10_000},     // splits capped by the workspace bound
                {600_000, 8, 8, 8, 132},           // chunks of MAX_ROWS_PER_LAUNCH
                {3, 1 << 27, 8, 8, 132},           // n beyond the bound: one row per chunk
        };
        for (int[] c : cases) {
            int m = c[0], n = c[1], k = c[2], g = c[3], sms = c[4];
            String what = "m=" + m + " n=" + n + " k=" + k + " g=" + g + " SMs=" + sms;
            long allocated = CudaW4A16Kernel.workspaceBytes(m, n, k, g, sms, DType.BF16);
            assertTrue(allocated <= Math.max(MAX_WORKSPACE_BYTES, 4L * n), what + ": " + allocated + " bytes");
            int rows = CudaW4A16Kernel.rowsPerLaunch(n);
            long largest = 0;
            long covered = 0;
            for (int i0 = 0, mc; i0 < m; i0 += mc) {
                mc = Math.min(rows, m - i0);
                largest = Math.max(largest, CudaW4A16Kernel.chunkLaunch(mc, n, k, g, sms, DType.BF16).workspaceBytes());
                covered += mc;
            }
            assertEquals(m, covered, what);
            assertEquals(largest, allocated, what + ": the largest chunk's workspace");
        }
    }

    @Test
    void rowsPerLaunchKeepsWholeTilesUnderBothLimits() {
        assertEquals(CudaW4A16Kernel.MAX_ROWS_PER_LAUNCH, CudaW4A16Kernel.rowsPerLaunch(8), "the grid limit");
        assertEquals(520, CudaW4A16Kernel.rowsPerLaunch(128256), "2^26 / 128256 = 523, rounded down to whole tiles");
        assertEquals(8192, CudaW4A16Kernel.rowsPerLaunch(8192));
        assertEquals(5, CudaW4A16Kernel.rowsPerLaunch((1 << 26) / 5), "less than a tile fits: as many rows as fit");
        assertEquals(1, CudaW4A16Kernel.rowsPerLaunch(1 << 27), "none fits: one row");
    }
}
