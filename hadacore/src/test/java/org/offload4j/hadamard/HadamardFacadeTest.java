package org.offload4j.hadamard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.BackendUnavailableException;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** The facade's checks and wiring, on a backend whose kernel is the float64 reference. */
class HadamardFacadeTest {

    /** Runs the reference and counts calls, so a test can see that a rejected call never reached it. */
    static class ReferenceBackend implements Backend {
        final AtomicInteger calls = new AtomicInteger();
        final HadamardKernel kernel = (in, out, size, scale, transpose, pre, post) -> {
            calls.incrementAndGet();
            HadamardReference.transform(in, out, size, scale, transpose, pre, post);
        };

        @Override
        public String name() {
            return "reference";
        }

        @Override
        public String description() {
            return "float64 reference";
        }

        @Override
        public List<Device> devices() {
            return List.of(Device.HOST);
        }

        @Override
        public <K> Optional<K> kernels(Class<K> kernelType) {
            return kernelType == HadamardKernel.class ? Optional.of(kernelType.cast(kernel)) : Optional.empty();
        }
    }

    final ReferenceBackend backend = new ReferenceBackend();
    final Hadamard hadamard = Hadamard.create(backend);

    @Test
    void createBindsTheGivenBackend() {
        assertSame(backend, hadamard.backend());
        assertThrows(IllegalArgumentException.class, () -> Hadamard.create(null));
        Backend empty = new ReferenceBackend() {
            @Override
            public <K> Optional<K> kernels(Class<K> kernelType) {
                return Optional.empty();
            }
        };
        assertThrows(BackendUnavailableException.class, () -> Hadamard.create(empty));
    }

