package org.offload4j.core.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.offload4j.core.Args;

/**
 * Writes NumPy {@code .npy} files (read them with {@link NpyFile}).
 *
 * <p><b>bf16 convention.</b> NumPy has no bfloat16. A BF16 tensor is written as {@code <u2}:
 * each element's 16 raw bits as an unsigned integer, and a {@code <u2} file is read back as
 * BF16. On the Python side: {@code t.view(torch.uint16).numpy()} (or
 * {@code t.view(torch.int16).numpy().view(np.uint16)}) writes one, and
 * {@code torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)} reads one; the float32 values
 * are {@code (a.astype(np.uint32) << 16).view(np.float32)}. FP8 types have no NumPy dtype and no
 * such convention here: write them to safetensors.
 */
public final class Npy {
    /** Header plus preamble is padded to this, as NumPy does, so the data is aligned. */
    private static final int ALIGN = 64;
    /** NumPy's {@code GROWTH_AXIS_MAX_DIGITS}: spare header room for the first axis's length. */
    private static final int GROWTH_AXIS_MAX_DIGITS = 21;

    private Npy() {}

    /** Writes {@code data} as the oldest format version whose header fits (1.0, else 2.0). */
    public static void write(Path file, TensorData data) throws IOException {
        Args.notNull(data, "data");
        write(file, data, header(data, 1).length <= 0xFFFF ? 1 : 2);
    }

    /**
     * Writes {@code data} with format version {@code majorVersion}.0 (1, 2 or 3; 3.0 only differs
     * in allowing UTF-8 in the header, which this writer never needs).
     *
     * @throws IllegalArgumentException for FP8 data, which NumPy cannot hold, or a version 1.0 header over 65535 bytes
     */
    public static void write(Path file, TensorData data, int majorVersion) throws IOException {
        Args.notNull(file, "file");
        Args.notNull(data, "data");
        Args.require(majorVersion >= 1 && majorVersion <= 3, "majorVersion = " + majorVersion + "; accepted: 1, 2, 3");
        byte[] header = header(data, majorVersion);
        Args.require(majorVersion > 1 || header.length <= 0xFFFF, "shape " + Arrays.toString(data.shape())
                + " needs a header of " + header.length + " bytes; version 1.0 allows 65535");
        int pre = majorVersion == 1 ? 10 : 12;
        ByteBuffer preamble = ByteBuffer.allocate(pre).order(ByteOrder.LITTLE_ENDIAN).put(NpyFile.MAGIC)
                .put((byte) majorVersion).put((byte) 0);
        if (majorVersion == 1) {
            preamble.putShort((short) header.length);
        } else {
            preamble.putInt(header.length);
        }
        FileReplace.write(file, ch -> {
            SafeTensors.writeFully(ch, preamble.flip());
            SafeTensors.writeFully(ch, ByteBuffer.wrap(header));
            SafeTensors.writeSegment(ch, data.bytes());
        });
    }

    /** The header dict as NumPy writes it, padded with spaces and a final newline to the alignment. */
    private static byte[] header(TensorData data, int majorVersion) {
        String descr = data.type().npyDescr().orElseThrow(() -> new IllegalArgumentException("element type " + data.type()
                + " has no NumPy dtype; write it to safetensors instead"));
        long[] shape = data.shape();
        String dims = shape.length == 1 ? "(" + shape[0] + ",)"
                : Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", ", "(", ")"));
        // NumPy (1.23 on) leaves room for the first axis to grow to 21 digits before it pads.
        String growth = shape.length == 0 ? "" : " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - Long.toString(shape[0]).length()));
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + dims + ", }" + growth;
        int pre = majorVersion == 1 ? 10 : 12;
        int total = pre + dict.length() + 1;
        int padded = (total + ALIGN - 1) / ALIGN * ALIGN;
        return (dict + " ".repeat(padded - total) + "\n").getBytes(StandardCharsets.US_ASCII);
    }
}
