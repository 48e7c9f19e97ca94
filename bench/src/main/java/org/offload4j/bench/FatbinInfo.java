package org.offload4j.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * The architectures inside the CUDA backend's fatbin resource, read from the fatbin's own headers,
 * for the bundle's build info ({@code make-bundle.sh} runs {@link #main}) where no
 * {@code cuobjdump} exists.
 *
 * <p>Layout (little-endian, as nvcc 13.0 writes it): a 16-byte header (magic {@code 0xBA55ED50},
 * u16 version, u16 header size, u64 size of the entries that follow), then entries, each a header
 * (u16 kind: 1 PTX, 2 ELF/SASS; u16 version; u32 header size; u64 payload size; … u32 arch at
 * offset 28, e.g. 90; u64 flags at offset 40, bit 0x100000 set for the arch-specific {@code a}
 * targets such as sm_90a) and its payload. Several such blocks may follow one another.
 */
public final class FatbinInfo {
    static final String RESOURCE = "org/offload4j/cuda/offload4j.fatbin";
    static final String PROPERTIES = "org/offload4j/cuda/offload4j.fatbin.properties";
    static final int MAGIC = 0xBA55ED50;
    private static final long ARCH_SPECIFIC = 0x100000L;

    private FatbinInfo() {}

    /** One image in a fatbin: SASS for {@code sm_XX} or PTX for {@code compute_XX}. */
    public record Entry(boolean ptx, int arch, boolean archSpecific) {
        @Override
        public String toString() {
            return (ptx ? "compute_" : "sm_") + arch + (archSpecific ? "a" : "");
        }
    }

    /** The images of a fatbin, in file order; IllegalArgumentException if the bytes are not one. */
    public static List<Entry> parse(byte[] fatbin) {
        ByteBuffer b = ByteBuffer.wrap(fatbin).order(ByteOrder.LITTLE_ENDIAN);
        List<Entry> entries = new ArrayList<>();
        int at = 0;
        while (at + 16 <= fatbin.length) {
            if (b.getInt(at) != MAGIC) {
                if (entries.isEmpty()) {
                    throw new IllegalArgumentException(String.format("not a fatbin: magic 0x%08X at offset %d, expected 0x%08X",
                            b.getInt(at), at, MAGIC));
                }
                break; // padding after the last block
            }
            int headerSize = Short.toUnsignedInt(b.getShort(at + 6));
            long size = b.getLong(at + 8);
            long end = at + headerSize + size;
            if (headerSize < 16 || end > fatbin.length) {
                throw new IllegalArgumentException("truncated fatbin: block at " + at + " says " + size + " bytes, "
                        + (fatbin.length - at - headerSize) + " remain");
            }
            long e = at + headerSize;
            while (e + 48 <= end) {
                int kind = Short.toUnsignedInt(b.getShort((int) e));
                int entryHeader = b.getInt((int) e + 4);
                long payload = b.getLong((int) e + 8);
                if (entryHeader < 48 || e + entryHeader + payload > end) {
                    throw new IllegalArgumentException("bad fatbin entry at offset " + e);
                }
                if (kind == 1 || kind == 2) {
                    entries.add(new Entry(kind == 1, b.getInt((int) e + 28), (b.getLong((int) e + 40) & ARCH_SPECIFIC) != 0));
                }
                e += entryHeader + payload;
            }
            at = (int) end;
        }
        return entries;
    }

    /** One line: {@code fatbin:  N bytes, SASS sm_80 sm_90a, PTX compute_90}, or why there is none. */
    static String describe(ClassLoader loader) throws IOException {
        Properties props = new Properties();
        try (InputStream in = loader.getResourceAsStream(PROPERTIES)) {
            if (in != null) {
                props.load(in);
            }
        }
        try (InputStream in = loader.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return "fatbin:  none (" + props.getProperty("reason", "the CUDA backend's jar has no " + RESOURCE) + ")";
            }
            byte[] bytes = in.readAllBytes();
            Set<String> sass = new LinkedHashSet<>();
            Set<String> ptx = new LinkedHashSet<>();
            for (Entry e : parse(bytes)) {
                (e.ptx() ? ptx : sass).add(e.toString());
            }
            return "fatbin:  " + bytes.length + " bytes, SASS " + (sass.isEmpty() ? "none" : String.join(" ", sass))
                    + ", PTX " + (ptx.isEmpty() ? "none" : String.join(" ", ptx));
        }
    }

    public static void main(String[] args) throws IOException {
        System.out.println(describe(FatbinInfo.class.getClassLoader()));
    }
}
