package org.offload4j.bench;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A fresh JVM like this one, for the bench's child processes ({@code --recheck}'s times alone,
 * {@code bench launch}'s critical-binding run): the same java, this JVM's options less those that
 * must not run twice, the same class path, {@link OffloadCli} as main class.
 */
final class ChildJvm {
    private ChildJvm() {}

    /**
     * Options a child must not repeat: agents (a debugger's fixed port or suspend, a profiler or
     * coverage agent writing the parent's file), flight recordings, and logs written to a file.
     */
    static boolean inheritable(String option) {
        return !(option.startsWith("-agentlib") || option.startsWith("-agentpath") || option.startsWith("-javaagent")
                || option.startsWith("-XX:StartFlightRecording") || option.startsWith("-XX:LogFile")
                || option.startsWith("-XX:ArchiveClassesAtExit") || (option.startsWith("-Xlog") && option.contains("file=")));
    }

    /**
     * {@code java}, this JVM's inheritable options except those starting with one of
     * {@code dropPrefixes}, then {@code extraOptions}, {@code -cp}, the main class and {@code args}.
     */
    static List<String> command(List<String> dropPrefixes, List<String> extraOptions, List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (inheritable(option) && dropPrefixes.stream().noneMatch(option::startsWith)) {
                command.add(option);
            }
        }
        command.addAll(extraOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(OffloadCli.class.getName());
        command.addAll(args);
        return command;
    }

    /**
     * A process builder for {@code command} whose environment lacks the variables the launcher and
     * the JVM read options from: those options are among this JVM's input arguments already, and
     * would otherwise apply twice in the child.
     */
    static ProcessBuilder builder(List<String> command) {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().remove("JDK_JAVA_OPTIONS");
        pb.environment().remove("JAVA_TOOL_OPTIONS");
        pb.environment().remove("_JAVA_OPTIONS");
        return pb;
    }
}
