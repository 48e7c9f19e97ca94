package org.offload4j.bench.jmh;

import java.util.concurrent.TimeUnit;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU W4A16 kernel (dequantize + GEMV/GEMM) on a prepared n = k = 4096, g = 128 weight, for
 * decode-sized m. The weight (8.6 MiB) may sit in the last-level cache here, so this measures the
 * kernel's arithmetic; {@code offload bench w4a16} rotates weight copies to measure DRAM speed.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class W4A16Jmh {

    @Param({"1", "4", "16", "64"})
    int m;

    @Param({"4096"})
    int n;

    @Param({"4096"})
    int k;

    private W4A16 op;
    private W4A16.Prepared weight;
    private Tensor x;
    private Tensor y;

    @Setup(Level.Trial)
    public void setUp() {
        op = W4A16.create(Backends.named("cpu"));
        try (Tensor w = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), 11, 0.02);
             QuantizedWeight q = RtnQuantizer.quantize(w, 128, false, DType.FP16)) {
            weight = op.prepare(q);
        }
        x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, k), 12, 1.0);
        y = Tensor.allocate(DType.BF16, m, n);
    }

    @Benchmark
    public void matmul() {
        op.matmul(x, weight, null, y);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        weight.close();
        x.close();
        y.close();
    }
}
