package org.offload4j.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Host memory for the temporaries of one op call (a gathered copy of the activations, FP8 copies of
 * bf16 inputs), reused from call to call on the same thread. For op facades and backends, not for
 * tensors that outlive the call.
 *
 * <p><b>Why.</b> A {@link Tensor#allocate} tensor has its own shared arena, and closing a shared
 * arena waits on a handshake with every Java thread: allocating and freeing a temporary cost
 * 17–60 µs on the development VM (Zen 4, 2 vCPUs), as much as 10 % of a 4096² W4A16 decode call,
 * whose act-order gather needs one. A confined arena closes cheaply, but the CPU backend's worker
 * threads could not read it.
 *
 * <p><b>How.</b> Each thread keeps one buffer from an automatic arena (readable by every thread,
 * freed by the garbage collector once the thread and its buffer are gone), handed out by a bump
 * pointer: {@link #open()} starts a frame at the pointer, {@link #allocate} takes the next 64-byte
 * aligned bytes, {@link #close()} puts the pointer back. Frames nest (a facade whose call runs
 * another op's facade), last opened first closed. A request that does not fit gets a
 * {@link Tensor#allocate} tensor of its own, freed when the frame closes, and the buffer grows to
 * the frame's need when the thread's outermost frame closes, up to {@value #MAX_KEPT_BYTES} bytes a
 * thread; beyond that every call allocates (its work then dwarfs the 17–60 µs). A thread pool
 * therefore keeps up to that much per thread for as long as its threads live. Virtual threads
 * keep nothing (one per request would grow a buffer it never reuses): there every temporary is a
 * tensor of its own, as before.
 *
 * <p>A temporary's contents are undefined until written (not zeroed). It must not be used after
 * its frame closes: the next call on the thread reuses the bytes. A frame is used and closed on the
 * thread that opened it.
 * <pre>{@code
 * try (Workspace ws = Workspace.open()) {
 *     Tensor tmp = ws.allocate(DType.BF16, m, k);
 *     ... fill tmp, run the kernel on it ...
 * }
 * }</pre>
 */
public final class Workspace implements AutoCloseable {
    /** The most a thread keeps between calls. */
    public static final long MAX_KEPT_BYTES = 16L << 20;

    private static final long ALIGN = 64;

    private static final ThreadLocal<Buffer> BUFFERS = ThreadLocal.withInitial(Buffer::new);

    /** One thread's buffer, its bump pointer, the open frames and the most the outermost one wanted. */
    private static final class Buffer {
        MemorySegment memory = MemorySegment.NULL;
        long top;
        int depth;
        long wanted;
    }

    private final Buffer buffer;
    private final Thread owner = Thread.currentThread();
    private final long mark;
    private final int depth;
    private List<Tensor> ownTensors;
    private boolean closed;

    private Workspace(Buffer buffer) {
        this.buffer = buffer;
        this.mark = buffer.top;
        this.depth = ++buffer.depth;
    }

    /** A new frame on this thread's buffer. */
    public static Workspace open() {
        return new Workspace(BUFFERS.get());
    }

    /**
     * A contiguous host tensor for this call, contents undefined; valid until this frame closes
     * (closing the tensor itself only marks it closed).
     */
    public Tensor allocate(DType dtype, long... shape) {
        checkUsable("allocate");
        if (buffer.depth != depth) {
            // Its bytes would lie above the inner frame's mark, and be handed out again once that closes.
            throw new IllegalStateException("workspace frame " + depth + " cannot allocate while frame " + buffer.depth
                    + " (opened inside it) is open");
        }
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        if (shape == null) {
            throw new IllegalArgumentException("shape must not be null");
        }
        long elements = 1;
        long bytes;
        try {
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("shape has a negative dimension");
                }
                elements = Math.multiplyExact(elements, d);
            }
            bytes = Math.max(1, dtype.byteSize(elements));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " of " + dtype
                    + " is too large: its size in bytes overflows a long", e);
        }
        long start = (buffer.top + ALIGN - 1) / ALIGN * ALIGN;
        long end = start + bytes;
        if (bytes <= MAX_KEPT_BYTES && end <= buffer.memory.byteSize()) {
            buffer.top = end;
            return Tensor.wrap(buffer.memory.asSlice(start, bytes), dtype, shape);
        }
        if (bytes <= MAX_KEPT_BYTES) {
            buffer.wanted = Math.max(buffer.wanted, end);
        }
        Tensor own = Tensor.allocate(dtype, shape);
        if (ownTensors == null) {
            ownTensors = new ArrayList<>(2);
        }
        ownTensors.add(own);
        return own;
    }

    /** Gives the frame's bytes back (and frees what did not fit); idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkUsable("close");
        if (buffer.depth != depth) {
            throw new IllegalStateException("workspace frames must close in the reverse order of opening: frame " + depth
                    + " closed while frame " + buffer.depth + " is open");
        }
        closed = true;
        buffer.top = mark;
        buffer.depth--;
        try {
            if (ownTensors != null) {
                for (Tensor t : ownTensors) {
                    t.close();
                }
            }
        } finally {
            if (buffer.depth == 0 && !owner.isVirtual()) {
                grow();
            }
        }
    }

    /** Between calls (no frame open): make the buffer as large as the largest frame wanted, within the cap. */
    private void grow() {
        long want = Math.min(buffer.wanted, MAX_KEPT_BYTES);
        buffer.wanted = 0;
        if (want > buffer.memory.byteSize()) {
            long size = Math.min(MAX_KEPT_BYTES, Math.max(want, 2 * buffer.memory.byteSize()));
            // The old buffer's automatic arena is freed by the garbage collector once unreachable.
            buffer.memory = Arena.ofAuto().allocate(size, ALIGN);
        }
    }

    private void checkUsable(String what) {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("a workspace frame is used on the thread that opened it (" + owner.getName()
                    + "); " + what + " was called on " + Thread.currentThread().getName());
        }
        if (closed) {
            throw new IllegalStateException("this workspace frame is closed");
        }
    }

    /** Bytes this thread keeps between calls (for tests and diagnostics). */
    static long keptBytes() {
        return BUFFERS.get().memory.byteSize();
    }
}
