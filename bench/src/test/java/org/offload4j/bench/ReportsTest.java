package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportsTest {
    private static final Reports.RunInfo INFO = new Reports.RunInfo("cpu", "test \"cpu\"", 50e9, 0, "Java 25", "2026-11-24");

    private static BenchResult result(double error, double medianNanos) {
        // 1e6 bytes in 50 µs = 20 GB/s, 40 % of a 50 GB/s floor.
        return new BenchResult("hadamard", "d=1024, rows=8", 1024, "bf16", "cpu", error, 4e-3, medianNanos, 9, 1e6, 2e6, 50e9, 0);
    }

    @Test
    void percentOfFloorIsFloorTimeOverMeasuredTime() {
        BenchResult r = result(1e-3, 50_000);
        assertEquals(20.0, r.gigabytesPerSecond(), 1e-9);
        assertEquals(40.0, r.percentOfFloor(), 1e-9);
        assertEquals("memory", r.bound());
    }

    @Test
    void computeFloorWinsWhenLarger() {
        // 2e6 flops at 1e10 flop/s = 200 µs > 20 µs memory time.
        BenchResult r = new BenchResult("w4a16", "x", 1, "bf16", "cpu", 0, 1, 400_000, 5, 1e6, 2e6, 50e9, 1e10);
        assertEquals("compute", r.bound());
        assertEquals(50.0, r.percentOfFloor(), 1e-9);
    }

    @Test
    void percentagesOfEachCeilingAreSameRunRatios() {
        // 1e6 bytes in 50 µs: 40 % of a 50 GB/s copy, 50 % of a 40 GB/s in-place stream;
        // 2e6 flops in 50 µs = 40 GFLOP/s, 20 % of a 200 GFLOP/s FMA peak.
        BenchResult r = new BenchResult("w4a16", "x", 1, "bf16", "cpu", 0, 1, 50_000, 5, 1e6, 2e6, 50e9, 1e11, 40e9, 200e9);
        assertEquals(40.0, r.percentOfCopy(), 1e-9);
        assertEquals(50.0, r.percentOfInPlace(), 1e-9);
        assertEquals(20.0, r.percentOfFmaPeak(), 1e-9);
        BenchResult old = result(1e-3, 50_000);
        assertTrue(Double.isNaN(old.percentOfInPlace()) && Double.isNaN(old.percentOfFmaPeak()));
        Reports.RunInfo info = new Reports.RunInfo("cpu", "test", 50e9, 1e11, "Java 25", "2026-12-04", 40e9, 200e9);
        String t = Reports.render(Reports.Format.TABLE, info, List.of(r, old));
        assertTrue(t.contains("in-place x = -x 40.0 GB/s") && t.contains("FMA peak 200.0 GFLOP/s"), t);
        String[] lines = t.split("\n");
        assertTrue(lines[5].matches(".* 40\\.0 +40\\.0 +50\\.0 +20\\.0"), t);
        assertTrue(lines[6].matches(".* 40\\.0 +40\\.0 +- +-"), t);
        String j = Reports.render(Reports.Format.JSON, info, List.of(r));
        assertTrue(j.contains("\"percent_of_in_place\": 50") && j.contains("\"fma_peak_flops_per_s\": 200000000000"), j);
    }

    /** A backend that measures only copy and GEMM (CUDA), or nothing: no NaN in the ceilings or the % columns. */
    @Test
    void unmeasuredCeilingsAreLeftOutNotPrintedAsNaN() {
        BenchResult r = new BenchResult("w4a16", "x", 1, "bf16", "cuda", 0, 1, 50_000, 5, 1e6, 2e6, 50e9, 1e11, Double.NaN, 0);
        Reports.RunInfo cudaLike = new Reports.RunInfo("cuda", "test", 50e9, 1e11, "Java 25", "2026-12-05", Double.NaN, 0)
                .withCeilingsMethod("matmul: data-sheet dense bf16 tensor rate (not measured)");
        String t = Reports.render(Reports.Format.TABLE, cudaLike, List.of(r));
        // The matmul rate is named by how it was had: on CUDA no fp32 GEMM was run.
        assertTrue(t.contains("copy 50.0 GB/s (read + write), matmul 100.0 GFLOP/s\n"
                + "                       (matmul: data-sheet dense bf16 tensor rate (not measured))"), t);
        assertTrue(Reports.render(Reports.Format.JSON, cudaLike, List.of(r))
                .contains("\"ceilings_method\": \"matmul: data-sheet dense bf16 tensor rate (not measured)\""));
        assertFalse(t.contains("NaN") || t.contains("x = -x") || t.contains("FMA peak 0"), t);
        BenchResult bare = new BenchResult("w4a16", "x", 1, "bf16", "bare", 0, 1, 50_000, 5, 1e6, 2e6, Double.NaN, 0);
        Reports.RunInfo none = new Reports.RunInfo("bare", "test", Double.NaN, 0, "Java 25", "2026-12-05", Double.NaN, 0);
        t = Reports.render(Reports.Format.TABLE, none, List.of(bare));
        assertTrue(t.contains("ceilings measured now: none"), t);
        assertFalse(t.contains("NaN"), t);
        // Machine-readable output says null for every ceiling not measured, whether the record holds NaN or 0.
        String j = Reports.render(Reports.Format.JSON, cudaLike, List.of(r));
        assertTrue(j.contains("\"flops_per_s\": 100000000000") && j.contains("\"in_place_bytes_per_s\": null")
                && j.contains("\"fma_peak_flops_per_s\": null"), j);
        String c = Reports.render(Reports.Format.CSV, none, List.of(bare));
        String[] header = c.split("\n")[0].split(",");
        String[] row = c.split("\n")[1].split(",");
        for (String column : new String[] {"copy_gb_per_s", "in_place_gb_per_s", "fma_peak_gflop_per_s"}) {
            assertEquals("null", row[java.util.Arrays.asList(header).indexOf(column)], column + " in " + c);
        }
    }

    @Test
    void tableMarksIncorrectCasesAndAlignsColumns() {
        String t = Reports.render(Reports.Format.TABLE, INFO, List.of(result(1e-3, 50_000), result(Double.NaN, 50_000)));
        String[] lines = t.split("\n");
        assertTrue(lines[1].contains("50.0 GB/s"), t);
        assertTrue(lines[4].contains(" yes "), t);
        assertTrue(lines[5].contains(" NO ") && lines[5].contains("NaN"), t);
        assertEquals(lines[2].length(), lines[4].length(), "rows are aligned with the header");
    }

    @Test
    void jsonIsWellFormedAndHasNoNaN() {
        String j = Reports.render(Reports.Format.JSON, INFO, List.of(result(Double.NaN, 50_000)));
        assertTrue(j.contains("\"rel_error\": null"), j);
        assertTrue(j.contains("\"backend_description\": \"test \\\"cpu\\\"\""), j);
        assertFalse(j.contains("NaN"), j);
        assertEquals(j.chars().filter(c -> c == '{').count(), j.chars().filter(c -> c == '}').count());
    }

    @Test
    void csvQuotesLabelsWithCommas() {
        String c = Reports.render(Reports.Format.CSV, INFO, List.of(result(1e-3, 50_000)));
        String[] lines = c.split("\n");
        assertEquals(2, lines.length);
        assertTrue(lines[1].startsWith("hadamard,\"d=1024, rows=8\",bf16,cpu,"), lines[1]);
        assertEquals(lines[0].split(",").length, lines[1].replace("\"d=1024, rows=8\"", "x").split(",").length);
    }
}
