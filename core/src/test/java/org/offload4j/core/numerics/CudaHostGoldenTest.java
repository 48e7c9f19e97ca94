package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java converters against what CUDA's own host conversion code answers, recorded in
 * {@code cuda-host-golden.txt} by {@code core/src/test/cuda-host/cuda_host_golden.cpp} (CUDA
 * 13.0 headers, compiled with g++; the file's header says how to regenerate it). The inputs are
 * every fp8 value, every midpoint between fp8 neighbours and the floats next to it (both signs,
 * up to the overflow step), specials, and 2048 seeded random floats.
 *
 * <p>fp8 must match bit for bit. bf16 and fp16 must match bit for bit except for NaN results,
 * where CUDA's host path always answers {@code 0x7FFF} and the Java converters keep the sign and
 * the top payload bits (both NaN; see {@link Bf16}).
 */
class CudaHostGoldenTest {

    private record Decode(boolean e4m3, int fp8, int half) {}

    private record Encode(int floatBits, int bf16, int fp16, int e4m3Sat, int e4m3NoSat, int e5m2Sat, int e5m2NoSat) {}

    private static final List<Decode> DECODES = new ArrayList<>();
    private static final List<Encode> ENCODES = new ArrayList<>();

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = CudaHostGoldenTest.class.getResourceAsStream("cuda-host-golden.txt")) {
            assertNotNull(in, "cuda-host-golden.txt is missing from the test resources");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split(" ");
                switch (f[0]) {
                    case "#" -> { }
                    case "D" -> DECODES.add(new Decode(f[1].equals("e4m3"), hex(f[2]), hex(f[3])));
                    case "E" -> ENCODES.add(new Encode(hex(f[1]), hex(f[2]), hex(f[3]), hex(f[4]), hex(f[5]), hex(f[6]), hex(f[7])));
                    default -> throw new IllegalStateException("unexpected line: " + line);
                }
            }
        }
    }

    private static int hex(String s) {
        return Integer.parseUnsignedInt(s, 16);
    }

    @Test
    void theFileIsComplete() {
        assertEquals(512, DECODES.size(), "256 patterns per fp8 format");
        // 2 formats x ~125 pairs x 8 inputs, ~60 specials, 2048 random (deduplicated)
        assertTrue(ENCODES.size() > 3500, "only " + ENCODES.size() + " encode lines");
    }

    @Test
    void fp8WideningMatchesNvCvtFp8ToHalfraw() {
        Mismatches m = new Mismatches("fp8 -> float vs __nv_cvt_fp8_to_halfraw");
        for (Decode d : DECODES) {
            float cuda = Float.float16ToFloat((short) d.half());
            float java = d.e4m3() ? Fp8.e4m3ToFloat((byte) d.fp8()) : Fp8.e5m2ToFloat((byte) d.fp8());
            String name = (d.e4m3() ? "e4m3 " : "e5m2 ") + String.format("0x%02x", d.fp8());
            if (Float.isNaN(cuda)) {
                // CUDA: "fp16 canonical NaN, discard sign"
                m.check(Float.isNaN(java) && Float.floatToRawIntBits(java) >= 0,
                        () -> name + " widened to " + Integer.toHexString(Float.floatToRawIntBits(java)) + ", CUDA gives +NaN");
            } else {
                m.check(Float.floatToRawIntBits(java) == Float.floatToRawIntBits(cuda),
                        () -> name + " widened to " + java + ", CUDA gives " + cuda);
            }
        }
        m.assertNone();
    }

    @Test
    void fp8NarrowingMatchesNvCvtFloatToFp8() {
        Mismatches m = new Mismatches("float -> fp8 vs __nv_cvt_float_to_fp8");
        for (Encode e : ENCODES) {
            float x = Float.intBitsToFloat(e.floatBits());
            check(m, x, "e4m3 satfinite", Fp8.floatToE4m3(x, Fp8Overflow.SATURATE), e.e4m3Sat());
            check(m, x, "e4m3 nosat", Fp8.floatToE4m3(x, Fp8Overflow.NO_SATURATE), e.e4m3NoSat());
            check(m, x, "e5m2 satfinite", Fp8.floatToE5m2(x, Fp8Overflow.SATURATE), e.e5m2Sat());
            check(m, x, "e5m2 nosat", Fp8.floatToE5m2(x, Fp8Overflow.NO_SATURATE), e.e5m2NoSat());
        }
        m.assertNone();
    }

    private static void check(Mismatches m, float x, String what, byte java, int cuda) {
        m.check((java & 0xFF) == cuda, () -> what + ": " + LowPrecisionOracle.describeInput(x) + " -> "
                + String.format("0x%02x, CUDA gives 0x%02x", java & 0xFF, cuda));
    }

    @Test
    void bf16AndFp16NarrowingMatchCudaRn() {
        Mismatches m = new Mismatches("float -> bf16/fp16 vs __float2bfloat16_rn / __float2half_rn");
        LowPrecisionOracle bf16 = LowPrecisionOracle.of(LowPrecisionOracle.BF16);
        LowPrecisionOracle fp16 = LowPrecisionOracle.of(LowPrecisionOracle.FP16);
        for (Encode e : ENCODES) {
            float x = Float.intBitsToFloat(e.floatBits());
            int jb = Bf16.fromFloat(x) & 0xFFFF;
            int jh = Fp16.fromFloat(x) & 0xFFFF;
            if (bf16.isNaN(e.bf16())) {
                m.check(bf16.isNaN(jb), () -> "bf16 " + LowPrecisionOracle.describeInput(x) + " -> " + bf16.describe(jb) + ", CUDA gives NaN");
            } else {
                m.check(jb == e.bf16(), () -> "bf16 " + LowPrecisionOracle.describeInput(x) + " -> " + bf16.describe(jb) + ", CUDA gives "
                        + bf16.describe(e.bf16()));
            }
            if (fp16.isNaN(e.fp16())) {
                m.check(fp16.isNaN(jh), () -> "fp16 " + LowPrecisionOracle.describeInput(x) + " -> " + fp16.describe(jh) + ", CUDA gives NaN");
            } else {
                m.check(jh == e.fp16(), () -> "fp16 " + LowPrecisionOracle.describeInput(x) + " -> " + fp16.describe(jh) + ", CUDA gives "
                        + fp16.describe(e.fp16()));
            }
        }
        m.assertNone();
    }

    /** The golden file also checks the oracle: it must agree with CUDA on every fp8 input. */
    @Test
    void theOracleAgreesWithCuda() {
        Mismatches m = new Mismatches("oracle vs CUDA host path");
        LowPrecisionOracle e4m3 = LowPrecisionOracle.of(LowPrecisionOracle.E4M3FN);
        LowPrecisionOracle e5m2 = LowPrecisionOracle.of(LowPrecisionOracle.E5M2);
        for (Encode e : ENCODES) {
            float x = Float.intBitsToFloat(e.floatBits());
            m.check(e4m3.round(x, LowPrecisionOracle.Overflow.SATURATE) == e.e4m3Sat(), () -> "e4m3 sat " + x);
            m.check(e4m3.round(x, LowPrecisionOracle.Overflow.NO_SATURATE) == e.e4m3NoSat(), () -> "e4m3 nosat " + x);
            m.check(e5m2.round(x, LowPrecisionOracle.Overflow.SATURATE) == e.e5m2Sat(), () -> "e5m2 sat " + x);
            m.check(e5m2.round(x, LowPrecisionOracle.Overflow.NO_SATURATE) == e.e5m2NoSat(), () -> "e5m2 nosat " + x);
        }
        m.assertNone();
    }
}
