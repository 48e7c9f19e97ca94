package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.cuda.attention.KernelSignatures;
import org.offload4j.cuda.kernels.KernelName;

/**
 * The tensor-core launch contract on the CPU: the argument list against {@code O4J_TC_PARAMS} in
 * w4a16_tc.cu (names, types and order), what {@link TcLaunch#params} writes slot by slot, the
 * kernel names, preconditions, workspace sizes, problem lists and the path property.
 */
class TcLaunchTest {

    /** The parameters of {@code O4J_TC_PARAMS} as written in the .cu, whitespace normalised. */
    static List<String> macroParameters() throws IOException {
        String src = Files.readString(KernelSignatures.cudaSource("w4a16_tc.cu"));
        int at = src.indexOf("#define O4J_TC_PARAMS");
        assertTrue(at >= 0, "O4J_TC_PARAMS not found in w4a16_tc.cu");
        int end = src.indexOf("#define", at + 1);
        String body = src.substring(at + "#define O4J_TC_PARAMS".length(), end).replace("\\", " ");
        List<String> out = new ArrayList<>();
        for (String p : body.split(",")) {
            out.add(p.strip().replaceAll("\\s+", " "));
        }
        return out;
    }

    @Test
    void argumentListMatchesTheKernelSource() throws IOException {
        List<String> src = macroParameters();
        // the macro writes "const void *x, const uint4 *qw, ..." with the first type before the comma list
        assertEquals(TcLaunch.ARGUMENTS, src);
        // and every entry point takes exactly that list
        String cu = Files.readString(KernelSignatures.cudaSource("w4a16_tc.cu"));
        for (KernelName name : KernelName.values()) {
            if (name.symbol().startsWith("o4j_w4a16_tc_")) {
                assertTrue(cu.contains(" " + name.symbol() + "(O4J_TC_PARAMS)"), name.symbol());
            }
        }
    }

    private static String slotsOf(List<String> args) {
        StringBuilder s = new StringBuilder();
        for (String a : args) {
            s.append(a.contains("*") || a.startsWith("long long") ? 'L' : 'I');
        }
        return s.toString();
    }

    @Test
    void paramsWritesEveryArgumentInOrder() {
        TcSplitKPlanner.Plan plan = TcSplitKPlanner.plan(5, 264, 4096, 128, 132);
        assertTrue(plan.splits() > 1, plan.toString());
        TcLaunch.DeviceWeight w = new TcLaunch.DeviceWeight(0x1000, 0x2000, 0x3000, 4096, 264, 128, TcPackedLayout.SCALE_BF16,
                11, 12, 13);
        KernelSignatures.Recorder r = new KernelSignatures.Recorder();
        TcLaunch.params(r, 0x10, w, 0x4000, true, 7, 0x5000, 0x6000, 0x7000, 0x8000, 5, 4104, 300, plan);
        assertEquals(slotsOf(TcLaunch.ARGUMENTS), r.slots());
        List<Long> expected = List.of(0x10L, 0x1000L, 0x2000L, 0x3000L, 0x4000L, 0x5000L, 0x6000L, 0x7000L, 0x8000L,
                5L, 264L, 4096L, 128L, 32L, 4096L, 4104L, 300L, (long) TcPackedLayout.SCALE_BF16, 1L, (long) plan.splits(),
                (long) plan.kChunk(), (long) plan.mBlocks(), 11L, 12L, 13L, 7L);
        assertEquals(expected, r.values);
    }

