package org.offload4j.cuda.driver;

/**
 * {@code CUDA_ERROR_OUT_OF_MEMORY}: an allocation did not fit. The context and the device stay
 * usable; free something and try again.
 */
public final class CudaOutOfMemoryException extends CudaException {
    private static final long serialVersionUID = 1L;

    public CudaOutOfMemoryException(String call, int code, String errorName, String errorString) {
        super(call, code, errorName, errorString);
    }
}
