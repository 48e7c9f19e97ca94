package org.offload4j.core;

/**
 * A place where tensors live and kernels run.
 *
 * @param backend the backend that owns the device ({@code cpu}, {@code cuda}, …)
 * @param index   the device's ordinal within its backend
 * @param name    a human-readable description (CPU model or GPU name)
 * @param hostAddressable whether the device's memory can be read and written by Java directly
 */
public record Device(String backend, int index, String name, boolean hostAddressable) {

    /** The host: every {@link Tensor#allocate host tensor} lives here. */
    public static final Device HOST = new Device("host", 0, "host memory", true);

    @Override
    public String toString() {
        return backend + ":" + index + " (" + name + ")";
    }
}
