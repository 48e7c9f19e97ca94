package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every {@link Args} failure is an IllegalArgumentException whose message names the argument. */
class ArgsTest {

    private static IllegalArgumentException fails(Executable e) {
        return assertThrows(IllegalArgumentException.class, e);
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "'" + e.getMessage() + "' does not mention '" + p + "'");
        }
    }

    @Test
    void notNull() {
        Object o = new Object();
        assertSame(o, Args.notNull(o, "weights"));
        assertMentions(fails(() -> Args.notNull(null, "weights")), "weights", "null");
    }

    @Test
    void live() {
        Tensor t = Tensor.allocate(DType.FP32, 2, 3);
        assertSame(t, Args.live(t, "input"));
        t.close();
        assertMentions(fails(() -> Args.live(t, "input")), "input", "closed", "fp32[2, 3]");
        assertMentions(fails(() -> Args.live(null, "input")), "input", "null");
    }

    @Test
    void dtypeFromASet() {
        try (Tensor t = Tensor.allocate(DType.INT32, 4)) {
            assertSame(t, Args.dtype(t, "scales", DType.INT32));
            assertSame(t, Args.dtype(t, "scales", EnumSet.of(DType.INT32, DType.FP32)));
            IllegalArgumentException e = fails(() -> Args.dtype(t, "x", EnumSet.of(DType.BF16, DType.FP16)));
            assertMentions(e, "x", "int32", "bf16, fp16");
            assertMentions(fails(() -> Args.dtype(t, "scales", DType.FP32)), "scales", "int32", "fp32");
        }
    }

    @Test
    void shapeWithWildcards() {
        try (Tensor t = Tensor.allocate(DType.BF16, 2, 8, 64)) {
            assertSame(t, Args.shape(t, "q", 2, 8, 64));
            assertSame(t, Args.shape(t, "q", -1, 8, -1));
            IllegalArgumentException e = fails(() -> Args.shape(t, "q", -1, 4, 64));
            assertMentions(e, "q", "[2, 8, 64]", "[*, 4, 64]");
            assertMentions(fails(() -> Args.shape(t, "q", 2, 8)), "q", "[2, 8, 64]", "[2, 8]");
        }
    }

    @Test
    void requireAndFinite() {
        assertDoesNotThrow(() -> Args.require(true, "never"));
        assertEquals("groupSize = 7 must divide k", fails(() -> Args.require(false, "groupSize = 7 must divide k")).getMessage());
        assertEquals(0.5f, Args.finite(0.5f, "scale"));
        assertMentions(fails(() -> Args.finite(Float.NaN, "scale")), "scale", "NaN", "finite");
        assertMentions(fails(() -> Args.finite(Float.POSITIVE_INFINITY, "softmaxScale")), "softmaxScale", "Infinity");
    }

    @Test
    void inPlaceOrDisjoint() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(64 * 4, 64);
            Tensor whole = Tensor.wrap(seg, DType.FP32, new long[] {8, 8});
            Tensor sameAgain = Tensor.wrap(seg, DType.FP32, new long[] {8, 8});
            Tensor firstHalf = Tensor.wrap(seg.asSlice(0, 128), DType.FP32, new long[] {4, 8});
            Tensor secondHalf = Tensor.wrap(seg.asSlice(128, 128), DType.FP32, new long[] {4, 8});
            Tensor other = Tensor.allocate(arena, DType.FP32, 8, 8);
            assertDoesNotThrow(() -> Args.inPlaceOrDisjoint(whole, "x", sameAgain, "y"));
            assertDoesNotThrow(() -> Args.inPlaceOrDisjoint(whole, "x", other, "y"));
            assertDoesNotThrow(() -> Args.inPlaceOrDisjoint(firstHalf, "x", secondHalf, "y"));
            assertMentions(fails(() -> Args.inPlaceOrDisjoint(whole, "x", firstHalf, "y")), "y", "x", "partially overlaps");

            assertDoesNotThrow(() -> Args.disjoint(firstHalf, "x", secondHalf, "out"));
            assertMentions(fails(() -> Args.disjoint(whole, "x", sameAgain, "out")), "out", "x", "overlaps");
            assertMentions(fails(() -> Args.disjoint(whole, "x", secondHalf, "out")), "out", "x");
        }
    }

    /** A backend that owns {@code own}; it runs nothing. */
    private static Backend backendOwning(Device own) {
        return new Backend() {
            @Override
            public String name() {
                return "gpu-fixture";
            }

            @Override
            public String description() {
                return "a backend owning " + own;
            }

            @Override
            public List<Device> devices() {
                return List.of(own);
            }

            @Override
            public <K> Optional<K> kernels(Class<K> kernelType) {
                return Optional.empty();
            }
        };
    }

    @Test
    void reachableTakesHostMemoryAndTheBackendsOwnDevicesOnly() {
        Device gpu0 = new Device("gpu-fixture", 0, "fixture GPU 0", false);
        Device gpu1 = new Device("gpu-fixture", 1, "fixture GPU 1", false);
        Backend onGpu0 = backendOwning(gpu0);
        Backend cpu = backendOwning(new Device("cpu", 0, "fixture CPU", true));
        try (Arena arena = Arena.ofConfined()) {
            Tensor host = Tensor.allocate(arena, DType.BF16, 2, 4);
            Tensor onDevice0 = Tensor.wrapDevice(null, arena.allocate(16), gpu0, DType.BF16, 4, 2, 4);
            Tensor onDevice1 = Tensor.wrapDevice(null, arena.allocate(16), gpu1, DType.BF16, 4, 2, 4);
            assertDoesNotThrow(() -> Args.reachable(onGpu0, host, "x"));
            assertDoesNotThrow(() -> Args.reachable(cpu, host, "x"));
            assertDoesNotThrow(() -> Args.reachable(onGpu0, onDevice0, "x"));
            assertMentions(fails(() -> Args.reachable(cpu, onDevice0, "q.data")), "q.data (bf16[2, 4]@gpu-fixture) is in gpu-fixture:0",
                    "the 'gpu-fixture' backend cannot reach", "host memory");
            assertMentions(fails(() -> Args.reachable(onGpu0, onDevice1, "x")), "x (", "gpu-fixture:1",
                    "host memory or gpu-fixture:0 (fixture GPU 0)");

            assertDoesNotThrow(() -> Args.host(host, "qweight"));
            assertMentions(fails(() -> Args.host(onDevice0, "qweight")), "qweight (", "gpu-fixture:0", "host memory");
        }
    }
}
