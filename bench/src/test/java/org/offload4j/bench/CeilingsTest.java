package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code offload bench --ceilings each}: ceilings measured around each case, each row against its own. */
class CeilingsTest {

    @Test
    void theMeanIsTakenCeilingByCeiling() {
        Ceilings m = new Ceilings(30e9, 40e9, 200e9).mean(new Ceilings(50e9, 44e9, 220e9));
        assertEquals(new Ceilings(40e9, 42e9, 210e9), m);
        // What a backend does not measure stays unmeasured.
        Ceilings cuda = new Ceilings(3e12, Double.NaN, 0).mean(new Ceilings(3.2e12, Double.NaN, 0));
        assertTrue(Double.isNaN(cuda.inPlace()) && cuda.fmaPeak() == 0, cuda.toString());
    }

    @Test
    void rangesLeaveOutWhatWasNotMeasured() {
        assertEquals("copy 30.1–41.0 GB/s, in-place 40.2–44.0 GB/s, FMA peak 210.0–227.4 GFLOP/s",
                Ceilings.ranges(List.of(new Ceilings(41.0e9, 44.0e9, 227.4e9), new Ceilings(30.1e9, 40.2e9, 210e9))));
        assertEquals("copy 2900.0–3100.0 GB/s",
                Ceilings.ranges(List.of(new Ceilings(3.1e12, Double.NaN, 0), new Ceilings(2.9e12, Double.NaN, 0))));
    }

    @Test
    void aResultTakenAgainstOtherCeilingsKeepsWhatItDidNotUse() {
        // 1e6 bytes and 2e6 flops in 50 µs: 20 GB/s and 40 GFLOP/s.
        BenchResult r = new BenchResult("w4a16", "x", 1, "bf16", "cpu", 0, 1, 50_000, 5, 1e6, 2e6, 50e9, 1e11, 40e9, 200e9);
        BenchResult again = r.withCeilings(40e9, 25e9, 100e9);
        assertEquals(50.0, again.percentOfCopy(), 1e-9);
        assertEquals(80.0, again.percentOfInPlace(), 1e-9);
        assertEquals(40.0, again.percentOfFmaPeak(), 1e-9);
        assertEquals(r.flopsPerSecond(), again.flopsPerSecond(), "the matmul rate is measured once per run");
        // A case that is not made of products has no FMA peak, and a backend without the in-place stream has none either.
        BenchResult memoryOnly = new BenchResult("hadamard", "x", 1, "bf16", "cuda", 0, 1, 50_000, 5, 1e6, 0, 50e9, 0, Double.NaN, 0)
                .withCeilings(40e9, 30e9, 100e9);
        assertTrue(Double.isNaN(memoryOnly.inPlaceBytesPerSecond()) && memoryOnly.fmaPeakFlopsPerSecond() == 0, memoryOnly.toString());
    }

    @Test
    void theTableShowsEachRowsCeilingsAndTheRanges() {
        BenchResult r = new BenchResult("w4a16", "x", 1, "bf16", "cpu", 0, 1, 50_000, 5, 1e6, 2e6, 40e9, 1e11, 25e9, 100e9);
        Reports.RunInfo info = new Reports.RunInfo("cpu", "test", 50e9, 1e11, "Java 25", "2026-12-08", 40e9, 200e9)
                .withCeilingsEach("copy 30.0–50.0 GB/s over 3 measurements");
        String t = Reports.render(Reports.Format.TABLE, info, List.of(r));
        assertTrue(t.contains("ceilings measured first: copy 50.0 GB/s"), t);
        assertTrue(t.contains("again after every case (--ceilings each; matmul once): copy 30.0–50.0 GB/s over 3 measurements"), t);
        assertTrue(t.contains("copy GB/s  in-place GB/s  FMA GFLOP/s"), t);
        assertTrue(t.lines().anyMatch(l -> l.matches("w4a16 .* 50\\.0 +80\\.0 +40\\.0 +40\\.0 +25\\.0 +100\\.0")), t);
        String j = Reports.render(Reports.Format.JSON, info, List.of(r));
        assertTrue(j.contains("\"ceilings\": \"each\"") && j.contains("\"copy_bytes_per_s\": 40000000000")
                && j.contains("\"in_place_bytes_per_s\": 25000000000"), j);
        assertTrue(MiniJson.parse(j) instanceof Map<?, ?>, j);
        // Measured once: no ceiling columns.
        Reports.RunInfo once = new Reports.RunInfo("cpu", "test", 50e9, 1e11, "Java 25", "2026-12-08", 40e9, 200e9);
        String t1 = Reports.render(Reports.Format.TABLE, once, List.of(r));
        assertFalse(t1.contains("copy GB/s") || t1.contains("--ceilings each"), t1);
        assertTrue(Reports.render(Reports.Format.JSON, once, List.of(r)).contains("\"ceilings\": \"once\""));
    }

    @Test
    void theCliMeasuresOnceMoreAfterEveryCase(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("r.json");
        Path table = dir.resolve("t.txt");
        assertEquals(0, OffloadCli.execute("bench", "hadamard", "--backend", "cpu", "--sizes", "256@4096,512@4096",
                "--ceilings", "each", "--out", table.toString(), "--json", json.toString()));
        String t = Files.readString(table, StandardCharsets.UTF_8);
        assertTrue(t.contains("over 3 measurements"), "one before the first case and one after each: " + t);
        Object parsed = MiniJson.parse(Files.readString(json, StandardCharsets.UTF_8));
        double first = (Double) ((Map<?, ?>) parsed).get("copy_bytes_per_s");
        List<?> results = (List<?>) ((Map<?, ?>) parsed).get("results");
        assertEquals(2, results.size());
        boolean own = false;
        for (Object o : results) {
            Map<?, ?> row = (Map<?, ?>) o;
            double copy = (Double) row.get("copy_bytes_per_s");
            double percent = (Double) row.get("percent_of_copy");
            double bytesPerNano = (Double) row.get("bytes") / (Double) row.get("median_ns");
            // The JSON writes six significant digits.
            assertEquals(100 * bytesPerNano * 1e9 / copy, percent, 1e-4 * percent, "each row's ratio against its own ceiling: " + row);
            own |= copy != first;
        }
        assertTrue(own, "the rows' copy ceilings are not all the first measurement's: " + parsed);
        assertEquals(2, OffloadCli.execute("bench", "hadamard", "--sizes", "256@4096", "--ceilings", "sometimes"));
        assertEquals(2, OffloadCli.execute("bench", "attention", "--accuracy", "--ceilings", "each"), "--accuracy measures no ceilings");
    }
}
