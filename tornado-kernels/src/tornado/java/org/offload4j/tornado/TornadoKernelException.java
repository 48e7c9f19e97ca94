package org.offload4j.tornado;

/**
 * TornadoVM did not compile or did not run a kernel on the selected device. The message names the
 * kernel, the device and TornadoVM's reason. Never caught inside the backend: there is no fallback.
 */
public final class TornadoKernelException extends RuntimeException {
    TornadoKernelException(String message, Throwable cause) {
        super(message, cause);
    }
}
