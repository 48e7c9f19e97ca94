package org.offload4j.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The build's output: the properties always, and where nvcc ran, the fatbin itself, parsed here
 * (no cuobjdump needed): one ELF image per SASS arch, each holding every kernel name, plus PTX.
 */
class KernelBuildInfoTest {

    @Test
    void propertiesDescribeTheBuild() {
        KernelBuildInfo image = KernelBuildInfo.load();
        if (image.built()) {
            assertEquals(Arrays.stream(KernelName.values()).map(KernelName::symbol).collect(Collectors.toCollection(TreeSet::new)),
                    new TreeSet<>(image.kernels()));
            assertEquals(java.util.List.of("sm_80", "sm_86", "sm_89", "sm_90a"), image.archs());
            assertEquals("compute_90", image.ptxArch());
            assertTrue(image.nvccVersion().startsWith("release "), image.nvccVersion());
        } else {
            assertFalse(image.notBuiltReason().isBlank());
            assertThrows(IllegalStateException.class, image::fatbin);
            assertTrue(image.toString().startsWith("kernels not built: "));
        }
    }

    /**
     * Fatbin container: a 16-byte header (magic 0xBA55ED50, u16 version, u16 header size, u64 size of
     * the entries), then entries: u16 kind (1 PTX, 2 ELF), u16 version, u32 header size, u64 payload
     * size, …, u32 arch at +28 (80, 86, 89, 90), the payload after the entry header.
     */
    @Test
    void everyArchImageHoldsEveryKernel() {
        KernelBuildInfo image = KernelBuildInfo.load();
        org.junit.jupiter.api.Assumptions.assumeTrue(image.built(), () -> "kernels not built: " + image.notBuiltReason());
        ByteBuffer b = ByteBuffer.wrap(image.fatbin()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0xBA55ED50, b.getInt(0));
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long end = headerSize + b.getLong(8);
        Map<Integer, String> elfByArch = new TreeMap<>();
        boolean ptx90 = false;
        long off = headerSize;
        while (off < end) {
            int o = Math.toIntExact(off);
            int kind = Short.toUnsignedInt(b.getShort(o));
            int entryHeader = b.getInt(o + 4);
            long payload = b.getLong(o + 8);
            int arch = b.getInt(o + 28);
            if (kind == 2) {
                elfByArch.put(arch, new String(image.fatbin(), o + entryHeader, Math.toIntExact(payload), StandardCharsets.ISO_8859_1));
            } else if (kind == 1 && arch == 90) {
                ptx90 = true;
            }
            off += entryHeader + payload;
        }
        assertEquals(java.util.Set.of(80, 86, 89, 90), elfByArch.keySet());
        assertTrue(ptx90, "no compute_90 PTX entry");
        for (Map.Entry<Integer, String> e : elfByArch.entrySet()) {
            for (KernelName k : KernelName.values()) {
                assertTrue(e.getValue().contains("\0" + k.symbol() + "\0"), k.symbol() + " missing from the sm_" + e.getKey() + " image");
            }
        }
    }
}
