package org.offload4j.bench;

import java.lang.foreign.MemorySegment;
import org.offload4j.core.Tensor;

/** The rows of a case's host tensors that its check compares with the float64 reference. */
final class SampleRows {
    private SampleRows() {}

    /** A new contiguous tensor of the given rows of a host tensor {@code [rows, cols]}, in that order; the caller closes it. */
    static Tensor copy(Tensor t, int[] rows) {
        Tensor copy = Tensor.allocate(t.dtype(), rows.length, t.cols());
        long rowBytes = t.dtype().byteSize(t.cols());
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(rows[i]), copy.segment(), copy.rowByteOffset(i), rowBytes);
        }
        return copy;
    }
}
