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

    public static Optional<OpSuite> named(String name) {
        return all().stream().filter(s -> s.name().equalsIgnoreCase(name)).findFirst();
    }

    public static String names() {
        return all().stream().map(OpSuite::name).collect(Collectors.joining(", "));
    }
}
