package org.offload4j.cuda.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;

/**
 * Runs {@code src/test/cuda/attention_host_test.cu} (its own checks must pass) and compares the
 * kernel's fp8 decode of all 256 codes and its bf16 rounding with core's {@link Fp8} and
 * {@link Bf16}, bit for bit. Skipped where nvcc is missing.
 */
class AttentionHostTest {

    @Test
    void hostProgramPassesAndAgreesWithCoreNumerics() throws Exception {
        HostPrograms.Run run = HostPrograms.compileAndRun("attention_host_test", "--dump");
        assertEquals(0, run.status(), () -> String.join("\n", run.lines().stream().filter(l -> !l.startsWith("e4m3 ")
                && !l.startsWith("bf16 ")).toList()));
        int fp8 = 0;
        int bf16 = 0;
        for (String line : run.lines()) {
            String[] f = line.split(" ");
            if (f[0].equals("e4m3")) {
                int code = Integer.parseInt(f[1]);
                int bits = Integer.parseUnsignedInt(f[2]);
                assertEquals(Float.floatToRawIntBits(Fp8.e4m3ToFloat((byte) code)), bits, "e4m3 code " + code);
                fp8++;
            } else if (f[0].equals("bf16")) {
                int in = Integer.parseUnsignedInt(f[1]);
                int got = Integer.parseInt(f[2]);
                assertEquals(Bf16.fromFloat(Float.intBitsToFloat(in)) & 0xFFFF, got, "bf16 of " + Integer.toHexString(in));
                bf16++;
            }
        }
        assertEquals(256, fp8);
        assertEquals(2000, bf16);
    }
}
