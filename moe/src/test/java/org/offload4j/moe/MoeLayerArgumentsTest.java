package org.offload4j.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * Every rejected input: an {@link IllegalArgumentException} that names the argument, thrown before
 * any work — the kernel is never called and the (poisoned) outputs keep every byte.
 */
class MoeLayerArgumentsTest {
    static final int T = 5, E = 4, K = 2, D = 8, FF = 6;

    Arena arena;
    ReferenceBackend backend;
    Tensor x, wr, w1, w2, out;
    ExpertWeights weights;
    MoeLayer layer;
    Routing routing;

    @BeforeEach
    void setUp() {
        arena = Arena.ofShared();
        backend = new ReferenceBackend();
        x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, T, D), 1, 1);
        wr = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, D, E), 2, 1);
        w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, E, D, 2 * FF), 3, 0.3);
        w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, E, FF, D), 4, 0.3);
        out = TensorFill.poison(Tensor.allocate(arena, DType.BF16, T, D));
        weights = Bf16ExpertWeights.of(w1, w2);
        layer = MoeLayer.create(backend, wr, weights, MoeOptions.topK(K));
        routing = layer.route(x);
        backend.calls.set(0);
    }

    @AfterEach
    void tearDown() {
        arena.close();
    }

    Tensor t(DType dtype, long... shape) {
        return TensorFill.poison(Tensor.allocate(arena, dtype, shape));
    }

    /** Every token to experts 0 and 1. */
    static Routing twoChoices(int experts, int tokens) {
        int[] ids = new int[2 * tokens];
        for (int t = 0; t < tokens; t++) {
            ids[2 * t + 1] = 1;
        }
        return Routing.of(experts, 2, ids, new float[2 * tokens]);
    }

    /** Throws IAE mentioning {@code fragment}; no kernel call; every output byte as before. */
    void rejected(String fragment, Executable call, Tensor... outputs) {
        byte[][] before = new byte[outputs.length][];
        for (int i = 0; i < outputs.length; i++) {
            before[i] = outputs[i].isAlive() ? outputs[i].segment().toArray(ValueLayout.JAVA_BYTE) : null;
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
        assertEquals(0, backend.calls.get(), "the kernel ran for a rejected call: " + e.getMessage());
        for (int i = 0; i < outputs.length; i++) {
            if (before[i] != null) {
                assertArrayEquals(before[i], outputs[i].segment().toArray(ValueLayout.JAVA_BYTE), "output " + i + " was written");
            }
        }
    }

    @Test
    void validCallsReachTheKernel() {
        layer.forward(x, out);
        assertEquals(2, backend.calls.get()); // route + forward
        assertTrue(TensorFill.hasPoison(out) == false);
        assertEquals("reference", layer.backend().name());
        assertEquals(E, layer.experts());
        assertEquals(D, layer.dModel());
        assertEquals(FF, layer.dFf());
    }

    @Test
    void emptyBatchIsANoOp() {
        Tensor none = t(DType.BF16, 0, D);
        Routing r = layer.forward(Tensor.allocate(arena, DType.BF16, 0, D), none);
        assertEquals(0, r.tokens());
        assertEquals(0, backend.calls.get());
    }

    @Test
    void construction() {
        MoeOptions two = MoeOptions.topK(2);
        rejected("backend must not be null", () -> MoeLayer.create(null, wr, weights, two));
        rejected("routerWeights must not be null", () -> MoeLayer.create(backend, null, weights, two));
        rejected("experts must not be null", () -> MoeLayer.create(backend, wr, null, two));
        rejected("options must not be null", () -> MoeLayer.create(backend, wr, weights, null));
        rejected("options.k = 5 exceeds the number of experts E = 4", () -> MoeLayer.create(backend, wr, weights, MoeOptions.topK(5)));
        rejected("k = 0", () -> new MoeOptions(0, false));
        rejected("k = 9", () -> new MoeOptions(9, false));
        rejected("routerWeights has shape [8, 3]", () -> MoeLayer.create(backend, t(DType.FP32, D, 3), weights, two));
        rejected("routerWeights has shape [7, 4]", () -> MoeLayer.create(backend, t(DType.FP32, 7, E), weights, two));
        rejected("routerWeights has shape [8, 0]", () -> MoeLayer.create(backend, t(DType.FP32, D, 0), weights, two));
        rejected("routerWeights has dtype fp16", () -> MoeLayer.create(backend, t(DType.FP16, D, E), weights, two));
        rejected("routerWeights overlaps the expert weights", () -> MoeLayer.create(backend,
                Tensor.wrap(w1.segment(), DType.FP32, new long[] {D, E}), weights, two));
        Tensor closed = Tensor.allocate(DType.FP32, D, E);
        closed.close();
        rejected("routerWeights", () -> MoeLayer.create(backend, closed, weights, two));
    }

    @Test
    void expertWeights() {
        rejected("w1 must not be null", () -> Bf16ExpertWeights.of(null, w2));
        rejected("w2 must not be null", () -> Bf16ExpertWeights.of(w1, null));
        rejected("w1 has dtype fp32", () -> Bf16ExpertWeights.of(t(DType.FP32, E, D, 2 * FF), w2));
        rejected("w2 has dtype fp16", () -> Bf16ExpertWeights.of(w1, t(DType.FP16, E, FF, D)));
        rejected("w1 has shape [4, 96]", () -> Bf16ExpertWeights.of(t(DType.BF16, E, D * 2 * FF), w2));
        rejected("w2 has shape [24, 8]", () -> Bf16ExpertWeights.of(w1, t(DType.BF16, E * FF, D)));
        rejected("E = 0 experts", () -> Bf16ExpertWeights.of(t(DType.BF16, 0, D, 2 * FF), t(DType.BF16, 0, FF, D)));
        rejected("d_model = 0", () -> Bf16ExpertWeights.of(t(DType.BF16, E, 0, 2 * FF), t(DType.BF16, E, FF, 0)));
        rejected("last dimension 11", () -> Bf16ExpertWeights.of(t(DType.BF16, E, D, 11), w2));
        rejected("last dimension 0", () -> Bf16ExpertWeights.of(t(DType.BF16, E, D, 0), w2));
        // d_ff mismatch, d_model mismatch, E mismatch between w1 and w2.
        rejected("w2 has shape [4, 5, 8]", () -> Bf16ExpertWeights.of(w1, t(DType.BF16, E, FF - 1, D)));
        rejected("w2 has shape [4, 6, 9]", () -> Bf16ExpertWeights.of(w1, t(DType.BF16, E, FF, D + 1)));
        rejected("w2 has shape [3, 6, 8]", () -> Bf16ExpertWeights.of(w1, t(DType.BF16, E - 1, FF, D)));
        Tensor closed = Tensor.allocate(DType.BF16, E, FF, D);
        closed.close();
        rejected("w2", () -> Bf16ExpertWeights.of(w1, closed));
    }

    @Test
    void forwardInputs() {
        rejected("x must not be null", () -> layer.forward(null, out), out);
        rejected("out must not be null", () -> layer.forward(x, null));
        rejected("x has dtype fp32", () -> layer.forward(t(DType.FP32, T, D), out), out);
        rejected("out has dtype fp16", () -> layer.forward(x, t(DType.FP16, T, D)));
        rejected("x has shape [5, 9]", () -> layer.forward(t(DType.BF16, T, D + 1), out), out);
        rejected("x has shape [1, 5, 8]", () -> layer.forward(t(DType.BF16, 1, T, D), out), out);
        rejected("out has shape [4, 8]", () -> layer.forward(x, t(DType.BF16, T - 1, D)));
        rejected("out has shape [5, 7]", () -> layer.forward(x, t(DType.BF16, T, D - 1)));
        rejected("routing must not be null", () -> layer.forward(x, null, out), out);
        Routing shorter = Routing.of(E, K, new int[] {0, 1}, new float[] {1, 0});
        rejected("routing has T = 1 tokens; expected x's T = 5", () -> layer.forward(x, shorter, out), out);
        Routing wider = twoChoices(E + 1, T);
        rejected("routing has E = 5", () -> layer.forward(x, wider, out), out);
    }

    @Test
    void closedTensors() {
        Tensor closedX = Tensor.allocate(DType.BF16, T, D);
        closedX.close();
        rejected("x (", () -> layer.forward(closedX, out), out);
        Tensor closedOut = Tensor.allocate(DType.BF16, T, D);
        closedOut.close();
        rejected("out (", () -> layer.forward(x, closedOut));
        // Weights closed after the layer was made: every call refuses.
        try (Arena own = Arena.ofShared()) {
            Tensor v1 = TensorFill.gaussian(Tensor.allocate(own, DType.BF16, E, D, 2 * FF), 3, 0.3);
            MoeLayer doomed = MoeLayer.create(backend, wr, Bf16ExpertWeights.of(v1, w2), MoeOptions.topK(K));
            v1.close();
            rejected("expert weights", () -> doomed.forward(x, out), out);
            rejected("expert weights", () -> doomed.route(x));
            rejected("expert weights", () -> doomed.expertMlp(t(DType.FP32, T * K, D), routing, t(DType.FP32, T * K, D)));
        }
        Tensor ownWr = TensorFill.gaussian(Tensor.allocate(DType.FP32, D, E), 2, 1);
        MoeLayer doomed = MoeLayer.create(backend, ownWr, weights, MoeOptions.topK(K));
        ownWr.close();
        rejected("routerWeights", () -> doomed.forward(x, out), out);
    }

    /**
     * A backend without a layout of its own (the default {@code prepare}) gives a layer over the
     * same weights, whose close frees nothing; closed weights are refused, naming them.
     */
    @Test
    void preparedLayers() {
        try (MoeLayer prepared = layer.prepared()) {
            assertSame(weights, prepared.expertWeights());
            assertSame(wr, prepared.routerWeights());
            assertEquals(layer.options(), prepared.options());
            assertSame(backend, prepared.backend());
        }
        assertTrue(weights.isAlive(), "closing a layer that shares the caller's weights closed them");
        try (Arena own = Arena.ofShared()) {
            Tensor v1 = TensorFill.gaussian(Tensor.allocate(own, DType.BF16, E, D, 2 * FF), 3, 0.3);
            MoeLayer doomed = MoeLayer.create(backend, wr, Bf16ExpertWeights.of(v1, w2), MoeOptions.topK(K));
            v1.close();
            rejected("expert weights", doomed::prepared);
        }
        assertFalse(layer.ownsExpertWeights());
        layer.close();
        layer.close(); // idempotent
        assertTrue(weights.isAlive(), "closing a layer closed the caller's weights");
        Tensor xp = t(DType.FP32, T * K, D);
        Tensor h = t(DType.FP32, T * K, 2 * FF);
        Tensor a = t(DType.FP32, T * K, FF);
        Tensor y = t(DType.FP32, T * K, D);
        for (Executable call : new Executable[] {() -> layer.forward(x, out), () -> layer.forward(x, routing, out),
            () -> layer.route(x), layer::prepared, () -> layer.permute(x, routing, xp), () -> layer.gateUp(xp, routing, h),
            () -> layer.swiglu(h, a), () -> layer.down(a, routing, y), () -> layer.expertMlp(xp, routing, y),
            () -> layer.combine(y, routing, out)}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, call);
            assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        }
        assertEquals(0, backend.calls.get(), "a closed layer reached the kernel");
    }

    /** A backend with a layout of its own: the layer owns its copy, frees it on close, and refuses copies it cannot close. */
    @Test
    void preparedLayersOwnTheBackendsCopy() {
        java.util.concurrent.atomic.AtomicInteger closes = new java.util.concurrent.atomic.AtomicInteger();
        class Copy implements ExpertWeights, AutoCloseable {
            public int experts() { return weights.experts(); }
            public int dModel() { return weights.dModel(); }
            public int dFf() { return weights.dFf(); }
            public String format() { return "copy"; }
            public boolean isAlive() { return closes.get() == 0; }
            public boolean overlaps(Tensor t) { return false; }
            public void decode(Matrix m, int e, int r0, int rows, int c0, int cols, float[] dst, int at, int stride) {
                weights.decode(m, e, r0, rows, c0, cols, dst, at, stride);
            }
            public void close() { closes.incrementAndGet(); }
        }
        ReferenceBackend copying = new ReferenceBackend(w -> new Copy());
        MoeLayer prepared = MoeLayer.create(copying, wr, weights, MoeOptions.topK(K)).prepared();
        assertTrue(prepared.ownsExpertWeights());
        assertTrue(prepared.expertWeights() instanceof Copy);
        prepared.forward(x, out);
        prepared.close();
        prepared.close();
        assertEquals(1, closes.get(), "the copy is closed once");
        assertTrue(weights.isAlive());
        final class Unclosable implements ExpertWeights { // Copy's methods, without close
            private final Copy copy = new Copy();
            public int experts() { return copy.experts(); }
            public int dModel() { return copy.dModel(); }
            public int dFf() { return copy.dFf(); }
            public String format() { return "unclosable"; }
            public boolean isAlive() { return true; }
            public boolean overlaps(Tensor t) { return false; }
            public void decode(Matrix m, int e, int r0, int rows, int c0, int cols, float[] dst, int at, int stride) {
                copy.decode(m, e, r0, rows, c0, cols, dst, at, stride);
            }
        }
        ReferenceBackend unclosable = new ReferenceBackend(w -> new Unclosable());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> MoeLayer.create(unclosable, wr, weights, MoeOptions.topK(K)).prepared());
        assertTrue(e.getMessage().contains("cannot be closed"), e.getMessage());
        // A bf16 view is AutoCloseable but closes nothing: not a copy the layer could own.
        ReferenceBackend view = new ReferenceBackend(w -> Bf16ExpertWeights.of(w1, w2));
        e = assertThrows(IllegalStateException.class, () -> MoeLayer.create(view, wr, weights, MoeOptions.topK(K)).prepared());
        assertTrue(e.getMessage().contains("cannot be closed"), e.getMessage());
    }

    @Test
    void outputsMustBeWritableAndOnTheInputsDevice() {
        Tensor readOnly = Tensor.wrap(out.segment().asReadOnly(), DType.BF16, new long[] {T, D});
        rejected("out (bf16[" + T + ", " + D + "]@host) is read-only", () -> layer.forward(x, readOnly), out);
        Tensor onGpu = Tensor.wrapDevice(null, arena.allocate(2L * T * D), new Device("fake", 0, "fake gpu", false),
                DType.BF16, D, T, D);
        rejected("out is on", () -> layer.forward(x, onGpu), out);
    }

    @Test
    void tensorsOnADeviceTheBackendCannotReachAreRejected() {
        Device gpu = new Device("fake", 0, "fake gpu", false);
        Tensor xGpu = onGpu(gpu, T, D);
        Tensor outGpu = onGpu(gpu, T, D);
        Tensor xpGpu = onGpu(gpu, routing.copies(), D);
        Tensor hGpu = onGpu(gpu, routing.copies(), 2 * FF);
        Tensor aGpu = onGpu(gpu, routing.copies(), FF);
        Tensor yGpu = onGpu(gpu, routing.copies(), D);
        String unreachable = " is in fake:0 (fake gpu) memory, which the 'reference' backend cannot reach";
        String x = "x (bf16[" + T + ", " + D + "]@fake)" + unreachable;
        rejected(x, () -> layer.route(xGpu));
        rejected(x, () -> layer.forward(xGpu, outGpu));
        rejected(x, () -> layer.forward(xGpu, routing, outGpu));
        rejected(x, () -> layer.permute(xGpu, routing, xpGpu));
        rejected("xPermuted (bf16[" + routing.copies() + ", " + D + "]@fake)" + unreachable, () -> layer.gateUp(xpGpu, routing, hGpu));
        rejected("xPermuted (", () -> layer.expertMlp(xpGpu, routing, yGpu));
        rejected("h (bf16[" + routing.copies() + ", " + 2 * FF + "]@fake)" + unreachable, () -> layer.swiglu(hGpu, aGpu));
        rejected("a (", () -> layer.down(aGpu, routing, yGpu));
        rejected("y (", () -> layer.combine(yGpu, routing, outGpu));

        Tensor wrGpu = Tensor.wrapDevice(null, arena.allocate(4L * D * E), gpu, DType.FP32, E, D, E);
        rejected("routerWeights (fp32[" + D + ", " + E + "]@fake)" + unreachable, () -> MoeLayer.create(backend, wrGpu, weights,
                MoeOptions.topK(K)));
        Tensor w1Gpu = Tensor.wrapDevice(null, arena.allocate(2L * E * D * 2 * FF), gpu, DType.BF16, 2 * FF, E, D, 2 * FF);
        Tensor w2Gpu = Tensor.wrapDevice(null, arena.allocate(2L * E * FF * D), gpu, DType.BF16, D, E, FF, D);
        rejected("w1 (bf16[" + E + ", " + D + ", " + 2 * FF + "]@fake) is in fake:0 (fake gpu) memory; it must be in host memory",
                () -> W4A16ExpertWeights.quantize(w1Gpu, w2Gpu, -1, false, DType.FP16));

        // permute runs on the host: device tensors are refused even where the backend reaches them.
        ReferenceBackend reaching = new ReferenceBackend(java.util.function.UnaryOperator.identity(), Device.HOST, gpu);
        MoeLayer onGpu = MoeLayer.create(reaching, wr, weights, MoeOptions.topK(K));
        rejected(x.replace(unreachable, " is in fake:0 (fake gpu) memory; it must be in host memory"),
                () -> onGpu.permute(xGpu, routing, xpGpu));
        rejected("xPermuted is on fake:0 (fake gpu); expected the device of x", () -> onGpu.permute(this.x, routing, xpGpu));
        rejected("experts.w1 (bf16[" + E + ", " + D + ", " + 2 * FF + "]@fake)" + unreachable,
                () -> MoeLayer.create(backend, wr, Bf16ExpertWeights.of(w1Gpu, w2Gpu), MoeOptions.topK(K)));
        rejected("w2 is on host:0 (host memory); expected the device of w1, fake:0", () -> Bf16ExpertWeights.of(w1Gpu, w2));
    }

    private Tensor onGpu(Device gpu, long rows, long cols) {
        return Tensor.wrapDevice(null, arena.allocate(2L * rows * cols), gpu, DType.BF16, cols, rows, cols);
    }

    @Test
    void outputsMustNotOverlapInputs() {
        rejected("out overlaps x", () -> layer.forward(x, x), x);
        // out over the second half of x's rows, as a separate view of the same memory.
        MemorySegment shared = arena.allocate(2L * 2 * T * D, 64);
        Tensor xs = TensorFill.gaussian(Tensor.wrap(shared, DType.BF16, new long[] {T, D}), 7, 1);
        Tensor outs = Tensor.wrap(shared.asSlice(2L * D * 3), DType.BF16, new long[] {T, D});
        rejected("out overlaps x", () -> layer.forward(xs, outs), outs);
        Tensor inW1 = Tensor.wrap(w1.segment(), DType.BF16, new long[] {T, D});
        rejected("out overlaps the expert weights", () -> layer.forward(x, inW1), inW1);
        Tensor inWr = Tensor.wrap(wr.segment(), DType.BF16, new long[] {T, D});
        rejected("out overlaps routerWeights", () -> layer.forward(x, inWr), inWr);
        MemorySegment big = arena.allocate(4L * T * K * 2 * FF, 64);
        Tensor xp = Tensor.wrap(big, DType.FP32, new long[] {T * K, D});
        rejected("y overlaps xPermuted", () -> layer.expertMlp(xp, routing, xp), xp);
        Tensor h = Tensor.wrap(big, DType.FP32, new long[] {T * K, 2 * FF});
        rejected("h overlaps xPermuted", () -> layer.gateUp(xp, routing, h), h);
    }

    @Test
    void stepInputs() {
        int p = T * K;
        Tensor xp = t(DType.BF16, p, D);
        Tensor h = t(DType.FP32, p, 2 * FF);
        Tensor a = t(DType.FP32, p, FF);
        Tensor y = t(DType.FP32, p, D);
        rejected("x has dtype fp32", () -> layer.route(t(DType.FP32, T, D)));
        rejected("x has shape [5, 7]", () -> layer.route(t(DType.BF16, T, D - 1)));
        rejected("xPermuted has shape [9, 8]", () -> layer.permute(x, routing, t(DType.BF16, p - 1, D)));
        rejected("xPermuted has dtype fp16", () -> layer.permute(x, routing, t(DType.FP16, p, D)));
        rejected("routing has T = 1", () -> layer.permute(x, Routing.of(E, 1, new int[] {0}, new float[] {1}), xp), xp);
        rejected("xPermuted has shape [10, 7]", () -> layer.gateUp(t(DType.BF16, p, D - 1), routing, h), h);
        rejected("h has shape [10, 11]", () -> layer.gateUp(xp, routing, t(DType.FP32, p, 2 * FF - 1)));
        rejected("h has dtype int32", () -> layer.gateUp(xp, routing, t(DType.INT32, p, 2 * FF)));
        rejected("routing must not be null", () -> layer.gateUp(xp, null, h), h);
        rejected("h has shape [10, 6]", () -> layer.swiglu(t(DType.FP32, p, FF), a), a);
        rejected("a has shape [9, 6]", () -> layer.swiglu(h, t(DType.FP32, p - 1, FF)));
        rejected("h has dtype fp16", () -> layer.swiglu(t(DType.FP16, p, 2 * FF), a), a);
        rejected("a has shape [10, 5]", () -> layer.down(t(DType.FP32, p, FF - 1), routing, y), y);
        rejected("y has shape [10, 9]", () -> layer.down(a, routing, t(DType.FP32, p, D + 1)));
        rejected("y has shape [11, 8]", () -> layer.expertMlp(xp, routing, t(DType.FP32, p + 1, D)));
        rejected("routing has E = 5", () -> layer.expertMlp(xp, twoChoices(E + 1, T), y), y);
        rejected("y has shape [9, 8]", () -> layer.combine(t(DType.FP32, p - 1, D), routing, out), out);
        rejected("out has shape [4, 8]", () -> layer.combine(y, routing, t(DType.BF16, T - 1, D)));
        rejected("out overlaps y", () -> layer.combine(y, routing, Tensor.wrap(y.segment(), DType.BF16, new long[] {T, D})), y);
    }
}
