package org.offload4j.cpu;

import java.util.Arrays;
import java.util.Locale;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;

/** Throwaway: in-cache cost of the kernel on one thread (-Doffload.cpu.threads=1), CPU ns per element. */
public final class HadamardMicroBench {
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        Hadamard h = Hadamard.create(new CpuBackendProvider().create());
        int elements = Integer.parseInt(System.getProperty("elements", "65536"));
        for (String dt : args[0].split(",")) {
            DType dtype = DType.parse(dt);
            for (int i = 1; i < args.length; i++) {
                int d = Integer.parseInt(args[i]);
                try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, elements / d, d), 1, 1.0);
                     Tensor y = Tensor.allocate(dtype, elements / d, d)) {
                    for (int w = 0; w < 3000; w++) {
                        h.transform(x, y);
                    }
                    double[] t = new double[15];
                    for (int r = 0; r < t.length; r++) {
                        int calls = 500;
                        // Thread CPU time: the machine is shared, and time spent descheduled is not the kernel's.
                        long t0 = CPU.getCurrentThreadCpuTime();
                        for (int c = 0; c < calls; c++) {
                            h.transform(x, y);
                        }
                        t[r] = (CPU.getCurrentThreadCpuTime() - t0) / (double) calls / elements;
                    }
                    Arrays.sort(t);
                    System.out.printf(Locale.ROOT, "%s d=%-6d %.3f ns/element (min %.3f)  = %.2f ns per %d-float vector%n", dtype, d, t[t.length / 2], t[0],
                            t[t.length / 2] * CpuBackend.FLOATS.length(), CpuBackend.FLOATS.length());
                }
            }
        }
    }
}
