package org.offload4j.cuda.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The generated bindings load and describe cuda.h (CUDA 13.0) correctly, with or without a driver. */
class CudaBindingsTest {

    @Test
    void headerClassLoadsWithoutTheDriver() throws ClassNotFoundException {
        Class.forName("org.offload4j.cuda.bindings.cuda_h", true, getClass().getClassLoader());
        assertEquals(13000, cuda_h.CUDA_VERSION());
    }

    @Test
    void everyDescriptorIsAvailableWithoutTheDriver() throws ReflectiveOperationException {
        int count = 0;
        for (Method m : cuda_h.class.getMethods()) {
            if (m.getName().endsWith("$descriptor") && Modifier.isStatic(m.getModifiers())) {
                assertTrue(m.invoke(null) instanceof FunctionDescriptor, m.getName());
                count++;
            }
        }
        assertTrue(count >= 67, "functions bound: " + count);
    }

    @Test
    void missingDriverIsReportedWithoutAnException() {
        assumeTrue(CudaLibrary.loadFailure().isPresent(), "a CUDA driver is installed here");
        String reason = CudaLibrary.loadFailure().get();
        assertTrue(reason.contains("libcuda.so.1") && reason.contains("libcuda.so"), reason);
        assertTrue(reason.contains(CudaLibrary.LIBRARY_PROPERTY), reason);
        assertTrue(CudaLibrary.libraryName().isEmpty());

        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class, () -> cuda_h.cuInit(0));
        assertTrue(e.getMessage().contains("cuInit") && e.getMessage().contains("libcuda.so.1"), e.getMessage());
        // every call reports it again (no class left in a failed state)
        e = assertThrows(UnsatisfiedLinkError.class, () -> cuda_h.cuInit(0));
        assertTrue(e.getMessage().contains("cuInit"), e.getMessage());
        // the public name is bound to the versioned symbol the header's macro selects
        e = assertThrows(UnsatisfiedLinkError.class, cuda_h::cuMemAlloc$address);
        assertTrue(e.getMessage().contains("cuMemAlloc_v2"), e.getMessage());
        e = assertThrows(UnsatisfiedLinkError.class, cuda_h::cuCtxCreate$handle);
        assertTrue(e.getMessage().contains("cuCtxCreate_v4"), e.getMessage());
    }

    @Test
    void constantsHaveTheHeadersValues() {
        assertEquals(0, cuda_h.CUDA_SUCCESS());
        assertEquals(1, cuda_h.CUDA_ERROR_INVALID_VALUE());
        assertEquals(2, cuda_h.CUDA_ERROR_OUT_OF_MEMORY());
        assertEquals(999, cuda_h.CUDA_ERROR_UNKNOWN());
        assertEquals(16, cuda_h.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT());
        assertEquals(75, cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR());
        assertEquals(8, cuda_h.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES());
        assertEquals(1, cuda_h.CU_STREAM_NON_BLOCKING());
        assertEquals(2, cuda_h.CU_EVENT_DISABLE_TIMING());
        assertEquals(4, cuda_h.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION());
        assertEquals(1, cuda_h.CU_MEMHOSTALLOC_PORTABLE());
        assertEquals(2, cuda_h.CU_MEMHOSTALLOC_DEVICEMAP());
        assertEquals(-1, cuda_h.CU_DEVICE_CPU());
        assertEquals(MemorySegment.ofAddress(1), cuda_h.CU_STREAM_LEGACY());
        assertEquals(MemorySegment.NULL, cuda_h.CU_LAUNCH_PARAM_END());
        // a macro aliasing an enum constant
        assertEquals(cuda_h.CU_LAUNCH_ATTRIBUTE_PRIORITY(), cuda_h.CU_KERNEL_NODE_ATTRIBUTE_PRIORITY());
    }

    @Test
    void descriptorsFollowTheHeader() {
        assertEquals(FunctionDescriptor.of(cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_LONG_LONG),
                cuda_h.cuMemAlloc$descriptor());
        assertEquals(FunctionDescriptor.of(cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_INT, cuda_h.C_INT),
                cuda_h.cuCtxCreate$descriptor());
        assertEquals(FunctionDescriptor.of(cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_POINTER),
                cuda_h.cuEventElapsedTime$descriptor());
        assertEquals(FunctionDescriptor.of(cuda_h.C_INT, cuda_h.C_LONG_LONG, cuda_h.C_POINTER, cuda_h.C_LONG_LONG,
                cuda_h.C_POINTER), cuda_h.cuMemcpyHtoDAsync$descriptor());
        FunctionDescriptor launch = cuda_h.cuLaunchKernel$descriptor();
        assertEquals(11, launch.argumentLayouts().size());
        assertEquals(cuda_h.C_INT, launch.argumentLayouts().get(1)); // gridDimX
        assertEquals(FunctionDescriptor.of(cuda_h.C_INT, cuda_h.C_POINTER, cuda_h.C_POINTER, cuda_h.C_POINTER,
                cuda_h.C_POINTER), cuda_h.cuLaunchKernelEx$descriptor());
    }

    @Test
    void structLayoutsFollowTheHeader() {
        assertEquals(56, CUlaunchConfig_st.sizeof());
        assertEquals(24, CUlaunchConfig_st.sharedMemBytes$offset());
        assertEquals(32, CUlaunchConfig_st.hStream$offset());
        assertEquals(40, CUlaunchConfig_st.attrs$offset());
        assertEquals(48, CUlaunchConfig_st.numAttrs$offset());
        assertEquals(64, CUlaunchAttributeValue_union.sizeof());
        assertEquals(72, CUlaunchAttribute_st.sizeof());
        assertEquals(8, CUlaunchAttribute_st.value$offset());
        assertEquals(16, CUuuid_st.sizeof());
        assertEquals(24, CUctxCreateParams_st.sizeof());
        assertEquals(12, CUlaunchAttributeValue_union.clusterDim.sizeof());
    }

    @Test
    void structAccessorsReadAndWrite() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = CUlaunchConfig_st.allocate(arena);
            CUlaunchConfig_st.gridDimX(config, 7);
            CUlaunchConfig_st.numAttrs(config, 1);
            MemorySegment attrs = CUlaunchAttribute_st.allocateArray(1, arena);
            CUlaunchConfig_st.attrs(config, attrs);
            assertEquals(7, CUlaunchConfig_st.gridDimX(config));
            assertEquals(7, config.get(cuda_h.C_INT, 0));
            assertEquals(attrs.address(), CUlaunchConfig_st.attrs(config).address());

            MemorySegment attr = CUlaunchAttribute_st.asSlice(attrs, 0);
            CUlaunchAttribute_st.id(attr, cuda_h.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION());
            MemorySegment dim = CUlaunchAttributeValue_union.clusterDim(CUlaunchAttribute_st.value(attr));
            CUlaunchAttributeValue_union.clusterDim.y(dim, 2);
            assertEquals(2, attr.get(cuda_h.C_INT, 8 + 4));

            MemorySegment uuid = CUuuid_st.allocate(arena);
            CUuuid_st.bytes(uuid, 15, (byte) 0x5a);
            assertEquals((byte) 0x5a, CUuuid_st.bytes(uuid).get(cuda_h.C_CHAR, 15));
            assertThrows(IndexOutOfBoundsException.class, () -> CUuuid_st.bytes(uuid, 16));
        }
    }
}
