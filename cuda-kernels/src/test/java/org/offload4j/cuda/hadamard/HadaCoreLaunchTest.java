package org.offload4j.cuda.hadamard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.hadamard.HadamardSize;

class HadaCoreLaunchTest {
    private static final int H100_SMEM = 227 * 1024;
    private static final int SM86_SMEM = 99 * 1024;

    private static Optional<HadaCoreLaunch> plan(int d, DType t, long rows) {
        return HadaCoreLaunch.plan(HadamardSize.of(d), t, rows, d, d, 256, 512, H100_SMEM, 132);
    }

    @Test
    void everyPowerOfTwoInBf16AndFp16HasAKernel() {
        for (int k = 1; k <= 15; k++) {
            for (DType t : new DType[] {DType.BF16, DType.FP16}) {
                HadaCoreLaunch l = plan(1 << k, t, 7).orElseThrow(() -> new AssertionError("no plan"));
                String expected = k <= 11 ? "o4j_hadamard_tc_regs" + (k <= 8 ? 1 : 1 << (k - 8)) : "o4j_hadamard_tc_smem" + k;
                assertTrue(l.kernel().symbol().startsWith(expected), l.kernel().symbol());
                assertEquals(k <= 11 ? HadaCoreLaunch.Kind.REGS : HadaCoreLaunch.Kind.SMEM, l.kind());
                assertEquals(k <= 11 ? 0 : 4 << k, l.dynamicSmemBytes());
            }
        }
    }

    @Test
    void smallRowsShareAWarpAndTheGridCoversEveryGroup() {
        // d = 16: 16 rows per 256-element group; 1000 rows = 63 groups = 16 blocks of 4 warps.
        HadaCoreLaunch l = plan(16, DType.BF16, 1000).orElseThrow();
        assertEquals(16, l.gridX());
        assertEquals(128, l.blockX());
        // Huge row counts stop at 16 blocks per SM; the kernel strides over the rest.
        assertEquals(16 * 132, plan(1024, DType.BF16, 1L << 24).orElseThrow().gridX());
        assertEquals(4 * 132, plan(32768, DType.BF16, 1L << 20).orElseThrow().gridX());
        assertEquals(3, plan(32768, DType.BF16, 3).orElseThrow().gridX());
    }

    @Test
    void declinesWhatOnlyTheCudaCoreKernelCovers() {
        assertFalse(plan(2048, DType.FP32, 4).isPresent(), "fp32 d = 2048");
        assertFalse(plan(12 * 2048, DType.FP32, 4).isPresent(), "fp32 with n = 2048");
        assertTrue(plan(1024, DType.FP32, 4).isPresent());
        assertFalse(HadaCoreLaunch.plan(HadamardSize.of(256), DType.BF16, 4, 258, 256, 256, 256, H100_SMEM, 132).isPresent(),
                "stride not a multiple of 4");
        assertFalse(HadaCoreLaunch.plan(HadamardSize.of(256), DType.BF16, 4, 256, 256, 258, 256, H100_SMEM, 132).isPresent(),
                "base address not 8-byte aligned");
        assertTrue(HadaCoreLaunch.plan(HadamardSize.of(2), DType.BF16, 4, 3, 3, 2, 6, H100_SMEM, 132).isPresent(),
                "d = 2 accesses single elements: any stride");
        assertFalse(HadaCoreLaunch.plan(HadamardSize.of(32768), DType.BF16, 4, 32768, 32768, 0, 0, SM86_SMEM, 84).isPresent(),
                "128 KiB of shared memory on a 99 KiB part");
        assertTrue(HadaCoreLaunch.plan(HadamardSize.of(16384), DType.BF16, 4, 16384, 16384, 0, 0, SM86_SMEM, 84).isPresent());
    }

    @Test
    void mTimesPowerOfTwoSizesUseTheSegmentKernel() {
        int[][] cases = {{12, 1, 1}, {12, 4, 1}, {28, 32, 1}, {12, 256, 1}, {12, 512, 2}, {12, 2048, 8}, {28, 1024, 4}, {40, 512, 2}, {20, 1, 1}};
        for (int[] c : cases) {
            int d = c[0] * c[1];
            HadaCoreLaunch l = plan(d, DType.BF16, 5).orElseThrow(() -> new AssertionError("no plan for d = " + d));
            assertEquals(HadaCoreLaunch.Kind.MSEG, l.kind());
            assertEquals("o4j_hadamard_tc_m_r" + c[2] + "_bf16", l.kernel().symbol());
            assertEquals(4 * c[0] * (c[1] + (c[1] >= 8 ? 4 : 0)), l.dynamicSmemBytes(), "padded segments");
            assertEquals(256, l.blockX());
            assertEquals(5, l.gridX());
        }
        // 28·1024 = 28672 elements, segments padded to 1028 words: 4·28·1028 = 115 136 bytes, over a 99 KiB part's limit.
        assertFalse(HadaCoreLaunch.plan(HadamardSize.of(28 * 1024), DType.BF16, 4, 28672, 28672, 0, 0, SM86_SMEM, 84)
                .isPresent());
    }
}
