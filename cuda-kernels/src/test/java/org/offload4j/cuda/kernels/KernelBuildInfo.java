package org.offload4j.cuda.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Properties;

/**
 * What the build recorded about the kernels' module image {@code org/offload4j/cuda/offload4j.fatbin}
 * in {@code offload4j.fatbin.properties} (see {@code src/main/cuda/build-fatbin.sh}): whether nvcc
 * ran, its version, the SASS archs, the PTX arch, the build date and the kernel names. The runtime
 * loader is {@link org.offload4j.cuda.KernelImage}; this test-side reader checks what the build recorded.
 * Properties written: {@code built}, {@code reason} (when not built), {@code nvcc} (its version, as {@code nvcc.version}), {@code nvcc.path},
 * {@code nvcc.version}, {@code archs}, {@code ptx}, {@code build.date}, {@code kernels},
 * {@code symbol.check}.
 *
 * <p>Where the build found no nvcc there is no fatbin and {@link #built()} is false;
 * {@link #notBuiltReason()} then says why, for the backend's "kernels not built: …" status.
 */
public final class KernelBuildInfo {
    /** Resource path of the fatbin, for {@link ClassLoader#getResourceAsStream}. */
    public static final String FATBIN_RESOURCE = "org/offload4j/cuda/offload4j.fatbin";
    /** Resource path of the build's description of it. */
    public static final String PROPERTIES_RESOURCE = "org/offload4j/cuda/offload4j.fatbin.properties";

    private final Properties props;

    private KernelBuildInfo(Properties props) {
        this.props = props;
    }

    /** Reads the properties resource; a missing one is a packaging bug ({@link LinkageError}). */
    public static KernelBuildInfo load() {
        Properties p = new Properties();
        try (InputStream in = KernelBuildInfo.class.getClassLoader().getResourceAsStream(PROPERTIES_RESOURCE)) {
            if (in == null) {
                throw new LinkageError(PROPERTIES_RESOURCE + " is not on the class path: the cuda-kernels jar was not built by its pom");
            }
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + PROPERTIES_RESOURCE, e);
        }
        return new KernelBuildInfo(p);
    }

    /** True when nvcc built the fatbin. */
    public boolean built() {
        return Boolean.parseBoolean(props.getProperty("built", "false"));
    }

    /** Why there is no fatbin, or {@code null} when there is one. */
    public String notBuiltReason() {
        return built() ? null : props.getProperty("reason", "unknown (no reason recorded)");
    }

    /** The fatbin's bytes, for {@code cuModuleLoadData}. */
    public byte[] fatbin() {
        if (!built()) {
            throw new IllegalStateException("kernels not built: " + notBuiltReason());
        }
        try (InputStream in = KernelBuildInfo.class.getClassLoader().getResourceAsStream(FATBIN_RESOURCE)) {
            if (in == null) {
                throw new LinkageError(FATBIN_RESOURCE + " is missing although " + PROPERTIES_RESOURCE + " says built=true");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + FATBIN_RESOURCE, e);
        }
    }

    /** E.g. {@code release 13.0, V13.0.88}; null when not built. */
    public String nvccVersion() {
        return props.getProperty("nvcc.version");
    }

    /** The SASS archs, e.g. {@code [sm_80, sm_86, sm_89, sm_90a]}; empty when not built. */
    public List<String> archs() {
        return split(props.getProperty("archs", ""));
    }

    /** The PTX arch embedded for forward compatibility, e.g. {@code compute_90}; null when not built. */
    public String ptxArch() {
        return props.getProperty("ptx");
    }

    /** The {@code extern "C"} kernel names found in the sources at build time. */
    public List<String> kernels() {
        return split(props.getProperty("kernels", ""));
    }

    public String buildDate() {
        return props.getProperty("build.date");
    }

    private static List<String> split(String s) {
        return s.isBlank() ? List.of() : List.of(s.split(","));
    }

    @Override
    public String toString() {
        return built() ? "offload4j.fatbin (nvcc " + nvccVersion() + ", " + archs() + " + PTX " + ptxArch() + ", " + buildDate() + ")"
                : "kernels not built: " + notBuiltReason();
    }
}
