package org.offload4j.cuda.driver.jcuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jcuda.Pointer;
import org.offload4j.cuda.driver.KernelParams;

/**
 * Kernel arguments in the shape JCuda's {@code cuLaunchKernel} takes: a {@code Pointer.to(p0, p1,
 * …)} whose elements point at the argument values, the Java spelling of C's
 * {@code void *args[] = {&a0, &a1, …}}.
 *
 * <p>The values live in native memory, one 8-byte slot each (the same layout the FFM binding
 * uses), and each element {@code p_i} is a plain JCuda {@code Pointer} at slot {@code i}'s
 * address, made once. The outer {@code Pointer.to(…)} is made once per argument count and kept,
 * so after the first launch of a given count a launch allocates nothing on the Java heap. This is
 * deliberately the cheapest way to drive JCuda (its samples build
 * {@code Pointer.to(Pointer.to(new int[]{n}), …)} on every launch), so that a comparison with the
 * FFM binding is fair to JCuda.
 *
 * <p><b>JCuda's inherent cost.</b> What cannot be avoided is in JCuda's JNI layer: for every
 * launch it walks the outer pointer's Java array, and for the array and each element it
 * allocates a C++ {@code PointerData}, takes and drops a JNI global reference and reads the
 * pointer's fields back through JNI, then builds a fresh native {@code void*[]}. That work is
 * linear in the argument count and is what the {@code offload bench launch} JCuda row measures.
 */
final class JCudaKernelParams extends KernelParams {
    private final MemorySegment slots;
    private final SlotPointer[] elements;
    private final Pointer[] byCount;

    JCudaKernelParams(int capacity) {
        super(capacity);
        // Auto arena: the slots live as long as this object; launchKernel keeps it reachable.
        this.slots = Arena.ofAuto().allocate(8L * capacity, 8);
        this.elements = new SlotPointer[capacity];
        for (int i = 0; i < capacity; i++) {
            elements[i] = new SlotPointer(slots.address() + 8L * i);
        }
        this.byCount = new Pointer[capacity + 1];
    }

    @Override
    protected void writeInt(int slot, int value) {
        // The whole slot, so a stale upper half never lingers (cuLaunchKernel reads only 4 bytes).
        slots.setAtIndex(ValueLayout.JAVA_LONG, slot, value & 0xFFFF_FFFFL);
    }

    @Override
    protected void writeLong(int slot, long value) {
        slots.setAtIndex(ValueLayout.JAVA_LONG, slot, value);
    }

    /** The {@code kernelParams} argument for the arguments added so far; {@code null} for none. */
    Pointer kernelParams() {
        int n = count();
        if (n == 0) {
            return null;
        }
        Pointer p = byCount[n];
        if (p == null) {
            p = Pointer.to(Arrays.copyOf(elements, n));
            byCount[n] = p;
        }
        return p;
    }

    /** Slot {@code slot} as the launch will read it (tests). */
    long slot(int slot) {
        return slots.getAtIndex(ValueLayout.JAVA_LONG, slot);
    }

    /** The native address of slot {@code slot} (tests). */
    long slotAddress(int slot) {
        return slots.address() + 8L * slot;
    }

    /** The address that element {@code slot} of {@link #kernelParams()} gives the driver (tests). */
    long elementAddress(int slot) {
        return elements[slot].address();
    }

    /**
     * A plain JCuda pointer at a native address: {@code nativePointer} 0 plus a byte offset, which
     * JCuda's JNI layer reads back as {@code nativePointer + byteOffset}.
     */
    private static final class SlotPointer extends Pointer {
        private static final Pointer NULL = new Pointer();

        SlotPointer(long address) {
            super(NULL, address);
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }
}
