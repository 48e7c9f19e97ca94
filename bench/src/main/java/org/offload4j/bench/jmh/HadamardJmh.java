package org.offload4j.bench.jmh;

import java.util.concurrent.TimeUnit;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
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
 * The CPU Hadamard kernel on a cache-resident block (rows·d = 2^20 elements, 2 MiB of bf16) and
 * on a DRAM-sized one (2^25), through the public facade on the {@code cpu} backend. The
 * cache-resident case shows the arithmetic cost of the butterflies; the large one what memory
 * allows.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class HadamardJmh {

    @Param({"128", "1024", "4096", "32768"})
    int d;

    @Param({"1048576", "33554432"})
    long elements;

    @Param({"bf16"})
    String dtype;

    private Hadamard op;
    private Tensor in;
    private Tensor out;

    @Setup(Level.Trial)
    public void setUp() {
        op = Hadamard.create(Backends.named("cpu"));
        long rows = Math.max(1, elements / d);
        in = TensorFill.gaussian(Tensor.allocate(DType.parse(dtype), rows, d), 7, 1.0);
        out = Tensor.allocate(DType.parse(dtype), rows, d);
    }

    @Benchmark
    public void transform() {
        op.transform(in, out);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        in.close();
        out.close();
    }
}
