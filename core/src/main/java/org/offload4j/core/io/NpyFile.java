package org.offload4j.core.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.offload4j.core.Args;

/**
 * A NumPy {@code .npy} array, memory-mapped and validated at {@link #open}; its data is a
 * read-only view of the mapping. As a {@link TensorSource} it holds one tensor, named after the
 * file without {@code .npy}.
 *
 * <p><b>Format</b> (<a href="https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html">numpy.lib.format</a>):
 * <pre>
 *  6 bytes  \x93NUMPY
 *  2 bytes  major, minor version: 1.0, 2.0 or 3.0
 *  2 bytes (1.0) or 4 bytes (2.0, 3.0)  H, little-endian: the header length
 *  H bytes  the header, a Python dict literal {'descr': …, 'fortran_order': …, 'shape': (…), }
 *           (latin-1 in 1.0 and 2.0, UTF-8 in 3.0), padded with spaces and ending in '\n'
 *  rest     the data, exactly elementCount · itemsize bytes
 * </pre>
 * Accepted: little-endian (or single-byte) {@code descr} of the types in {@link ElementType}
 * that NumPy has ({@code <u2} read as BF16, see {@link Npy}); C order (Fortran order only where
 * it is the same layout: at most one dimension above 1). Everything else — big-endian,
 * structured or object dtypes, a data size that does not match the shape, a header past the end
 * of the file or over {@value SafeTensorsFile#MAX_HEADER_BYTES} bytes — is a
 * {@link TensorFileException} naming the file and the problem.
 */
public final class NpyFile implements TensorSource {
    static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    private final String sourceName;
    private final String tensorName;
    private final Arena arena;
    private final int majorVersion;
    private final TensorData data;

    private NpyFile(String sourceName, String tensorName, Arena arena, int majorVersion, TensorData data) {
        this.sourceName = sourceName;
        this.tensorName = tensorName;
        this.arena = arena;
        this.majorVersion = majorVersion;
        this.data = data;
    }

    /**
     * Maps and validates {@code file}.
     *
     * @throws TensorFileException when it breaks the format
     * @throws IOException         when it cannot be read
     */
    public static NpyFile open(Path file) throws IOException {
        Args.notNull(file, "file");
        String fileName = file.getFileName() == null ? "array" : file.getFileName().toString();
        String tensor = fileName.endsWith(".npy") ? fileName.substring(0, fileName.length() - 4) : fileName;
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 10) {
                throw new TensorFileException(file.toString(), null, "truncated: " + size + " bytes, too short for a .npy preamble");
            }
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(file.toString(), tensor, all, arena);
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Validates a {@code .npy} image in memory (kept alive by the caller); its tensor is named {@code tensorName}. */
    public static NpyFile of(String sourceName, String tensorName, MemorySegment bytes) {
        Args.notNull(sourceName, "sourceName");
        Args.notNull(tensorName, "tensorName");
        Args.notNull(bytes, "bytes");
        return parse(sourceName, tensorName, bytes.asReadOnly(), null);
    }

