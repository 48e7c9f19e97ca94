package org.offload4j.bench;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.offload4j.attention.AccuracyReport;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.QkRotations;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * FP8 attention cases on E4M3 inputs with per-head scales (quantized once from seeded bf16 data
 * at set-up), output bf16. Size syntax {@code HqxHkvxSqxSkvxD}, {@code c} appended for causal,
 * batch 1: {@code 8x2x1024x1024x128c}; then {@code k} and a capacity C for K and V held in KV
 * caches of C keys per head filled to Skv, their free slots NaN codes (a read of one fails the
 * check when it reaches a result): {@code 8x2x1x4096x128k8192}, a decode step over a half-full
 * cache. fp8 inputs only, so no default size has one: {@code --dtype bf16} runs every default.
 *
 * <p>The check compares the last {@value #SAMPLE_QUERIES} query rows of every head with the
 * float64 reference on the dequantized inputs; with the causal mask aligned bottom-right, the
 * last rows of a query block see exactly the keys they see in the whole problem. The first
 * {@value #SAMPLE_QUERIES} rows are compared too (the first query tiles, where a causal kernel
 * skips most keys): as a problem of their own over the keys they see, {@code r + Skv − Sq} of
 * them, which keeps the mask's offset (none when that is not positive: then the first rows see no
 * key in the whole problem either; without the causal mask, all keys).
 */
final class AttentionSuite implements OpSuite {
    static final int SAMPLE_QUERIES = 16;
    static final long ROTATION_BYTES = 128L << 20;
    static final int MAX_COPIES = 64;
    /** What a case's label adds for the causal mask, and before the capacity for K and V in KV caches. */
    static final String CAUSAL_LABEL = " causal";
    static final String CACHE_LABEL = " cache ";

    @Override
    public String name() {
        return "attention";
    }

    @Override
    public String sizeSyntax() {
        return "HqxHkvxSqxSkvxD, optionally followed by c for causal, then by kC for K and V in KV caches of capacity C ≥ Skv"
                + " (batch 1; D ∈ {64, 128, 256})";
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        if (!full) {
            return List.of("8x2x1024x1024x128", "8x2x1024x1024x128c", "8x2x1x4096x128", "16x2x1x4096x128");
        }
        return List.of("8x2x512x512x128", "8x2x1024x1024x128", "8x2x1024x1024x128c", "8x2x2048x2048x128c",
                "8x2x1024x1024x64", "8x2x1024x1024x256", "8x8x1024x1024x128", "8x1x1024x1024x128",
                "8x2x1x4096x128", "16x2x1x4096x128", "32x8x1x8192x128");
    }

    @Override
    public List<DType> dtypes() {
        // fp8_e4m3: inputs quantized once, before timing (the kernel alone); bf16: bf16 inputs,
        // which the op quantizes to FP8 (per head) inside every call.
        return List.of(DType.FP8_E4M3FN, DType.BF16);
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        Size s = parse(size);
        if (dtype == DType.BF16 && isCached(s.shape())) {
            throw new IllegalArgumentException("attention size '" + size + "' holds K and V in KV caches, which take fp8 inputs"
                    + " only: the bf16 entry points quantize whole tensors; use --dtype fp8_e4m3");
        }
        return new Case(Attention.create(backend), DeviceTensors.forBackend(backend), s.shape(), s.causal(), seed,
                dtype == DType.BF16);
    }

    @Override
    public void validate(Backend backend, String size) {
        AttentionShape s = parse(size).shape();
        if (!org.offload4j.attention.Attention.HEAD_DIMS.contains(s.headDim()) || s.qHeads() % s.kvHeads() != 0) {
            throw new IllegalArgumentException("attention size '" + size + "': D = " + s.headDim() + " must be one of "
                    + org.offload4j.attention.Attention.HEAD_DIMS + " and Hq = " + s.qHeads() + " a multiple of Hkv = "
                    + s.kvHeads());
        }
    }

    /** A parsed size: batch 1, the heads and lengths (K and V capacity included), causal or not. */
    record Size(AttentionShape shape, boolean causal) {}

    /** Whether K and V are KV caches holding more keys than take part. */
    static boolean isCached(AttentionShape shape) {
        return shape.kvCapacity() > shape.kvLen();
    }

