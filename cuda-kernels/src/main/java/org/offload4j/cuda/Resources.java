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
}
