package org.offload4j.core;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Argument checks for op facades. Every failure is an {@link IllegalArgumentException} whose
 * message names the argument, what was given and what is accepted, and is thrown before any
 * output is written.
 */
public final class Args {
    private Args() {}

    public static <T> T notNull(T value, String name) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        return value;
    }

    /** Not null, not closed, and in host-addressable memory if {@code needsHost}. */
    public static Tensor live(Tensor t, String name) {
        notNull(t, name);
        if (!t.isAlive()) {
            throw new IllegalArgumentException(name + " (" + t.describe() + ") is closed");
        }
        return t;
    }

    public static Tensor dtype(Tensor t, String name, Set<DType> accepted) {
        if (!accepted.contains(t.dtype())) {
            throw new IllegalArgumentException(name + " has dtype " + t.dtype() + "; accepted: "
                    + accepted.stream().map(DType::toString).sorted().collect(Collectors.joining(", ")));
        }
        return t;
    }

    public static Tensor dtype(Tensor t, String name, DType expected) {
        if (t.dtype() != expected) {
            throw new IllegalArgumentException(name + " has dtype " + t.dtype() + "; expected " + expected);
        }
        return t;
    }

    /** Rank and every dimension as given; {@code -1} in {@code expected} accepts any size. */
    public static Tensor shape(Tensor t, String name, long... expected) {
        long[] s = t.shape();
        boolean ok = s.length == expected.length;
        for (int i = 0; ok && i < s.length; i++) {
            ok = expected[i] < 0 || expected[i] == s[i];
        }
        if (!ok) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(s) + "; expected "
                    + Arrays.stream(expected).mapToObj(d -> d < 0 ? "*" : Long.toString(d)).collect(Collectors.joining(", ", "[", "]")));
        }
        return t;
    }

    /**
     * Throws with {@code message} unless {@code condition}. The message is built before the call,
     * passing or not: checks on an op's every call (the facades' matmul, forward, transform) test
     * explicitly and build their message only to throw, so that a call makes no garbage strings.
     */
    public static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    public static float finite(float value, String name) {
        if (!Float.isFinite(value)) {
            throw new IllegalArgumentException(name + " = " + value + " must be finite");
        }
        return value;
    }

    /**
     * An output must be either exactly the input (in place) or share no byte with it.
     */
    public static void inPlaceOrDisjoint(Tensor in, String inName, Tensor out, String outName) {
        if (in.overlaps(out) && !in.sameStorage(out)) {
            throw new IllegalArgumentException(outName + " partially overlaps " + inName
                    + ": pass the same tensor for in-place, or disjoint memory");
        }
    }

    /** An output must be writable: refused here, before any work, rather than at the kernel's first store. */
    public static void writable(Tensor out, String name) {
        if (out.isReadOnly()) {
            throw new IllegalArgumentException(name + " (" + out.describe() + ") is read-only memory; outputs must be writable");
        }
    }

    /** {@code t} must live on the device of {@code ref}. */
    public static void sameDevice(Tensor ref, String refName, Tensor t, String name) {
        if (!t.device().equals(ref.device())) {
            throw new IllegalArgumentException(name + " is on " + t.device() + "; expected the device of " + refName + ", "
                    + ref.device());
        }
    }

    /**
     * {@code t} must be in memory that {@code backend}'s kernels can reach: host memory (which every
     * backend reads, staging it where it must) or one of {@link Backend#devices()}. A CUDA tensor
     * given to the CPU backend is refused here rather than failing inside the kernel.
     */
    public static void reachable(Backend backend, Tensor t, String name) {
        if (!t.device().hostAddressable() && !backend.devices().contains(t.device())) {
            throw new IllegalArgumentException(name + " (" + t.describe() + ") is in " + t.device()
                    + " memory, which the '" + backend.name() + "' backend cannot reach; it takes host memory"
                    + backend.devices().stream().filter(d -> !d.hostAddressable()).map(d -> " or " + d)
                            .collect(Collectors.joining()));
        }
    }

    /** {@code t} must be in host memory: for values that Java reads, such as a weight it validates or repacks. */
    public static void host(Tensor t, String name) {
        if (!t.device().hostAddressable()) {
            throw new IllegalArgumentException(name + " (" + t.describe() + ") is in " + t.device()
                    + " memory; it must be in host memory, which Java can read");
        }
    }

    /** The output must not share a byte with an input. */
    public static void disjoint(Tensor in, String inName, Tensor out, String outName) {
        if (in.overlaps(out)) {
            throw new IllegalArgumentException(outName + " overlaps " + inName + "; it must be separate memory");
        }
    }
}
