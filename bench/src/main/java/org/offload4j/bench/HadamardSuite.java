package org.offload4j.bench;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;

/**
 * Hadamard cases: {@code y = x · H_d / sqrt(d)} over {@code elements / d} rows, out of place, or
 * in place with the suffix {@code :inplace}. Size syntax {@code d[@elements][:inplace]}; the
 * default tensor is 2^25 elements (64 MiB of bf16), larger than the last-level cache, so the floor
 * is DRAM bandwidth. In place, a transform reads and writes each line once (no write-allocate of a
 * second tensor), so its ceiling is the in-place stream, not the copy.
 */
final class HadamardSuite implements OpSuite {
    static final long DEFAULT_ELEMENTS = 1L << 25;
    private static final int SAMPLE_ROWS = 16;
    private static final String IN_PLACE = ":inplace";
    /** The end of an in-place case's label. */
    static final String IN_PLACE_LABEL = " in place";

    @Override
    public String name() {
        return "hadamard";
    }

    private static final String SIZE_SYNTAX = "d[@elements][:inplace] (d = 2^k ≤ 32768 or m·2^k, m ∈ {12, 20, 28, 40};"
            + " elements default 2^25, rows = elements / d rounded down; :inplace transforms the tensor in place)";

    @Override
    public String sizeSyntax() {
        return SIZE_SYNTAX;
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        if (!full) {
            return List.of("128", "1024", "4096", "32768", "12288", "1024" + IN_PLACE);
        }
        List<String> sizes = new ArrayList<>();
        for (int d = 16; d <= HadamardSize.MAX_D; d *= 2) {
            sizes.add(Integer.toString(d));
        }
        sizes.addAll(List.of("12288", "10240", "14336", "20480"));
        for (int d : new int[] {128, 1024, 4096, 16384}) {
            sizes.add(d + IN_PLACE);
        }
        return sizes;
    }

    @Override
    public List<DType> dtypes() {
        return List.of(DType.BF16, DType.FP16, DType.FP32);
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        Spec s = parse(size);
        return new Case(Hadamard.create(backend), DeviceTensors.forBackend(backend), s.plan(), s.rows(), dtype, seed, s.inPlace());
    }

    @Override
    public void validate(Backend backend, String size) {
        parse(size);
    }

    /** A parsed size: the transform's size, the rows ({@code ⌊elements / d⌋}), in place or not. */
    record Spec(HadamardSize plan, long rows, boolean inPlace) {}

    static Spec parse(String size) {
        String spec = size.trim();
        boolean inPlace = spec.endsWith(IN_PLACE);
        if (inPlace) {
            spec = spec.substring(0, spec.length() - IN_PLACE.length());
        }
        String[] parts = spec.split("@", 2);
        int d;
        long elements;
        try {
            d = Integer.parseInt(parts[0].trim());
            elements = parts.length == 2 ? Long.parseLong(parts[1].trim()) : DEFAULT_ELEMENTS;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("hadamard size '" + size + "' is not " + SIZE_SYNTAX);
        }
        HadamardSize plan;
        try {
            plan = HadamardSize.of(d);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("hadamard size '" + size + "': " + e.getMessage());
        }
        if (elements < d) {
            throw new IllegalArgumentException("hadamard size '" + size + "' asks for " + elements + " elements, fewer than one row of d = "
                    + d);
        }
        return new Spec(plan, elements / d, inPlace);
    }

    static final class Case implements BenchCase {
        private final Hadamard op;
        private final HadamardSize plan;
        private final long rows;
        private final DType dtype;
        private final long seed;
        private final Tensor in;
        private final Tensor out;
        private final DeviceTensors device;
        private final Tensor deviceIn;
        private final Tensor deviceOut;
        /** In place: {@code deviceOut} is transformed in place; a check first copies {@code in} into it. */
        private final boolean inPlace;

