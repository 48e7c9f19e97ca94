package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** {@link CudaTimer} on the fake driver: events around each call, their elapsed times summed. */
class CudaTimerTest {

    @Test
    void eachCallIsTimedBetweenItsOwnEvents() {
        List<String> records = new ArrayList<>();
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public void eventRecord(long event, long stream) {
                records.add("record " + event + " on " + stream);
            }

            @Override
            public void streamSynchronize(long stream) {
                records.add("sync " + stream);
                super.streamSynchronize(stream);
            }

            @Override
            public float eventElapsedTime(long start, long end) {
                return 0.25f; // milliseconds
            }
        };
        CudaDevice device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
        try {
            CudaTimer.Timed none = CudaTimer.time(() -> { });
            assertEquals(0, none.calls());
            assertEquals(0, none.deviceNanos());
            CudaTimer.Timed two = CudaTimer.time(() -> {
                for (int i = 0; i < 2; i++) {
                    try (CudaCall call = CudaCall.begin(device)) {
                        call.scratch(64);
                        call.finish();
                    }
                }
            });
            assertEquals(2, two.calls());
            assertEquals(500_000, two.deviceNanos(), "2 × 0.25 ms");
            assertTrue(two.wallNanos() > 0);
            // Per call: the start event, then the stop event, then the wait, on the call's stream.
            assertEquals(6, records.size(), records.toString());
            for (int c = 0; c < 2; c++) {
                assertTrue(records.get(3 * c).startsWith("record") && records.get(3 * c + 1).startsWith("record")
                        && records.get(3 * c + 2).startsWith("sync"), records.toString());
            }
            records.clear();
            try (CudaCall call = CudaCall.begin(device)) { // untimed: no events
                call.finish();
            }
            assertEquals(List.of("sync"), records.stream().map(r -> r.split(" ")[0]).toList());
        } finally {
            device.close();
        }
    }
}
