package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {
    private static final List<BenchResult> RESULTS = List.of(
            new BenchResult("hadamard", "d=128", 128, "bf16", "cpu", 1e-3, 4e-3, 1e6, 5, 1e7, 0, 30e9, 0),
            new BenchResult("hadamard", "d=1024", 1024, "bf16", "cpu", 1e-3, 4e-3, 2e6, 5, 1e7, 0, 30e9, 0),
            new BenchResult("w4a16", "m=1", 1 << 24, "bf16", "cpu", 1e-3, 5e-3, 1e6, 5, 8e6, 0, 30e9, 0));

    @Test
    void svgHasOnePanelPerOpAndTheFloorLine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("p.svg");
        Plots.write(f, RESULTS);
        String svg = Files.readString(f);
        assertTrue(svg.startsWith("<svg") && svg.trim().endsWith("</svg>"));
        assertTrue(svg.contains("hadamard: throughput vs size") && svg.contains("w4a16: throughput vs size"));
        assertTrue(svg.contains("stroke-dasharray"), "floor drawn dashed");
        assertEquals(3, svg.split("<circle").length - 1, "one dot per result");
    }

    private static boolean desktop() {
        return ModuleLayer.boot().findModule("java.desktop").isPresent();
    }

    @Test
    void pngIsAReadableImage(@TempDir Path dir) throws Exception {
        assumeTrue(desktop(), "this runtime has no java.desktop (the offload bundle's)");
        Path f = dir.resolve("p.png");
        Plots.write(f, RESULTS);
        BufferedImage img = ImageIO.read(f.toFile());
        assertEquals(720, img.getWidth());
        assertEquals(600, img.getHeight());
    }

    @Test
    void withoutJavaDesktopPngSaysWhyAndSvgStillWorks(@TempDir Path dir) throws Exception {
        assumeFalse(desktop(), "runs on a runtime without java.desktop, such as the offload bundle's");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Plots.write(dir.resolve("p.png"), RESULTS));
        assertTrue(e.getMessage().contains("java.desktop") && e.getMessage().contains(".svg"), e.getMessage());
        svgHasOnePanelPerOpAndTheFloorLine(dir);
    }

    @Test
    void variantsAtTheSameSizesAreLinesOfTheirOwn() {
        assertEquals("", Plots.variant("Hq=8 Hkv=2 Sq=1 Skv=4096 D=128"));
        assertEquals(" causal", Plots.variant("Hq=8 Hkv=2 Sq=1024 Skv=1024 D=128 causal"));
        assertEquals(" KV cache", Plots.variant("Hq=8 Hkv=2 Sq=1 Skv=4096 D=128 cache 8192"));
        assertEquals(" causal KV cache", Plots.variant("Hq=8 Hkv=2 Sq=1 Skv=4096 D=128 causal cache 8192"));
        assertEquals(HadamardSuite.IN_PLACE_LABEL, Plots.variant("d=1024" + HadamardSuite.IN_PLACE_LABEL));
        assertEquals(MoeSuite.PREPARED_LABEL, Plots.variant("E=8 k=2" + MoeSuite.PREPARED_LABEL));
    }

    @Test
    void aCachedDecodeCaseIsNotJoinedToTheCompactOne(@TempDir Path dir) throws Exception {
        List<BenchResult> decode = List.of(
                new BenchResult("attention", "Hq=8 Hkv=2 Sq=1 Skv=4096 D=128", 32768, "fp8_e4m3", "cpu", 1e-3, 1e-2, 1e5, 5, 1e6, 0, 30e9, 0),
                new BenchResult("attention", "Hq=8 Hkv=2 Sq=1 Skv=4096 D=128 cache 8192", 32768, "fp8_e4m3", "cpu", 1e-3, 1e-2, 1e5, 5,
                        1e6, 0, 30e9, 0));
        Path f = dir.resolve("p.svg");
        Plots.write(f, decode);
        String svg = Files.readString(f);
        assertTrue(svg.contains("— cpu fp8_e4m3 KV cache") && svg.contains("— cpu fp8_e4m3<"), svg);
        assertEquals(2, svg.split("<circle").length - 1, "one dot each");
    }

    @Test
    void otherExtensionsAreRejected(@TempDir Path dir) {
        assertThrows(IllegalArgumentException.class, () -> Plots.write(dir.resolve("p.jpg"), RESULTS));
    }
}
