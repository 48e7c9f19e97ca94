package org.offload4j.cuda;

import java.lang.ref.Cleaner;

/** The one Cleaner of the CUDA backend, and its leak warning. */
final class Resources {
    static final Cleaner CLEANER = Cleaner.create();
    private static final System.Logger LOG = System.getLogger("org.offload4j.cuda");

    private Resources() {
    }

    static void warnLeak(String what) {
        LOG.log(System.Logger.Level.WARNING, what + " was not closed; it was freed when it became unreachable."
                + " Close CUDA resources (try-with-resources) to free device memory promptly.");
    }

    /** One warning for all the buffers that a device's close() found open and freed itself. */
    static void warnOpenAtClose(String device, int buffers, long bytes) {
        LOG.log(System.Logger.Level.WARNING, buffers + (buffers == 1 ? " buffer" : " buffers") + " (" + bytes + " bytes) of "
                + device + " were not closed before the device; it freed them when it was closed, and their addresses"
                + " are invalid now. Close CUDA resources (try-with-resources) before their device.");
    }
}
