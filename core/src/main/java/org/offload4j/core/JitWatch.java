package org.offload4j.core;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Whether this JVM's JIT is idle: nothing being compiled, nothing queued, and no compile finished
 * since the last look. {@link Warmup} asks it, so that a kernel is not served (or timed, by the
 * benchmark) before C2 has compiled it.
 */
@FunctionalInterface
public interface JitWatch {
    /** True when no compile is running or queued and none has finished since the previous call. */
    boolean idle();

    /**
     * This JVM: HotSpot's compile queue ({@code jcmd PID Compiler.queue}, through the
     * DiagnosticCommand MBean) and the total compilation time ({@link CompilationMXBean}); a JVM
     * that offers neither reads as always idle, so the warm-up waits only its two looks. Without
     * the queue, a long compile still running reads as idle (the total moves when it ends).
     */
    static JitWatch system() {
        // The first look starts JMX, which queues compiles of its own: start it now, before the
        // warm-up that follows overlaps them, not at the first poll.
        compilerQueue();
        CompilationMXBean compilation = ManagementFactory.getCompilationMXBean();
        boolean timed = compilation != null && compilation.isCompilationTimeMonitoringSupported();
        long[] lastTotal = {timed ? compilation.getTotalCompilationTime() : 0};
        return () -> {
            boolean unchanged = true;
            if (timed) {
                long total = compilation.getTotalCompilationTime();
                unchanged = total == lastTotal[0];
                lastTotal[0] = total;
            }
            String queue = compilerQueue();
            return unchanged && (queue == null || queueIsEmpty(queue));
        };
    }

    /** The text of {@code Compiler.queue}, or null where the DiagnosticCommand MBean is missing or refuses. */
    private static String compilerQueue() {
        try {
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            // HotSpot's DiagnosticCommand MBean (module jdk.management).
            Object text = server.invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerQueue",
                    new Object[] {null}, new String[] {String[].class.getName()});
            return text instanceof String q ? q : null;
        } catch (JMException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Whether {@code Compiler.queue}'s text shows nothing to do: no line under
     * {@code Current compiles:} and every {@code … compile queue:} section {@code Empty}.
     */
    static boolean queueIsEmpty(String queue) {
        String section = null;
        for (String raw : queue.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.endsWith(":") || line.startsWith("Current compiles:")) {
                section = line;
                if (!line.endsWith(":")) {
                    return false; // a compile on the header's own line
                }
                continue;
            }
            if (section != null && !(section.endsWith("queue:") && line.equals("Empty"))) {
                return false;
            }
        }
        return true;
    }
}
