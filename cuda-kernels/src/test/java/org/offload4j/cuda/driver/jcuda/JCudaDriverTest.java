package org.offload4j.cuda.driver.jcuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.CudaDrivers;
import org.offload4j.cuda.driver.CudaException;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;
import org.offload4j.cuda.driver.DeviceAttribute;
import org.offload4j.cuda.driver.FunctionAttribute;

/**
 * The JCuda binding where it can run and where it cannot. On a host without the NVIDIA driver
 * (this project's build machines) loading declines with one sentence; on a GPU host it loads,
 * initialises and answers like the FFM binding. Both outcomes are asserted, whichever happens.
 */
class JCudaDriverTest {
    @Test
    void theBindingClassLoadsWithoutTouchingJCudasNativeLibrary() throws Exception {
        Class<?> c = Class.forName("org.offload4j.cuda.driver.jcuda.JCudaDriver");
        assertTrue(CudaDriver.class.isAssignableFrom(c));
        assertEquals(c, c.getMethod("load").getReturnType());
    }

    @Test
    void loadDeclinesWithOneSentenceOrTheDriverInitialisesOrNamesTheError() {
        for (int attempt = 0; attempt < 2; attempt++) { // the second attempt sees JCuda's class already failed
            CudaDriver d;
            try {
                d = CudaDrivers.load("jcuda");
            } catch (UnsupportedOperationException e) {
                String m = e.getMessage();
                assertFalse(m.contains("\n"), "one sentence, got: " + m);
                assertTrue(m.startsWith("JCuda's JNI library"), m);
                if (!libcudaPresent()) {
                    assertTrue(m.contains("libcuda.so.1"), "says the NVIDIA driver library is missing: " + m);
                }
                continue;
            }
            assertEquals("jcuda", d.bindingName());
            try {
                d.init();
            } catch (CudaException e) {
                // A driver but no usable GPU (e.g. CUDA_ERROR_NO_DEVICE): the call and the error are named.
                assertTrue(e.getMessage().matches("cuInit failed: \\S+ \\(.+\\)"), e.getMessage());
                continue;
            }
            assertTrue(d.driverGetVersion() >= 12000, "driver version " + d.driverGetVersion());
            assertEquals("CUDA_ERROR_OUT_OF_MEMORY", d.getErrorName(2));
            assertEquals("CUresult 123456", d.getErrorName(123456));
            assertTrue(d.deviceGetCount() >= 0);
        }
    }

    @Test
    @Tag("gpu") // not @GpuTest: it needs JCuda's GPU, not the FFM backend's, and says so itself
    void onAGpuErrorsAndOutOfMemoryLookLikeTheFfmBindings() {
        CudaDriver d = initialisedWithADevice();
        int dev = d.deviceGet(0);
        long ctx = d.devicePrimaryCtxRetain(dev);
        try {
            d.ctxSetCurrent(ctx);
            var oom = assertThrows(CudaOutOfMemoryException.class, () -> d.memAlloc(1L << 50));
            assertTrue(oom.getMessage().startsWith("cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY ("), oom.getMessage());
            long p = d.memAlloc(4096);
            long s = d.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                var host = arena.allocate(4096);
                host.fill((byte) 7);
                d.memcpyHtoDAsync(p, host, 4096, s);
                var back = d.memAllocHost(4096);
                d.memsetD8Async(p + 1024, (byte) 9, 16, s);
                d.memcpyDtoHAsync(back, p, 4096, s);
                d.streamSynchronize(s);
                assertEquals(7, back.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
                assertEquals(9, back.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 1024));
                d.memFreeHost(back);
            } finally {
                d.streamDestroy(s);
                d.memFree(p);
            }
            assertTrue(d.deviceGetAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, dev) > 0);
            assertThrows(IllegalArgumentException.class, () -> d.streamSynchronize(0x1234_5678L),
                    "a stream this binding never made");
        } finally {
            d.devicePrimaryCtxRelease(dev);
        }
    }

    private static CudaDriver initialisedWithADevice() {
        CudaDriver d;
        try {
            d = CudaDrivers.load("jcuda");
            d.init();
        } catch (UnsupportedOperationException | CudaException e) {
            assumeTrue(false, "no GPU through JCuda here: " + e.getMessage());
            throw e;
        }
        assumeTrue(d.deviceGetCount() > 0, "the driver reports no device");
        return d;
    }

    @Test
    void everyAttributeMapsToJCudasConstantOfTheSameName() throws Exception {
        for (DeviceAttribute a : DeviceAttribute.values()) {
            assertEquals(jcuda.driver.CUdevice_attribute.class.getField(a.cName()).getInt(null), JCudaConstants.of(a), a.cName());
        }
        for (FunctionAttribute a : FunctionAttribute.values()) {
            assertEquals(jcuda.driver.CUfunction_attribute.class.getField(a.cName()).getInt(null), JCudaConstants.of(a), a.cName());
        }
    }

    @Test
    void jcudasNumbersAgreeWithTheInstalledHeader() throws IOException {
        Path header = Path.of(System.getenv().getOrDefault("CUDA_HOME", "/usr/local/cuda"), "include", "cuda.h");
        assumeTrue(Files.isRegularFile(header), "no cuda.h at " + header);
        Map<String, Integer> enumerators = new HashMap<>();
        Matcher m = Pattern.compile("\\b(CU_(?:DEVICE|FUNC)_ATTRIBUTE_\\w+)\\s*=\\s*(\\d+)").matcher(Files.readString(header));
        while (m.find()) {
            enumerators.putIfAbsent(m.group(1), Integer.parseInt(m.group(2)));
        }
        for (DeviceAttribute a : DeviceAttribute.values()) {
            assertEquals(enumerators.get(a.cName()), JCudaConstants.of(a), a.cName() + " in " + header);
        }
        for (FunctionAttribute a : FunctionAttribute.values()) {
            assertEquals(enumerators.get(a.cName()), JCudaConstants.of(a), a.cName() + " in " + header);
        }
    }

    @Test
    void aNameJCudaLacksIsALinkageErrorThatNamesIt() {
        var e = assertThrows(NoSuchFieldError.class, () -> JCudaConstants.map(jcuda.driver.CUdevice_attribute.class,
                new String[] {"CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT", "CU_DEVICE_ATTRIBUTE_NO_SUCH_THING"}));
        assertTrue(e.getMessage().contains("[CU_DEVICE_ATTRIBUTE_NO_SUCH_THING]"), e.getMessage());
    }

    @Test
    void loadFailuresBecomeOneSentence() {
        var missingDriver = new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                + "Stack trace from the attempt to load the library as a resource:\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file");
        assertEquals("JCuda's JNI library needs the NVIDIA driver library libcuda.so.1, which is not installed here",
                JCudaDriver.loadFailure(missingDriver));
        var other = new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver\"\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/x.so: libstdc++.so.6: cannot open shared object file: No such file\n");
        String s = JCudaDriver.loadFailure(other);
        assertTrue(s.endsWith("libstdc++.so.6: cannot open shared object file: No such file") && !s.contains("\n"), s);
    }

    private static boolean libcudaPresent() {
        for (String dir : new String[] {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                "/usr/local/cuda/compat", "/usr/lib/wsl/lib"}) {
            if (Files.exists(Path.of(dir, "libcuda.so.1"))) {
                return true;
            }
        }
        return false;
    }
}
