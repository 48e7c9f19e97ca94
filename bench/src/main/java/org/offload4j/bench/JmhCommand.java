package org.offload4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** {@code offload jmh [JMH options]}: runs the JMH benchmarks of the inner kernels (bench/src/main/java/.../jmh). */
@Command(name = "jmh", description = "Run the JMH benchmarks of the inner kernels; arguments go to JMH (e.g. -l, -f 1 -wi 2 -i 3 Hadamard).")
public final class JmhCommand implements Callable<Integer> {

    /** Everything after {@code jmh} goes to JMH unchanged, options included ({@code -l}, {@code -f 1}, …). */
    @CommandLine.Unmatched
    List<String> jmhArgs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        // Looked up by name first: the offload bundle leaves JMH out (jmh-core, commons-math3, jopt-simple).
        try {
            Class.forName("org.openjdk.jmh.Main", false, JmhCommand.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            System.err.println("offload jmh: JMH is not on this class path (the offload bundle leaves it out): "
                    + "run ./offload jmh in a checkout");
            return 1;
        }
        org.openjdk.jmh.Main.main(jmhArgs.toArray(String[]::new));
        return 0;
    }
}