    static Size parse(String size) {
        String s = size.trim().toLowerCase(Locale.ROOT);
        int k = s.indexOf('k');
        String dims = k < 0 ? s : s.substring(0, k);
        boolean causal = dims.endsWith("c");
        int[] v = OpSuite.dims(causal ? dims.substring(0, dims.length() - 1) : dims, 5, new AttentionSuite());
        int capacity = v[3];
        if (k >= 0) {
            try {
                capacity = Integer.parseInt(s.substring(k + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("attention size '" + size + "': expected a capacity after k, as in 8x2x1x4096x128k8192");
            }
            if (capacity < v[3]) {
                throw new IllegalArgumentException("attention size '" + size + "': the KV cache capacity " + capacity
                        + " is below Skv = " + v[3]);
            }
        }
        return new Size(new AttentionShape(1, v[0], v[1], v[2], v[3], v[4], capacity), causal);
    }

    /** Sizes of {@code offload bench attention --accuracy}: the float64 references cost O(Hq·Sq·Skv·D) each. */
    static List<String> accuracySizes() {
        return List.of("8x2x256x256x128", "8x2x256x256x128c", "8x8x128x512x64");
    }

    /**
     * The accuracy report of one size, per-head and per-tensor scales: Q and K N(0, 0.1²) with the
     * same 4 channels of both scaled ×20–×100 (the aligned outlier channels real activations
     * show, whose products dominate the logits), V N(0, 1); error against
     * float64 attention on the dequantized and on the original inputs, without and with the
     * Hadamard rotation of Q and K.
     */
    static String accuracy(Backend backend, String size, long seed) {
        Size parsed = parse(size);
        AttentionShape shape = parsed.shape();
        boolean causal = parsed.causal();
        Attention op = Attention.create(backend);
        StringBuilder sb = new StringBuilder();
        for (ScaleGranularity g : ScaleGranularity.values()) {
            try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, shape.qHeads(), shape.qLen(), shape.headDim()), seed, 0.1);
                 Tensor k = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, shape.kvHeads(), shape.kvLen(), shape.headDim()), seed + 1, 0.1);
                 Tensor v = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, shape.kvHeads(), shape.kvLen(), shape.headDim()), seed + 2, 1.0)) {
                AccuracyReport.addChannelOutliers(q, seed + 3, 4, 20, 100);
                AccuracyReport.addChannelOutliers(k, seed + 3, 4, 20, 100);
                AttentionOptions opts = AttentionOptions.defaults().withCausal(causal).withGranularity(g)
                        .withRotation(QkRotations.hadamard(backend));
                sb.append(AccuracyReport.measure(op, q, k, v, opts).summary());
            }
        }
        return sb.toString();
    }

    private static final class Case implements BenchCase {
        private final Attention op;
        private final AttentionShape shape;
        private final AttentionOptions options;
        /** The FP8 inputs: what runs (fp8_e4m3), or what the op makes of the bf16 ones (bf16), for the reference. */
        private final Fp8Tensor q;
        private final Fp8Tensor k;
        private final Fp8Tensor v;
        /** The bf16 inputs, or null when the case times FP8 inputs. */
        private final Tensor qb;
        private final Tensor kb;
        private final Tensor vb;
        private final Tensor out;
        /**
         * What runs with FP8 inputs: on a GPU backend their copies in device memory, codes and
         * scales, so that the time is the kernel's and not the staging's (the bf16 entry points
         * read their inputs on the host to quantize them, so bf16 cases stay there); else q, k, v.
         */
        private final DeviceTensors device;
        private final Fp8Tensor qRun;
        private final Fp8Tensor kRun;
        private final Fp8Tensor vRun;
        private final Tensor outRun;
        /**
         * Copies of K's and V's codes the timed runs take in turn (the first: kRun's and vRun's),
         * at least {@value #ROTATION_BYTES} bytes of keys and values in all (at most
         * {@value #MAX_COPIES} copies), so that a decode step (2 MiB of keys and values at
         * Hkv = 2, Skv = 4096, D = 128) reads them from memory, not from a cache that holds them
         * from the run before. fp8 inputs only (bf16 cases time the quantization too).
         */
        private final List<Fp8Tensor[]> kvRotation = new ArrayList<>();
        private final List<Tensor> rotationCopies = new ArrayList<>();
        private int next;

        Case(Attention op, DeviceTensors device, AttentionShape shape, boolean causal, long seed, boolean bf16Inputs) {
            this.op = op;
            this.device = device;
            this.shape = shape;
            this.options = AttentionOptions.defaults().withCausal(causal).withGranularity(ScaleGranularity.PER_HEAD);
            Tensor xq = bf16(shape.qHeads(), shape.qLen(), seed);
            Tensor xk = bf16(shape.kvHeads(), shape.kvCapacity(), seed + 1);
            Tensor xv = bf16(shape.kvHeads(), shape.kvCapacity(), seed + 2);
            this.q = Fp8Quantizer.quantize(xq, ScaleGranularity.PER_HEAD);
            this.k = nanFreeSlots(Fp8Quantizer.quantize(xk, ScaleGranularity.PER_HEAD));
            this.v = nanFreeSlots(Fp8Quantizer.quantize(xv, ScaleGranularity.PER_HEAD));
            if (bf16Inputs) {
                qb = xq;
                kb = xk;
                vb = xv;
            } else {
                xq.close();
                xk.close();
                xv.close();
                qb = kb = vb = null;
            }
            this.out = Tensor.allocate(DType.BF16, 1, shape.qHeads(), shape.qLen(), shape.headDim());
            boolean mirrored = device.onDevice() && !bf16Inputs;
            this.qRun = mirrored ? mirror(q) : q;
            this.kRun = mirrored ? mirror(k) : k;
            this.vRun = mirrored ? mirror(v) : v;
            this.outRun = mirrored ? device.mirror(out) : out;
            kvRotation.add(new Fp8Tensor[] {kRun, vRun});
            long kvBytes = Math.max(1, k.data().spanBytes() + v.data().spanBytes());
            // K and V of half the rotation or more already pass any cache: no copies (nor twice the memory).
            int copies = bf16Inputs || 2 * kvBytes >= ROTATION_BYTES ? 1
                    : (int) Math.min(MAX_COPIES, (ROTATION_BYTES + kvBytes - 1) / kvBytes);
            try {
                for (int i = 1; i < copies; i++) {
                    kvRotation.add(new Fp8Tensor[] {new Fp8Tensor(copyOf(k.data(), mirrored), kRun.scales()),
                            new Fp8Tensor(copyOf(v.data(), mirrored), vRun.scales())});
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        /**
         * A copy of {@code t} where the case runs, closed with the case: on the device a mirror of
         * a host copy (the host copy closed at once), else the host copy.
         */
        private Tensor copyOf(Tensor t, boolean onDevice) {
            Tensor c = Tensor.allocate(t.dtype(), t.shape());
            MemorySegment.copy(t.segment(), 0, c.segment(), 0, t.spanBytes());
            if (!onDevice) {
                rotationCopies.add(c);
                return c;
            }
            try (c) {
                return device.mirror(c);
            }
        }

        private Fp8Tensor mirror(Fp8Tensor t) {
            return new Fp8Tensor(device.mirror(t.data()), device.mirror(t.scales()));
        }

        /** NaN codes in the KV cache slots past Skv of every head (none when K and V hold exactly Skv keys). */
        private Fp8Tensor nanFreeSlots(Fp8Tensor cache) {
            Tensor t = cache.data();
            for (long h = 0; h < shape.kvHeads(); h++) {
                for (long j = shape.kvLen(); j < shape.kvCapacity(); j++) {
                    t.segment().asSlice(t.rowByteOffset(h * shape.kvCapacity() + j), shape.headDim()).fill((byte) 0x7F);
                }
            }
            return cache;
        }

        private boolean cached() {
            return isCached(shape);
        }

        private Tensor bf16(int heads, int len, long seed) {
            return TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, heads, len, shape.headDim()), seed, 1.0);
        }

        @Override
        public String op() {
            return "attention";
        }

        @Override
        public String label() {
            return "Hq=" + shape.qHeads() + " Hkv=" + shape.kvHeads() + " Sq=" + shape.qLen() + " Skv=" + shape.kvLen()
                    + " D=" + shape.headDim() + (options.causal() ? CAUSAL_LABEL : "") + (cached() ? CACHE_LABEL + shape.kvCapacity() : "");
        }

        @Override
        public double sizeMetric() {
            return (double) shape.qLen() * shape.kvLen() * shape.qHeads();
        }

        @Override
        public String dtype() {
            return qb == null ? "fp8_e4m3" : "bf16";
        }

        @Override
        public Map<String, Object> torchCase() {
            return Map.of("op", "attention", "dtype", "bf16", "batch", shape.batch(), "hq", shape.qHeads(),
                    "hkv", shape.kvHeads(), "sq", shape.qLen(), "skv", shape.kvLen(), "d", shape.headDim(),
                    "causal", options.causal());
        }

        @Override
        public double bytesMoved() {
            double qkv = (double) shape.qHeads() * shape.qLen() * shape.headDim()
                    + 2.0 * shape.kvHeads() * shape.kvLen() * shape.headDim();
            return (qb == null ? 1 : 2) * qkv + 2.0 * shape.qHeads() * shape.qLen() * shape.headDim();
        }

        @Override
        public double flops() {
            return shape.flops(options.causal());
        }

        @Override
        public void run() {
            forward(kvRotation.get(next));
            next = (next + 1) % kvRotation.size();
        }

        private void forward(Fp8Tensor[] kv) {
            if (cached()) {
                op.forward(qRun, kv[0], kv[1], shape.kvLen(), options, outRun);
            } else if (qb == null) {
                op.forward(qRun, kv[0], kv[1], options, outRun);
            } else {
                op.forward(qb, kb, vb, options, out);
            }
        }

        @Override
        public double check() {
            TensorFill.poison(out);
            device.upload(out, outRun);
            forward(kvRotation.get(0)); // k and v themselves, which the reference reads
            device.download(outRun, out);
            if (TensorFill.hasPoison(out)) {
                return Double.NaN;
            }
            int r = Math.min(SAMPLE_QUERIES, shape.qLen());
            double[] last = sampleError(shape.qLen() - r, r, shape.kvLen());
            int firstKeys = options.causal() ? Math.max(0, r + shape.keyOffset()) : shape.kvLen();
            double[] first = sampleError(0, r, firstKeys);
            return Math.sqrt((last[0] + first[0]) / (last[1] + first[1]));
        }

        /**
         * {@code {squared error, squared reference norm}} of query rows {@code from … from + r − 1}
         * of every head against the reference over the first {@code keys} keys.
         */
        private double[] sampleError(int from, int r, int keys) {
            try (Tensor qRows = rows(q.data(), shape.qHeads(), shape.qLen(), from, r);
                 Tensor outRows = rows(out, shape.qHeads(), shape.qLen(), from, r)) {
                Fp8Tensor qSample = new Fp8Tensor(qRows, q.scales());
                double[] ref = AttentionReference.forward(qSample, k, v, keys, options).out();
                double[] got = outRows.toDoubleArray();
                double err = 0;
                double norm = 0;
                for (int i = 0; i < ref.length; i++) {
                    err += (got[i] - ref[i]) * (got[i] - ref[i]);
                    norm += ref[i] * ref[i];
                }
                return new double[] {err, norm};
            }
        }

        /** A copy of rows {@code from … from + r − 1} of {@code len} rows of every head of a {@code [1, H, len, D]} tensor. */
        private Tensor rows(Tensor t, int heads, int len, int from, int r) {
            int d = shape.headDim();
            Tensor copy = Tensor.allocate(t.dtype(), 1, heads, r, d);
            long rowBytes = t.dtype().byteSize(d);
            MemorySegment src = t.segment();
            MemorySegment dst = copy.segment();
            for (int h = 0; h < heads; h++) {
                long at = t.rowByteOffset((long) h * len + from);
                MemorySegment.copy(src, at, dst, copy.rowByteOffset((long) h * r), rowBytes * r);
            }
            return copy;
        }

        @Override
        public double tolerance() {
            return 3e-2;
        }

        @Override
        public void close() {
            device.close();
            q.close();
            k.close();
            v.close();
            if (qb != null) {
                qb.close();
                kb.close();
                vb.close();
            }
            out.close();
            rotationCopies.forEach(Tensor::close);
        }
    }
}
