package org.offload4j.bench;

import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/** The ops the benchmark knows, in the order the default suite runs them. */
public final class Suites {
    private Suites() {}

    public static List<OpSuite> all() {
        return List.of(new HadamardSuite(), new W4A16Suite(), new AttentionSuite(), new MoeSuite());
    }

    /** Suites run only when named: micro-kernels of one backend ({@code brgemm}: the CPU's). */
    public static List<OpSuite> extra() {
        return List.of(new BrgemmSuite());
    }

    public static Optional<OpSuite> named(String name) {
        return java.util.stream.Stream.concat(all().stream(), extra().stream())
                .filter(s -> s.name().equalsIgnoreCase(name)).findFirst();
    }

    public static String names() {
        return java.util.stream.Stream.concat(all().stream(), extra().stream()).map(OpSuite::name)
                .collect(Collectors.joining(", "));
    }
}
