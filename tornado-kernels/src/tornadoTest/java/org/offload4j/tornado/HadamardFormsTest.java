package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.tornado.TornadoHadamardKernel.Form;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;

/**
 * Which form the Hadamard op takes: the default per device type, a forced form where it applies
 * and {@code passes} where it does not, an unknown form refused. (The op tests force forms and
 * would pass just the same if every call fell back to {@code passes}.) Also a call of more rows
 * than a grid's y extent takes, through both forms with element-wise passes.
 */
@Tag("tornado")
class HadamardFormsTest {
    private static TornadoHadamardKernel kernel() {
        return (TornadoHadamardKernel) TornadoTests.backend().kernels(HadamardKernel.class).orElseThrow();
    }

    private static Form formOf(String asked, int d) {
        Form[] form = new Form[1];
        TornadoHadamardTest.withForm(asked, () -> form[0] = kernel().form(HadamardSize.of(d)));
        return form[0];
    }

    @Test
    void theDefaultIsRowsOnACpuDeviceAndFusedElsewhere() {
        boolean cpu = ((TornadoBackend) TornadoTests.backend()).tornadoDevice().getDeviceType() == TornadoDeviceType.CPU;
        assertEquals(cpu ? Form.ROWS : Form.FUSED, formOf("", 1024));
        assertEquals(cpu ? Form.ROWS : Form.FUSED, formOf("", 12 * 8), "n = 8, the smallest block of the rows form");
        assertEquals(cpu ? Form.PASSES : Form.FUSED, formOf("", 40 * 4), "n = 4");
        assertEquals(cpu ? Form.ROWS : Form.PASSES, formOf("", 8192), "longer than the fused kernel's rows");
    }

    @Test
    void aForcedFormAppliesWhereItCanElsePasses() {
        assertEquals(Form.FUSED, formOf("fused", 4096));
        assertEquals(Form.PASSES, formOf("fused", 8192));
        assertEquals(Form.ROWS, formOf("rows", 16));
        assertEquals(Form.PASSES, formOf("rows", 12));
        assertEquals(Form.PASSES, formOf("rows", 2));
        assertEquals(Form.PASSES, formOf("passes", 1024));
    }

    @Test
    void anUnknownFormIsRefusedNamingTheProperty() {
        var e = assertThrows(IllegalArgumentException.class, () -> formOf("tiles", 1024));
        assertTrue(e.getMessage().contains("-Doffload.tornado.hadamard=tiles"), e.getMessage());
    }

    /** 65542 rows: the load and store passes fold them into y and z (y ≤ 65535, where CUDA stops). */
    @Test
    void moreRowsThanAGridExtentTakes() {
        int d = 16;
        int rows = Plans.Grids.MAX_GRID_YZ + 7;
        HadamardSize size = HadamardSize.of(d);
        for (String form : new String[] {"passes", "rows"}) {
            long seed = TornadoTests.seed("hadamard grid rows", form);
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, rows, d), seed, 1.0);
                 Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, rows, d))) {
                double[] want = HadamardReference.compute(x, size, Hadamard.defaultScale(d), false, null, null);
                TornadoHadamardTest.withForm(form, () -> Hadamard.create(TornadoTests.backend()).transform(x, y));
                TornadoTests.assertClose(want, y, TornadoHadamardTest.tolerance(DType.BF16), seed, form + " bf16 d=16 rows=" + rows);
            }
        }
    }
}
