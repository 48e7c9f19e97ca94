package org.offload4j.core.io;

import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;

/** Helpers shared by the io tests: fixture paths, random data, hand-made safetensors images. */
final class IoTestFiles {
    private IoTestFiles() {}

    /** A file under src/test/resources/io (written by src/test/python/make_io_fixtures.py). */
    static Path fixture(String name) {
        try {
            return Path.of(IoTestFiles.class.getResource("/io/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing fixture io/" + name, e);
        }
    }

    /** Random bytes for {@code shape} of {@code type}. */
    static TensorData random(ElementType type, long[] shape, long seed) {
        byte[] b = new byte[Math.toIntExact(TensorData.elementCount(shape) * type.byteSize())];
        new Random(seed).nextBytes(b);
        return new TensorData(type, shape, MemorySegment.ofArray(b));
    }

    /** 8-byte little-endian length, {@code header} in UTF-8, then {@code data}. */
    static MemorySegment image(String header, byte[] data) {
        return image(header.getBytes(StandardCharsets.UTF_8), data);
    }

    static MemorySegment image(byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        return MemorySegment.ofArray(b.array());
    }

    /** The f32 fixture values: (i − 5.5) / 4 for i = 0 … 11, shape [3, 4]. */
    static float f32Value(int i) {
        return (i - 5.5f) / 4;
    }
}
