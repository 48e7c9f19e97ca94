package org.offload4j.tornado;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Locale;
import org.offload4j.core.Backend;
import org.offload4j.core.BackendProvider;

/**
 * Provides the TornadoVM backend ({@code tornado}): the four ops as TornadoVM kernels on an OpenCL
 * or PTX device. This class is always built and always on the class path; it needs nothing from
 * TornadoVM, so that {@code offload devices} can say why the backend is unavailable.
 *
 * <p>The ladder of {@link #create()}, each rung declining with one sentence:
 * <ol>
 *   <li>TornadoVM must be in this JVM: its {@value #RUNTIME_MODULE} module in the boot layer.
 *       It is there when the JVM was started with the SDK's {@code tornado-argfile}, which
 *       {@code ./offload} adds when {@code TORNADO_SDK} is set.</li>
 *   <li>This jar must hold the kernels: they are compiled only where the build saw a TornadoVM SDK
 *       (the Maven profile {@code tornado-sdk}, activated by {@code TORNADO_SDK}).</li>
 *   <li>No silent fallback: TornadoVM's own recovery, which runs a kernel it cannot compile as
 *       plain sequential Java, must be off ({@code -Dtornado.recover.bailout=False}). It is set
 *       here when unset; a JVM that explicitly turns it on is refused.</li>
 *   <li>The backend then starts TornadoVM, picks the device ({@value #DEVICE_PROPERTY}, else
 *       TornadoVM's default) and compiles and runs a probe kernel on it; any failure declines with
 *       TornadoVM's reason.</li>
 * </ol>
 *
 * <p><b>Priority.</b> 50 (below CUDA, above the Vector API backend) when the TornadoVM device is
 * an accelerator; 5 when it is a CPU (an OpenCL CPU driver such as PoCL), where the Vector API
 * backend is the better default. It is known only after {@link #create()}, which
 * {@link org.offload4j.core.Backends} calls first.
 */
public final class TornadoBackendProvider implements BackendProvider {
    static final String RUNTIME_MODULE = "tornado.runtime";
    static final String IMPLEMENTATION = "org.offload4j.tornado.TornadoBackend";
    static final String BAILOUT_PROPERTY = "tornado.recover.bailout";
    static final String DEVICE_PROPERTY = "offload.tornado.device";
    static final String HOW_TO = "set TORNADO_SDK to a TornadoVM SDK (installation: "
            + "https://tornadovm.readthedocs.io/en/latest/installation.html) and run through ./offload, "
            + "which adds the SDK's tornado-argfile to the JVM options";

    private volatile int priority = 50;

    @Override
    public String name() {
        return "tornado";
    }

    @Override
    public int priority() {
        return priority;
    }

    @Override
    public Backend create() {
        if (ModuleLayer.boot().findModule(RUNTIME_MODULE).isEmpty()) {
            throw new UnsupportedOperationException("TornadoVM is not in this JVM (no module " + RUNTIME_MODULE + "): " + HOW_TO);
        }
        Class<?> impl;
        try {
            impl = Class.forName(IMPLEMENTATION, false, TornadoBackendProvider.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new UnsupportedOperationException("this offload4j build has no TornadoVM kernels: rebuild with TORNADO_SDK "
                    + "set to the SDK (./mvnw -B package), which compiles tornado-kernels/src/tornado");
        }
        String bailout = System.getProperty(BAILOUT_PROPERTY);
        if (bailout == null) {
            System.setProperty(BAILOUT_PROPERTY, "False");
        } else if (!bailout.trim().toLowerCase(Locale.ROOT).equals("false")) {
            throw new UnsupportedOperationException("-D" + BAILOUT_PROPERTY + "=" + bailout + " lets TornadoVM run a kernel it "
                    + "cannot compile as plain Java, silently; start the JVM without it or with =False");
        }
        Backend backend;
        try {
            MethodHandle create = MethodHandles.publicLookup().findStatic(impl, "create", MethodType.methodType(impl));
            backend = (Backend) create.invoke();
        } catch (UnsupportedOperationException | LinkageError e) {
            throw e;
        } catch (NoSuchMethodException | IllegalAccessException e) {
            throw new LinkageError("packaging bug: " + IMPLEMENTATION + " has no public static create()", e);
        } catch (Throwable e) {
            throw new UnsupportedOperationException("TornadoVM could not start: " + e, e);
        }
        priority = backend.devices().getFirst().hostAddressable() ? 5 : 50;
        return backend;
    }
}
