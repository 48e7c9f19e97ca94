package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.driver.CudaException;

/**
 * Buffers still open when their device is closed (fake driver): the device's close() frees them
 * before it releases the primary context, and their own close() or Cleaner later does nothing.
 * Freeing them after the release, as they once did, could free an address that a reopened device
 * (often given the same primary context back) had handed to another allocation.
 */
class DeviceCloseTest {
    /** Records memFree and ctxSetCurrent in the fake's {@code calls} too, in order with its other entries. */
    private final FakeCudaDriver driver = new FakeCudaDriver() {
        @Override
        public void ctxSetCurrent(long context) {
            calls.add("ctxSetCurrent");
        }

        @Override
        public synchronized void memFree(long devicePointer) {
            calls.add("memFree " + devicePointer);
            super.memFree(devicePointer);
        }
    };
    private final List<LogRecord> warnings = new ArrayList<>();
    private final Handler warningsHandler = new Handler() {
        @Override
        public void publish(LogRecord record) {
            warnings.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private final Logger log = Logger.getLogger("org.offload4j.cuda");

    @BeforeEach
    void captureWarnings() {
        log.addHandler(warningsHandler);
    }

    @AfterEach
    void stopCapturing() {
        log.removeHandler(warningsHandler);
    }

    private CudaDevice open() {
        return CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
    }

    @Test
    void openBuffersAreFreedByTheDeviceBeforeItReleasesTheContext() {
        CudaDevice device = open();
        DeviceBuffer buffer = device.allocate(1000);
        PinnedBuffer pinned = device.allocatePinned(24);
        long address = buffer.address();
        warnings.clear();
        device.close();
        List<String> calls = List.copyOf(driver.calls);
        int freed = calls.indexOf("memFree " + address);
        assertTrue(freed >= 0 && freed < calls.indexOf("release"), "memFree before the context's release: " + calls);
        assertTrue(calls.indexOf("freeHost") < calls.indexOf("release"), "the pinned buffer too: " + calls);
        assertEquals(1, driver.frees.get(), "freed once");
        assertEquals(1, warnings.size(), "one warning for both: " + warnings);
        String warning = warnings.getFirst().getMessage();
        assertTrue(warning.contains("2 buffers") && warning.contains("1024 bytes"), warning);

        buffer.close();
        pinned.close();
        assertEquals(calls, driver.calls, "their own close() calls the driver no more");
        assertThrows(IllegalStateException.class, buffer::address);
        assertThrows(IllegalStateException.class, pinned::segment);
    }

    @Test
    void buffersClosedFirstAreFreedOnceAndNotReported() {
        CudaDevice device = open();
        DeviceBuffer buffer = device.allocate(64);
        PinnedBuffer pinned = device.allocatePinned(64);
        buffer.close();
        pinned.close();
        warnings.clear();
        device.close();
        assertEquals(1, driver.frees.get());
        assertEquals(1, driver.calls.stream().filter(c -> c.equals("freeHost")).count(), driver.calls.toString());
        assertEquals(List.of(), warnings);
    }

    /** A free that fails at close() (after a sticky error) does not stop the context's release, and is thrown. */
    @Test
    void aFailedFreeAtCloseStillReleasesTheContext() {
        FakeCudaDriver failing = new FakeCudaDriver() {
            @Override
            public synchronized void memFree(long devicePointer) {
                throw new CudaException("cuMemFree", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "illegal address");
            }
        };
        CudaDevice device = CudaDevice.open(failing, 0, KernelImage.of(new byte[] {1}, new Properties()));
        DeviceBuffer buffer = device.allocate(64);
        var e = assertThrows(CudaException.class, device::close);
        assertTrue(e.getMessage().contains("cuMemFree"), e.getMessage());
        assertTrue(failing.calls.containsAll(List.of("unload", "release")), failing.calls.toString());
        buffer.close(); // nothing left to do: no second attempt, no exception
    }

    @Test
    void noAllocationAfterClose() {
        CudaDevice device = open();
        device.close();
        assertThrows(IllegalStateException.class, () -> device.allocate(8));
        assertThrows(IllegalStateException.class, () -> device.allocatePinned(8));
    }

    /** A pinned buffer's segment kept past the device's close() fails on use instead of touching freed memory. */
    @Test
    void aPinnedSegmentKeptPastTheDevicesCloseFailsOnUse() {
        CudaDevice device = open();
        MemorySegment segment = device.allocatePinned(16).segment();
        device.close();
        assertThrows(IllegalStateException.class, () -> segment.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    }
}
