package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CliTest {
    @Test
    void devicesListsTheCpuBackendAndWhatOpsRunOn() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DevicesCommand.print(new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("cpu") && out.contains("available"), out);
        assertTrue(out.contains("Ops run on: cpu"), out);
    }

    @Test
    void unknownOpIsAUsageError() {
        assertEquals(2, OffloadCli.execute("bench", "no-such-op"));
    }

    @Test
    void unknownBackendFailsWithoutRunning() {
        assertEquals(1, OffloadCli.execute("bench", "--backend", "no-such-backend"));
    }
}
