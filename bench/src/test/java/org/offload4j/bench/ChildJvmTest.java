package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChildJvmTest {
    @Test
    void agentsRecordingsAndFileLogsAreNotRepeated() {
        for (String option : List.of("-agentlib:jdwp=transport=dt_socket,server=y,address=5005", "-agentpath:/x/libasyncProfiler.so",
                "-javaagent:jacoco.jar=destfile=a.exec", "-XX:StartFlightRecording=filename=a.jfr", "-XX:LogFile=a.log",
                "-XX:ArchiveClassesAtExit=a.jsa", "-Xlog:gc:file=gc.log")) {
            assertFalse(ChildJvm.inheritable(option), option);
        }
        for (String option : List.of("-Xbatch", "-Doffload.cpu.threads=1", "--add-modules=jdk.incubator.vector", "-Xlog:gc",
                "-XX:UseAVX=2", "--enable-native-access=ALL-UNNAMED")) {
            assertTrue(ChildJvm.inheritable(option), option);
        }
    }

    @Test
    void theCommandEndsWithTheClassPathMainClassAndArguments() {
        List<String> c = ChildJvm.command(List.of(), List.of("-Dx=1"), List.of("bench", "hadamard"));
        int main = c.indexOf(OffloadCli.class.getName());
        assertEquals(List.of("-Dx=1", "-cp", System.getProperty("java.class.path"), OffloadCli.class.getName(), "bench", "hadamard"),
                c.subList(main - 3, c.size()));
        assertTrue(c.getFirst().endsWith("java") || c.getFirst().endsWith("java.exe"), c.getFirst());
    }
}
