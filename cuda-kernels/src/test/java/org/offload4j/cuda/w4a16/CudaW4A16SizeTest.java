package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Weights too large for the tensor-core layout go to the simple kernel, which must then refuse them clearly. */
class CudaW4A16SizeTest {
    @Test
    void weightsTooLargeForEveryLayoutAreRefusedByName() {
        int k = 131072;
        int n = 131072;
        assertFalse(TcW4A16Kernel.layoutFits(k, n), "handed to the simple kernel");
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> CudaW4A16Kernel.checkSize(k, n, k / 128));
        assertTrue(e.getMessage().contains("[131072, 131072]") && e.getMessage().contains("split the weight by columns"),
                e.getMessage());
        assertDoesNotThrow(() -> CudaW4A16Kernel.checkSize(14336, 4096, 14336 / 128));
        assertDoesNotThrow(() -> CudaW4A16Kernel.checkSize(65536, 262136, 65536 / 128), "just under 2^31 words");
        assertThrows(UnsupportedOperationException.class, () -> CudaW4A16Kernel.checkSize(65536, 262144, 65536 / 128));
    }
}