        Case(Hadamard op, DeviceTensors device, HadamardSize plan, long rows, DType dtype, long seed, boolean inPlace) {
            this.op = op;
            this.device = device;
            this.plan = plan;
            this.rows = rows;
            this.dtype = dtype;
            this.seed = seed;
            this.inPlace = inPlace;
            this.in = TensorFill.gaussian(Tensor.allocate(dtype, rows, plan.d()), seed, 1.0);
            this.out = Tensor.allocate(dtype, rows, plan.d());
            this.deviceIn = device.mirror(in);
            this.deviceOut = device.mirror(out);
        }

        @Override
        public boolean inPlace() {
            return inPlace;
        }

        @Override
        public String op() {
            return "hadamard";
        }

        @Override
        public String label() {
            return "d=" + plan.d() + " rows=" + rows + (inPlace ? IN_PLACE_LABEL : "");
        }

        @Override
        public double sizeMetric() {
            return plan.d();
        }

        @Override
        public String dtype() {
            return dtype.toString();
        }

        @Override
        public double bytesMoved() {
            return 2.0 * dtype.byteSize(rows * plan.d());
        }

        @Override
        public double flops() {
            // log2(n) butterfly stages of d add/subs, the m-point stage (m − 1 adds per output), the scale.
            double perRow = (double) plan.d() * (plan.log2n() + (plan.m() > 1 ? plan.m() - 1 : 0) + 1);
            return perRow * rows;
        }

        @Override
        public Map<String, Object> torchCase() {
            return Map.of("op", "hadamard", "dtype", dtype.toString(), "rows", rows, "d", plan.d());
        }

        @Override
        public boolean matmulBound() {
            return false;
        }

        @Override
        public void run() {
            // In place, repeated runs keep transforming the same tensor. H/√d is orthogonal, so
            // the values neither grow nor vanish (for powers of two, H·H/d = I: runs alternate
            // between x and its transform).
            op.transform(inPlace ? deviceOut : deviceIn, deviceOut);
        }

        @Override
        public double check() {
            if (inPlace) {
                // Both host tensors are allocated back to back with the same shape.
                MemorySegment.copy(in.segment(), 0, out.segment(), 0, in.segment().byteSize());
            } else {
                TensorFill.poison(out);
            }
            device.upload(out, deviceOut);
            run();
            device.download(deviceOut, out);
            if (TensorFill.hasPoison(out)) {
                return Double.NaN;
            }
            // The reference costs O(d²) per row at worst, so compare a sample: first, last and random rows.
            SplittableRandom rnd = new SplittableRandom(seed ^ 0x5EED);
            List<Long> sample = new ArrayList<>(List.of(0L, rows - 1));
            for (int i = 0; i < SAMPLE_ROWS; i++) {
                sample.add(rnd.nextLong(rows));
            }
            double num = 0;
            double den = 0;
            for (long r : sample) {
                try (Tensor inRow = row(in, r); Tensor outRow = row(out, r)) {
                    double[] ref = HadamardReference.compute(inRow, plan, Hadamard.defaultScale(plan.d()), false, null, null);
                    double e = Accuracy.relativeL2(ref, outRow);
                    double n2 = 0;
                    for (double v : ref) {
                        n2 += v * v;
                    }
                    num += e * e * n2;
                    den += n2;
                }
            }
            return Math.sqrt(num / den);
        }

        private static Tensor row(Tensor t, long r) {
            long bytes = t.dtype().byteSize(t.cols());
            return Tensor.wrap(t.segment().asSlice(t.rowByteOffset(r), bytes), t.dtype(), 1, t.cols());
        }

        /** The host copy of the output (in place: of the transformed tensor), for tests. */
        Tensor output() {
            device.download(deviceOut, out);
            return out;
        }

        /** The host input. */
        Tensor input() {
            return in;
        }

        @Override
        public double tolerance() {
            return switch (dtype) {
                case BF16 -> 4e-3;
                case FP16 -> 1e-3;
                default -> 1e-6;
            };
        }

        @Override
        public void close() {
            device.close();
            in.close();
            out.close();
        }
    }
}