    @Test
    void transformAndInverseMatchTheReferenceForEveryDtypeAndRank() {
        for (DType dtype : new DType[] {DType.FP32, DType.BF16, DType.FP16}) {
            long seed = 41 + dtype.ordinal();
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, 2, 3, 40), seed, 1.0);
                 Tensor y = Tensor.allocate(dtype, 2, 3, 40);
                 Tensor z = Tensor.allocate(dtype, 2, 3, 40)) {
                HadamardSize size = HadamardSize.of(40);
                hadamard.transform(x, y);
                double[] want = HadamardReference.compute(x, size, 1 / Math.sqrt(40), false, null, null);
                assertTrue(Accuracy.relativeL2(want, y) < 4e-3, dtype + " seed " + seed);
                hadamard.inverse(y, z, 2f);
                double[] back = HadamardReference.compute(y, size, 2, true, null, null);
                assertTrue(Accuracy.relativeL2(back, z) < 4e-3, dtype + " seed " + seed);
            }
        }
    }

    @Test
    void rotationRoundTripsAndHasReproducibleSigns() {
        RandomizedRotation rot = RandomizedRotation.of(hadamard, 20, 99);
        assertArrayEquals(rot.signs(), RandomizedRotation.of(hadamard, 20, 99).signs());
        assertNotEquals(java.util.Arrays.toString(rot.signs()), java.util.Arrays.toString(RandomizedRotation.of(hadamard, 20, 100).signs()));
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 5, 20), 3, 1.0);
             Tensor y = Tensor.allocate(DType.FP32, 5, 20)) {
            rot.rotate(x, y);
            double[] want = HadamardReference.compute(x, HadamardSize.of(20), 1 / Math.sqrt(20), false, rot.signs(), null);
            assertTrue(Accuracy.relativeL2(want, y) < 1e-6);
            rot.unrotate(y, y);
            assertTrue(Accuracy.relativeL2(x.toDoubleArray(), y) < 1e-6);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RandomizedRotation.of(hadamard, 24 + 1, 1));
        assertTrue(e.getMessage().contains("d = 25"), e.getMessage());
    }

    @Test
    void zeroRowsIsANoOp() {
        try (Tensor x = Tensor.allocate(DType.BF16, 0, 64); Tensor y = Tensor.allocate(DType.BF16, 0, 64)) {
            hadamard.transform(x, y);
            assertEquals(0, backend.calls.get());
        }
    }

    // ---- rejected input: each case names the argument, and out is left as it was ----

    private void assertRejected(Tensor out, String mustContain, Executable call) {
        byte[] before = out != null && out.isAlive() ? out.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE) : null;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(mustContain), "message '" + e.getMessage() + "' should contain '" + mustContain + "'");
        if (before != null) {
            assertArrayEquals(before, out.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "out was written");
        }
        assertEquals(0, backend.calls.get(), "the kernel ran");
    }

    @Test
    void rejectsTensorsOnADeviceTheBackendCannotReach() {
        Device gpu = new Device("fake", 0, "fake gpu", false);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.wrapDevice(null, arena.allocate(2L * 2 * 64), gpu, DType.BF16, 64, 2, 64);
            Tensor y = Tensor.wrapDevice(null, arena.allocate(2L * 2 * 64), gpu, DType.BF16, 64, 2, 64);
            Tensor fp8 = Tensor.wrapDevice(null, arena.allocate(2L * 64), gpu, DType.FP8_E4M3FN, 64, 2, 64);
            Tensor scales = Tensor.wrapDevice(null, arena.allocate(4L * 2), gpu, DType.FP32, 2, 2);
            String message = "in (bf16[2, 64]@fake) is in fake:0 (fake gpu) memory, which the 'reference' backend cannot reach";
            assertRejected(null, message, () -> hadamard.transform(x, y));
            assertRejected(null, message, () -> hadamard.inverse(x, x, 0.5f));
            assertRejected(null, message, () -> RandomizedRotation.of(hadamard, 64, 1).rotate(x, y));
            assertRejected(null, message, () -> hadamard.transformToFp8(x, fp8, scales, 1));
        }
    }

    @Test
    void rejectsUnsupportedSizes() {
        for (long d : new long[] {3, 6, 36, 65536, 0, 1}) {
            try (Tensor x = Tensor.allocate(DType.FP32, 2, d); Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, 2, d))) {
                assertRejected(y, "d = " + d, () -> hadamard.transform(x, y));
                assertRejected(y, HadamardSize.ACCEPTED, () -> hadamard.inverse(x, y, 1f));
            }
        }
    }

    @Test
    void rejectsMismatchedShapesAndDtypes() {
        try (Tensor x = Tensor.allocate(DType.BF16, 2, 64);
             Tensor wider = TensorFill.poison(Tensor.allocate(DType.BF16, 2, 128));
             Tensor reshaped = TensorFill.poison(Tensor.allocate(DType.BF16, 4, 32));
             Tensor rank3 = TensorFill.poison(Tensor.allocate(DType.BF16, 1, 2, 64));
             Tensor fp16 = TensorFill.poison(Tensor.allocate(DType.FP16, 2, 64));
             Tensor ints = Tensor.allocate(DType.INT32, 2, 64);
             Tensor ints2 = Tensor.allocate(DType.INT32, 2, 64);
             Tensor fp8 = Tensor.allocate(DType.FP8_E4M3FN, 2, 64);
             Tensor fp8b = Tensor.allocate(DType.FP8_E4M3FN, 2, 64)) {
            assertRejected(wider, "out has shape [2, 128]", () -> hadamard.transform(x, wider));
            assertRejected(reshaped, "expected the shape of in, [2, 64]", () -> hadamard.transform(x, reshaped));
            assertRejected(rank3, "out has shape [1, 2, 64]", () -> hadamard.transform(x, rank3));
            assertRejected(fp16, "out has dtype fp16; expected the dtype of in, bf16", () -> hadamard.transform(x, fp16));
            assertRejected(ints2, "in has dtype int32; accepted: bf16, fp16, fp32", () -> hadamard.transform(ints, ints2));
            assertRejected(fp8b, "in has dtype fp8_e4m3", () -> hadamard.inverse(fp8, fp8b));
        }
    }

    @Test
    void rejectsNullAndClosedTensors() {
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 64); Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, 2, 64))) {
            assertRejected(y, "in must not be null", () -> hadamard.transform(null, y));
            assertRejected(null, "out must not be null", () -> hadamard.transform(x, null));
            Tensor closed = Tensor.allocate(DType.FP32, 2, 64);
            closed.close();
            assertRejected(y, "in (fp32[2, 64]@host) is closed", () -> hadamard.transform(closed, y));
            assertRejected(null, "out (fp32[2, 64]@host) is closed", () -> hadamard.transform(x, closed));
        }
        try (Arena arena = Arena.ofConfined()) {
            Tensor inArena = Tensor.allocate(arena, DType.FP32, 2, 64);
            Tensor y = Tensor.allocate(DType.FP32, 2, 64);
            arena.close();
            assertRejected(y, "in (fp32[2, 64]@host) is closed", () -> hadamard.transform(inArena, y));
            y.close();
        } catch (IllegalStateException alreadyClosed) {
            // try-with-resources closing the arena a second time
        }
    }

    @Test
    void rejectsReadOnlyOutput() {
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 64); Tensor y = Tensor.allocate(DType.FP32, 2, 64)) {
            Tensor readOnly = Tensor.wrap(y.segment().asReadOnly(), DType.FP32, new long[] {2, 64});
            assertRejected(y, "out (fp32[2, 64]@host) is read-only", () -> hadamard.transform(x, readOnly));
            hadamard.transform(readOnly, x); // a read-only input is fine
            assertEquals(1, backend.calls.get());
        }
    }

    @Test
    void rejectsNonFiniteScales() {
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 64); Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, 2, 64))) {
            for (float scale : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                assertRejected(y, "scale = " + scale + " must be finite", () -> hadamard.transform(x, y, scale));
                assertRejected(y, "scale = " + scale + " must be finite", () -> hadamard.inverse(x, y, scale));
            }
        }
    }

    @Test
    void rejectsPartialOverlapButAcceptsInPlace() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4L * 3 * 64, 64);
            Tensor a = Tensor.wrap(seg, DType.FP32, new long[] {2, 64});
            Tensor shifted = Tensor.wrap(seg.asSlice(4L * 64), DType.FP32, new long[] {2, 64});
            Tensor byOneElement = Tensor.wrap(seg.asSlice(4), DType.FP32, new long[] {2, 64});
            Tensor strided = Tensor.wrapStrided(seg, DType.FP32, 128, new long[] {2, 64});
            TensorFill.gaussian(a, 5, 1.0);
            assertRejected(shifted, "out partially overlaps in", () -> hadamard.transform(a, shifted));
            assertRejected(byOneElement, "out partially overlaps in", () -> hadamard.transform(a, byOneElement));
            assertRejected(strided, "out partially overlaps in", () -> hadamard.transform(a, strided));

            Tensor same = Tensor.wrap(seg, DType.FP32, new long[] {2, 64});
            double[] want = HadamardReference.compute(a, HadamardSize.of(64), 1 / 8.0, false, null, null);
            hadamard.transform(a, same);
            assertTrue(Accuracy.relativeL2(want, a) < 1e-6, "in place through a second view of the same bytes");
        }
    }

    /** A read-only heap input and a writable output one row later on the same array: rejected (once accepted, 0.34 rel. error). */
    @Test
    void rejectsAReadOnlyHeapInputOverlappingItsOutput() {
        float[] buf = new float[3 * 64];
        MemorySegment seg = MemorySegment.ofArray(buf);
        Tensor in = Tensor.wrap(seg.asSlice(0, 4L * 2 * 64).asReadOnly(), DType.FP32, new long[] {2, 64});
        Tensor out = Tensor.wrap(seg.asSlice(4L * 64, 4L * 2 * 64), DType.FP32, new long[] {2, 64});
        TensorFill.gaussian(Tensor.wrap(seg, DType.FP32, new long[] {3, 64}), 6, 1.0);
        assertRejected(out, "out partially overlaps in", () -> hadamard.transform(in, out));
    }

    @Test
    void rotationChecksItsSize() {
        RandomizedRotation rot = RandomizedRotation.of(hadamard, 64, 1);
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 128); Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, 2, 128))) {
            assertRejected(y, "this rotation is for d = 64", () -> rot.rotate(x, y));
            assertRejected(y, "this rotation is for d = 64", () -> rot.unrotate(x, y));
        }
        assertThrows(IllegalArgumentException.class, () -> RandomizedRotation.of(null, 64, 1));
    }
}
