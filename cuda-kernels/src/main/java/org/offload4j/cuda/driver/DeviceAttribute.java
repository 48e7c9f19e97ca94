package org.offload4j.cuda.driver;

/**
 * The {@code CUdevice_attribute}s the backend reads. The numeric values are not repeated here:
 * each binding maps the C name to its own constant (the generated {@code cuda_h} or JCuda's
 * {@code CUdevice_attribute}), so the header stays the single source of the numbers.
 */
public enum DeviceAttribute {
    MAX_THREADS_PER_BLOCK,
    MULTIPROCESSOR_COUNT,
    COMPUTE_CAPABILITY_MAJOR,
    COMPUTE_CAPABILITY_MINOR,
    L2_CACHE_SIZE,
    MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
    MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
    CLOCK_RATE,
    MEMORY_CLOCK_RATE,
    GLOBAL_MEMORY_BUS_WIDTH,
    PCI_BUS_ID,
    INTEGRATED;

    /** The C enumerator, e.g. {@code CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}. */
    public String cName() {
        return "CU_DEVICE_ATTRIBUTE_" + name();
    }
}
