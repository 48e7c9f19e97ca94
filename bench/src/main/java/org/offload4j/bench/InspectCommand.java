package org.offload4j.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.Callable;
import org.offload4j.core.io.NpyFile;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.SafeTensorsFile;
import org.offload4j.core.io.ShardedSafeTensors;
import org.offload4j.core.io.TensorData;
import org.offload4j.core.io.TensorSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code offload inspect FILE}: the tensors of a safetensors, sharded or {@code .npy} file with dtypes and shapes. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List the tensors of a .safetensors file, a sharded index or checkpoint directory, or a .npy file.")
public final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "FILE", description = "a .safetensors, .npy or model.safetensors.index.json file, or a checkpoint directory")
    Path file;

    @Override
    public Integer call() {
        try {
            print(file, System.out);
        } catch (IOException e) {
            // A missing or unreadable file is the user's to fix: one line, like a malformed one.
            throw new IllegalArgumentException(file + ": cannot read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
        return 0;
    }

    /** Validates {@code file} (as the readers do) and prints its contents. */
    static void print(Path file, PrintStream out) throws IOException {
        try (TensorSource source = SafeTensors.open(file)) {
            out.println(source.sourceName() + ": " + kind(source) + ", " + source.names().size() + " tensor(s)");
            metadata(source).forEach((k, v) -> out.println("  metadata " + k + " = " + v));
            int width = source.names().stream().mapToInt(n -> shown(n).length()).max().orElse(4);
            long total = 0;
            for (String name : source.names()) {
                TensorData d = source.data(name);
                total += d.bytes().byteSize();
                out.printf("  %-" + width + "s  %-8s %-20s %,14d bytes%n", shown(name), d.type(), Arrays.toString(d.shape()),
                        d.bytes().byteSize());
            }
            out.printf("  %,d bytes of tensor data%n", total);
        }
    }

    /** A tensor's name as listed: the empty name (valid in safetensors, and a file named {@code .npy}) as {@code ""}. */
    private static String shown(String name) {
        return name.isEmpty() ? "\"\"" : name;
    }

    private static String kind(TensorSource s) {
        return switch (s) {
            case NpyFile n -> ".npy version " + n.majorVersion() + ".0" + (n.data().type().name().equals("BF16")
                    ? " (<u2 read as bf16 by convention)" : "");
            case ShardedSafeTensors sh -> "sharded safetensors, " + sh.shards().size() + " shard(s)";
            default -> "safetensors";
        };
    }

    private static Map<String, String> metadata(TensorSource s) {
        return switch (s) {
            case SafeTensorsFile f -> f.metadata();
            case ShardedSafeTensors sh -> sh.metadata();
            default -> Map.of();
        };
    }
}
