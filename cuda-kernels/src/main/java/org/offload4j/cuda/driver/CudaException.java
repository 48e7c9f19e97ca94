package org.offload4j.cuda.driver;

/**
 * A CUDA driver call returned an error. The message names the call and the error, e.g.
 * {@code cuMemAlloc failed: CUDA_ERROR_INVALID_VALUE (invalid argument)}.
 */
public class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int code;
    private final String errorName;

    public CudaException(String call, int code, String errorName, String errorString) {
        super(call + " failed: " + errorName + " (" + errorString + ")");
        this.call = call;
        this.code = code;
        this.errorName = errorName;
    }

    /** The driver function that failed, e.g. {@code cuMemAlloc}. */
    public String call() {
        return call;
    }

    /** The {@code CUresult}. */
    public int code() {
        return code;
    }

    /** The {@code CUresult}'s name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String errorName() {
        return errorName;
    }
}
