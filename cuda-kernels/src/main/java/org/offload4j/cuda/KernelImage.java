package org.offload4j.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Optional;
import java.util.Properties;

/**
 * The fatbin that the build compiles from {@code src/main/cuda/*.cu} and ships as the resource
 * {@code org/offload4j/cuda/offload4j.fatbin}, with {@code offload4j.fatbin.properties} beside it
 * saying how it was built, or, where the build found no nvcc, that it was not and why.
 */
public final class KernelImage {
    static final String FATBIN = "offload4j.fatbin";
    static final String PROPERTIES = "offload4j.fatbin.properties";

    private final byte[] bytes;
    private final Properties properties;

    private KernelImage(byte[] bytes, Properties properties) {
        this.bytes = bytes;
        this.properties = properties;
    }

    /**
     * The shipped image, or the reason it is missing (one sentence, e.g. the build's own reason
     * for not running nvcc).
     */
    public static Result load() {
        Properties props = new Properties();
        try (InputStream in = KernelImage.class.getResourceAsStream(PROPERTIES)) {
            if (in != null) {
                props.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + PROPERTIES, e);
        }
        try (InputStream in = KernelImage.class.getResourceAsStream(FATBIN)) {
            if (in == null) {
                String why = props.getProperty("reason", "the jar has no " + FATBIN + " resource");
                return new Result(Optional.empty(), "the CUDA kernels were not built: " + why);
            }
            return new Result(Optional.of(new KernelImage(in.readAllBytes(), props)), null);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + FATBIN, e);
        }
    }

    /** An image from bytes already in hand (tests, or a fatbin loaded from elsewhere). */
    static KernelImage of(byte[] bytes, Properties properties) {
        return new KernelImage(bytes.clone(), properties);
    }

    /** The image for {@code cuModuleLoadData}; a copy. */
    byte[] bytes() {
        return bytes.clone();
    }

    public int size() {
        return bytes.length;
    }

    /** The architectures compiled, as the build recorded them (e.g. {@code sm_80 sm_86 sm_89 sm_90a compute_90}). */
    public String architectures() {
        return properties.getProperty("archs", "unknown");
    }

    /** The nvcc version the build used. */
    public String compiler() {
        return properties.getProperty("nvcc", "unknown");
    }

    /** The image, or why there is none. */
    public record Result(Optional<KernelImage> image, String missingReason) {
    }
}