    private static NpyFile parse(String file, String tensor, MemorySegment all, Arena arena) {
        long size = all.byteSize();
        if (size < 10) {
            throw new TensorFileException(file, null, "truncated: " + size + " bytes, too short for a .npy preamble");
        }
        if (all.asSlice(0, 6).mismatch(MemorySegment.ofArray(MAGIC)) != -1) {
            throw new TensorFileException(file, null, "not a .npy file: it does not start with \\x93NUMPY");
        }
        int major = all.get(ValueLayout.JAVA_BYTE, 6) & 0xFF;
        int minor = all.get(ValueLayout.JAVA_BYTE, 7) & 0xFF;
        if (major < 1 || major > 3 || minor != 0) {
            throw new TensorFileException(file, null, "format version " + major + "." + minor + " is not accepted; accepted: 1.0, 2.0, 3.0");
        }
        long start = major == 1 ? 10 : 12;
        if (size < start) {
            throw new TensorFileException(file, null, "truncated: " + size + " bytes, too short for a version " + major + " preamble");
        }
        long headerLen = major == 1 ? all.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFF
                : all.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFFFFFFL;
        if (headerLen > SafeTensorsFile.MAX_HEADER_BYTES) {
            throw new TensorFileException(file, null, "header length " + headerLen + " exceeds the limit of "
                    + SafeTensorsFile.MAX_HEADER_BYTES + " bytes (100 MB)");
        }
        if (headerLen > size - start) {
            throw new TensorFileException(file, null, "header length " + headerLen + " runs past the end of the file ("
                    + size + " bytes)");
        }
        String text = decode(file, all.asSlice(start, headerLen).toArray(ValueLayout.JAVA_BYTE), major);
        Map<String, Object> header = NpyHeader.parse(file, text);
        TypeAndShape ts = check(file, header);
        long dataStart = start + headerLen;
        long expected;
        try {
            expected = Math.multiplyExact(TensorData.elementCount(ts.shape), ts.type.byteSize());
        } catch (ArithmeticException | IllegalArgumentException e) { // overflow (dimensions are ≥ 0 here)
            throw new TensorFileException(file, tensor, "shape " + Arrays.toString(ts.shape) + " has more elements than a file can hold");
        }
        if (expected != size - dataStart) {
            throw new TensorFileException(file, tensor, "shape " + Arrays.toString(ts.shape) + " of " + header.get("descr")
                    + " needs " + expected + " bytes of data; the file has " + (size - dataStart)
                    + (expected > size - dataStart ? " (truncated)" : " (trailing bytes)"));
        }
        TensorData data = new TensorData(ts.type, ts.shape, all.asSlice(dataStart, expected));
        return new NpyFile(file, tensor, arena, major, data);
    }

    private record TypeAndShape(ElementType type, long[] shape) {}

    private static String decode(String file, byte[] header, int major) {
        if (major < 3) {
            return new String(header, StandardCharsets.ISO_8859_1);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw new TensorFileException(file, null, "version 3.0 header is not valid UTF-8", e);
        }
    }

    private static TypeAndShape check(String file, Map<String, Object> header) {
        if (!header.keySet().equals(KEYS)) {
            throw new TensorFileException(file, null, "header has keys " + header.keySet() + "; expected exactly " + KEYS);
        }
        if (!(header.get("descr") instanceof String descr)) {
            throw new TensorFileException(file, null, "'descr' is not a string (structured dtypes are not accepted)");
        }
        if (descr.startsWith(">") && descr.length() > 2 && !descr.endsWith("1")) {
            throw new TensorFileException(file, null, "descr '" + descr + "' is big-endian; only little-endian is accepted "
                    + "(in NumPy: a.astype(a.dtype.newbyteorder('<')))");
        }
        ElementType type = ElementType.fromNpyDescr(descr).orElseThrow(() -> new TensorFileException(file, null,
                "unknown descr '" + descr + "'; accepted: " + ElementType.acceptedNpyDescrs()));
        if (!(header.get("shape") instanceof long[] shape)) {
            throw new TensorFileException(file, null, "'shape' is not a tuple of integers");
        }
        if (!(header.get("fortran_order") instanceof Boolean fortran)) {
            throw new TensorFileException(file, null, "'fortran_order' is not True or False");
        }
        if (fortran && Arrays.stream(shape).filter(d -> d > 1).count() > 1) {
            throw new TensorFileException(file, null, "Fortran order is not accepted for shape " + Arrays.toString(shape)
                    + "; save np.ascontiguousarray(a) instead");
        }
        return new TypeAndShape(type, shape);
    }

    /** The array. */
    public TensorData data() {
        return data;
    }

    /** The format's major version: 1, 2 or 3. */
    public int majorVersion() {
        return majorVersion;
    }

    @Override
    public List<String> names() {
        return List.of(tensorName);
    }

    @Override
    public TensorData data(String name) {
        Args.require(tensorName.equals(name), sourceName + " has no tensor '" + name + "'; a .npy file holds one, '"
                + tensorName + "'");
        return data;
    }

    @Override
    public String sourceName() {
        return sourceName;
    }

    /** Unmaps the file (if this object mapped it). Idempotent. */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "NpyFile " + sourceName + " " + data.describe();
    }
}
