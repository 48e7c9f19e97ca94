package org.offload4j.core.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Random mutations of valid files: every outcome is either a file that reads (and every byte of
 * every tensor it hands out is inside the image) or a {@link TensorFileException}; never another
 * exception, an out-of-bounds read or a crash. The corpus is the committed fixtures (a few KB);
 * mutations run in memory, so thousands of cases take well under a second.
 */
class TensorFileFuzzTest {
    private static final int CASES_PER_SEED_FILE = 1000;
    /** Characters that matter to JSON, plus a non-ASCII one (two UTF-8 bytes). */
    private static final String SPECIALS = "{}[]:,\"0 \u00e9";

    @Test
    void mutatedSafetensorsAreReadOrRejectedCleanly() throws IOException {
        List<String> corpus = List.of("all_dtypes.safetensors", "sharded/model-00001-of-00002.safetensors",
                "sharded/model-00002-of-00002.safetensors");
        int accepted = 0;
        int rejected = 0;
        for (String name : corpus) {
            byte[] seed = Files.readAllBytes(IoTestFiles.fixture(name));
            Random rnd = new Random(name.hashCode());
            for (int c = 0; c < CASES_PER_SEED_FILE; c++) {
                byte[] m = mutateSafetensors(seed, rnd);
                try (SafeTensorsFile st = SafeTensorsFile.of("fuzz", MemorySegment.ofArray(m))) {
                    touchEveryByte(st, m.length);
                    accepted++;
                } catch (TensorFileException e) {
                    assertTrue(e.getMessage().startsWith("fuzz: "), e.getMessage());
                    rejected++;
                } catch (RuntimeException | Error e) {
                    fail("case " + c + " of " + name + " threw " + e + " instead of a TensorFileException", e);
                }
            }
        }
        assertTrue(rejected > accepted / 4 && accepted > 0, "mutations should both break and keep files: accepted "
                + accepted + ", rejected " + rejected);
    }

    @Test
    void mutatedNpyAreReadOrRejectedCleanly() throws IOException {
        int accepted = 0;
        int rejected = 0;
        for (String name : List.of("f32.npy", "i64.npy", "f32_v2.npy", "f32_v3.npy", "scalar.npy")) {
            byte[] seed = Files.readAllBytes(IoTestFiles.fixture(name));
            Random rnd = new Random(name.hashCode());
            for (int c = 0; c < 600; c++) {
                byte[] m = mutateBytes(seed, rnd, 10);
                try (NpyFile f = NpyFile.of("fuzz.npy", "x", MemorySegment.ofArray(m))) {
                    long n = f.data().bytes().byteSize();
                    assertTrue(n <= m.length, "data inside the image");
                    if (n > 0) {
                        f.data().bytes().get(ValueLayout.JAVA_BYTE, n - 1);
                    }
                    accepted++;
                } catch (TensorFileException e) {
                    rejected++;
                } catch (RuntimeException | Error e) {
                    fail("case " + c + " of " + name + " threw " + e, e);
                }
            }
        }
        assertTrue(accepted > 0 && rejected > 0, "accepted " + accepted + ", rejected " + rejected);
    }

    private static void touchEveryByte(SafeTensorsFile st, int imageSize) {
        long total = 0;
        for (String n : st.names()) {
            MemorySegment b = st.data(n).bytes();
            total += b.byteSize();
            for (long i = 0; i < b.byteSize(); i++) {
                b.get(ValueLayout.JAVA_BYTE, i);
            }
        }
        assertTrue(total <= imageSize, "tensors lie inside the image");
    }

    /** One of: the JSON text mutated as text, the length field changed, or raw bytes flipped/cut. */
    private static byte[] mutateSafetensors(byte[] seed, Random rnd) {
        long n = ByteBuffer.wrap(seed, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return switch (rnd.nextInt(4)) {
            case 0 -> withHeader(seed, (int) n, mutateJson(new String(seed, 8, (int) n, StandardCharsets.UTF_8), rnd));
            case 1 -> {
                byte[] m = seed.clone();
                long len = switch (rnd.nextInt(3)) {
                    case 0 -> n + rnd.nextInt(33) - 16;
                    case 1 -> rnd.nextLong();
                    default -> seed.length - 8 + rnd.nextInt(3) - 1;
                };
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(0, len);
                yield m;
            }
            default -> mutateBytes(seed, rnd, 0);
        };
    }

    /** Replaces a number by another, deletes or duplicates a span, or swaps a character. */
    private static String mutateJson(String json, Random rnd) {
        StringBuilder s = new StringBuilder(json);
        int edits = 1 + rnd.nextInt(2);
        for (int e = 0; e < edits && !s.isEmpty(); e++) {
            int at = rnd.nextInt(s.length());
            switch (rnd.nextInt(5)) {
                case 0 -> {
                    int end = at;
                    while (end < s.length() && Character.isDigit(s.charAt(end))) {
                        end++;
                    }
                    String[] numbers = {"0", "1", "7", "-1", "1e3", "2.5", "9223372036854775807", "18446744073709551616"};
                    s.replace(at, end, numbers[rnd.nextInt(numbers.length)]);
                }
                case 1 -> s.delete(at, Math.min(s.length(), at + 1 + rnd.nextInt(12)));
                case 2 -> s.insert(at, s, at, Math.min(s.length(), at + 1 + rnd.nextInt(20)));
                case 3 -> s.setCharAt(at, SPECIALS.charAt(rnd.nextInt(SPECIALS.length())));
                default -> {
                    String[] dtypes = {"F32", "F16", "BF16", "F8_E4M3", "I64", "U8", "F64", "bool", ""};
                    int q = s.indexOf("\"dtype\":\"", at);
                    int v = q + 9;
                    int end = q < 0 ? -1 : s.indexOf("\"", v);
                    if (end >= 0) {
                        s.replace(v, end, dtypes[rnd.nextInt(dtypes.length)]);
                    }
                }
            }
        }
        return s.toString();
    }

    private static byte[] withHeader(byte[] seed, int oldLen, String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + seed.length - 8 - oldLen).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(seed, 8 + oldLen, seed.length - 8 - oldLen);
        return b.array();
    }

    /** Flips random bytes at or after {@code from}, or cuts or extends the file. */
    private static byte[] mutateBytes(byte[] seed, Random rnd, int from) {
        byte[] m = seed.clone();
        switch (rnd.nextInt(3)) {
            case 0 -> {
                for (int i = 1 + rnd.nextInt(4); i > 0; i--) {
                    int at = from + rnd.nextInt(m.length - from);
                    m[at] = (byte) rnd.nextInt(256);
                }
            }
            case 1 -> m = java.util.Arrays.copyOf(m, rnd.nextInt(m.length));
            default -> m = java.util.Arrays.copyOf(m, m.length + 1 + rnd.nextInt(16));
        }
        return m;
    }
}
