package org.offload4j.cuda.driver;

/**
 * The {@code CUfunction_attribute}s the backend reads or sets; like {@link DeviceAttribute},
 * each binding maps the C name to its own constant.
 */
public enum FunctionAttribute {
    MAX_THREADS_PER_BLOCK,
    SHARED_SIZE_BYTES,
    LOCAL_SIZE_BYTES,
    NUM_REGS,
    PTX_VERSION,
    BINARY_VERSION,
    MAX_DYNAMIC_SHARED_SIZE_BYTES;

    /** The C enumerator, e.g. {@code CU_FUNC_ATTRIBUTE_NUM_REGS}. */
    public String cName() {
        return "CU_FUNC_ATTRIBUTE_" + name();
    }
}