    @Test
    void everyPlanNamesAListedKernel() {
        Set<KernelName> seen = new HashSet<>();
        for (int m : new int[] {1, 16, 17, 32, 33, 64, 65, 1000}) {
            for (int n : new int[] {8, 64, 136, 1000, 8192}) {
                for (int sms : new int[] {1, 8, 132, 1024}) {
                    TcSplitKPlanner.Plan plan = TcSplitKPlanner.plan(m, n, 1024, 128, sms);
                    for (DType d : new DType[] {DType.BF16, DType.FP16}) {
                        KernelName name = TcLaunch.kernel(plan, d);
                        assertEquals(plan.kernelName(d == DType.BF16), name.symbol());
                        seen.add(name);
                    }
                    // sm_86 / sm_89 allow 99 KiB per block (opt-in; CudaFunction raises the limit above 48 KiB)
                    assertTrue(plan.smemBytes() <= 101376, "smem " + plan.smemBytes() + ": " + plan);
                }
            }
        }
        // The planner starts at tile n 128 for m ≤ 32 and only halves it, so m16/m32 × n256 are never
        // chosen: 14 of the 18 entry points are reachable (the other 4 are compiled but unused).
        assertEquals(14, seen.size(), "reachable entry points: " + seen);
        for (KernelName unused : new KernelName[] {KernelName.W4A16_TC_F16_M16_N256, KernelName.W4A16_TC_F16_M32_N256,
                KernelName.W4A16_TC_BF16_M16_N256, KernelName.W4A16_TC_BF16_M32_N256}) {
            assertFalse(seen.contains(unused), unused.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> TcLaunch.kernel(TcSplitKPlanner.plan(1, 8, 8, 8, 1), DType.FP32));
    }

    @Test
    void xPreconditions() {
        assertTrue(TcLaunch.xAligned(0x1000, 8));
        assertTrue(TcLaunch.xAligned(0x1010, 4096));
        assertFalse(TcLaunch.xAligned(0x1008, 8), "8-byte aligned address");
        assertFalse(TcLaunch.xAligned(0x1000, 12), "row stride not a multiple of 8");
        assertFalse(TcLaunch.xAligned(0x1000, 1L << 32), "row stride beyond int");
        assertTrue(TcLaunch.yFits(13));
        assertFalse(TcLaunch.yFits(1L << 31));
    }

    @Test
    void workspaceOfADenseLaunchIsThePlannersWorkspace() {
        for (int m : new int[] {1, 7, 33, 65, 129}) {
            for (int k : new int[] {128, 1024, 4096}) {
                TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(m, 264, k, 32, 132);
                assertEquals(p.counterOffset(), TcLaunch.partialsBytes(p, p.mBlocks()), p.toString());
                assertEquals(p.counterCount(), TcLaunch.counterCount(p, p.mBlocks()), p.toString());
                assertEquals(p.workspaceBytes(), TcLaunch.partialsBytes(p, p.mBlocks()) + 4 * TcLaunch.counterCount(p, p.mBlocks()));
            }
        }
        TcSplitKPlanner.Plan one = TcSplitKPlanner.plan(4096, 8192, 128, 128, 1);
        assertEquals(1, one.splits());
        assertEquals(0, TcLaunch.partialsBytes(one, 5));
        assertEquals(0, TcLaunch.counterCount(one, 5));
    }

    @Test
    void problemsSkipEmptyExperts() {
        int[] offsets = {0, 3, 3, 4, 9, 9};
        assertEquals(List.of(0, 0, 3, 2, 3, 4, 3, 4, 9), box(TcLaunch.problems(offsets)));
        assertEquals(5, TcLaunch.maxRows(TcLaunch.problems(offsets)));
        assertEquals(0, TcLaunch.problems(new int[] {0, 0, 0}).length);
    }

    @Test
    void groupedPlanSharesTheSmsAndRespectsGridZ() {
        TcSplitKPlanner.Plan dense = TcSplitKPlanner.plan(5, 512, 1024, 128, 132);
        TcSplitKPlanner.Plan grouped = TcLaunch.groupedPlan(4, 5, 512, 1024, 128, 132);
        assertEquals(TcSplitKPlanner.plan(5, 512, 1024, 128, 33), grouped);
        assertTrue(grouped.splits() <= dense.splits());
        assertThrows(IllegalArgumentException.class, () -> TcLaunch.groupedPlan(0, 1, 64, 128, 128, 132));
        assertThrows(IllegalArgumentException.class, () -> TcLaunch.groupedPlan(1, TcLaunch.MAX_PROBLEM_ROWS + 1, 64, 128, 128, 132));
    }

    /**
     * More problems × row blocks than grid z: the launches are chunked, each chunk within 65535,
     * together covering every problem (the review case: 256 experts, one with 16 448 rows).
     */
    @Test
    void groupedLaunchesAreChunkedToFitGridZ() {
        int experts = 256;
        int[] offsets = new int[experts + 1];
        offsets[1] = 16_448;
        for (int e = 1; e < experts; e++) {
            offsets[e + 1] = offsets[e] + 1;
        }
        int[] problems = TcLaunch.problems(offsets);
        int count = problems.length / 3;
        TcSplitKPlanner.Plan plan = TcLaunch.groupedPlan(count, TcLaunch.maxRows(problems), 2048, 4096, 128, 132);
        assertTrue((long) count * plan.mBlocks() > TcLaunch.MAX_GRID_Z, "one launch would not fit: " + plan);
        int perLaunch = TcLaunch.problemsPerLaunch(plan);
        assertTrue(perLaunch >= 1 && (long) perLaunch * plan.mBlocks() <= TcLaunch.MAX_GRID_Z);
        assertTrue((long) (perLaunch + 1) * plan.mBlocks() > TcLaunch.MAX_GRID_Z, "as many as fit");
        assertEquals(2, Math.ceilDiv(count, perLaunch));
        // 65535 experts of one row each: one problem per launch row block, one launch
        TcSplitKPlanner.Plan tiny = TcLaunch.groupedPlan(70_000, 1, 64, 128, 128, 132);
        assertEquals(1, tiny.mBlocks());
        assertEquals(TcLaunch.MAX_GRID_Z, TcLaunch.problemsPerLaunch(tiny));
    }

    /** One block per problem: the same launch geometry, splits and per-block workspace, m_blocks_per_problem 1. */
    @Test
    void oneBlockPerProblemKeepsEverythingButTheBlocksPerProblem() {
        TcSplitKPlanner.Plan plan = TcLaunch.groupedPlan(256, 16_448, 2048, 4096, 128, 132);
        TcSplitKPlanner.Plan one = TcLaunch.oneBlockPerProblem(plan);
        assertEquals(1, one.mBlocks());
        assertEquals(List.of(plan.mTiles(), plan.tileN(), plan.tileK(), plan.stages(), plan.splits(), plan.kChunk(), plan.nTiles(),
                plan.smemBytes()), List.of(one.mTiles(), one.tileN(), one.tileK(), one.stages(), one.splits(), one.kChunk(),
                one.nTiles(), one.smemBytes()));
        assertEquals(TcLaunch.partialsBytes(plan, 512), TcLaunch.partialsBytes(one, 512));
        TcSplitKPlanner.Plan small = TcLaunch.groupedPlan(8, 40, 2048, 4096, 128, 132);
        assertTrue(small.splits() > 1, "a plan with a workspace: " + small);
        TcSplitKPlanner.Plan smallOne = TcLaunch.oneBlockPerProblem(small);
        assertEquals(TcLaunch.partialsBytes(small, 1), smallOne.counterOffset());
        assertEquals(TcLaunch.counterCount(small, 1), smallOne.counterCount());
    }

    /** An expert with more rows than a problem may have becomes consecutive problems of the same expert. */
    @Test
    void largeExpertsAreCutIntoProblems() {
        int[] offsets = {0, 10, 10, 13, 30};
        assertEquals(List.of(0, 0, 4, 0, 4, 8, 0, 8, 10, 2, 10, 13, 3, 13, 17, 3, 17, 21, 3, 21, 25, 3, 25, 29, 3, 29, 30),
                box(TcLaunch.problems(offsets, 4)));
        assertEquals(4, TcLaunch.maxRows(TcLaunch.problems(offsets, 4)));
        assertEquals(List.of(0, 0, 10, 2, 10, 13, 3, 13, 30), box(TcLaunch.problems(offsets)));
        int big = TcLaunch.MAX_PROBLEM_ROWS + 5;
        int[] cut = TcLaunch.problems(new int[] {0, big});
        assertEquals(List.of(0, 0, TcLaunch.MAX_PROBLEM_ROWS, 0, TcLaunch.MAX_PROBLEM_ROWS, big), box(cut));
        assertTrue(TcLaunch.groupedPlan(2, TcLaunch.maxRows(cut), 64, 128, 128, 132).mBlocks() <= TcLaunch.MAX_GRID_Z);
    }

    @Test
    void pathProperty() {
        assertEquals(CudaW4A16Kernels.Path.TC, CudaW4A16Kernels.path(null));
        assertEquals(CudaW4A16Kernels.Path.TC, CudaW4A16Kernels.path("tc"));
        assertEquals(CudaW4A16Kernels.Path.SIMPLE, CudaW4A16Kernels.path(" Simple "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaW4A16Kernels.path("cuda-cores"));
        assertTrue(e.getMessage().contains(CudaW4A16Kernels.PATH_PROPERTY), e.getMessage());
    }

    @Test
    void layoutFitsIntIndexing() {
        assertTrue(TcW4A16Kernel.layoutFits(8192, 28672));
        assertFalse(TcW4A16Kernel.layoutFits(1 << 20, 1 << 16));
    }

    private static List<Integer> box(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int v : a) {
            l.add(v);
        }
        return l;
    }
}
