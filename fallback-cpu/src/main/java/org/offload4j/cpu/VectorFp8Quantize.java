package org.offload4j.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.offload4j.attention.Fp8QuantizeKernel;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

/**
 * bf16 → FP8 E4M3 quantization ({@link Fp8QuantizeKernel}) with vectors, bit for bit
 * {@link Fp8Quantizer#SCALAR}.
 *
 * <h2>Layout</h2>
 * One {@link IntVector} load takes 2V bf16 values of a row (V = floats per vector): element
 * {@code 2j} is the low half of int {@code j} and element {@code 2j + 1} its high half
 * (little-endian). {@code int << 16} is element 2j as a float and {@code int & 0xFFFF0000}
 * element 2j + 1, two lane-wise operations instead of a cross-lane widening (as the Hadamard
 * kernel's "paired" layout). The two codes of int {@code j} are packed into one 16-bit lane,
 * {@code code(2j) | code(2j + 1) << 8}, which is exactly the two output bytes in order: an
 * {@code I2S} narrowing and one store of 2V bytes. A row's odd last element and rows shorter
 * than 2V go through the scalar code.
 *
 * <h2>amax</h2>
 * With the sign cleared, the order of float bit patterns is the order of magnitudes, and every
 * NaN lies above +∞ (0x7F800000). So the running maximum is an integer max of
 * {@code bits & 0x7FFFFFFF}, and a non-finite input shows up as a result ≥ +∞, as the interface
 * asks.
 *
 * <h2>Rounding to E4M3 (1 sign, 4 exponent bits with bias 7, 3 mantissa bits, max ±448, no ∞)</h2>
 * For {@code f = x / scale} with magnitude bits {@code a}:
 * <ul>
 *   <li>{@code |f| ≥ 2^-6} (E4M3 normal): {@code ((a + 0x7FFFF + ((a >>> 20) & 1)) >>> 20) − 960}
 *       rounds the 23-bit mantissa to 3 bits, nearest-even (the bias 0x7FFFF plus the kept
 *       lsb; a carry bumps the exponent), and 960 = (127 − 7) · 8 re-biases the exponent.
 *       Everything above 448 then saturates: {@code min(code, 0x7E)} (464, the tie between 448
 *       and the nonexistent 480, rounds to even, 448, by the same formula).</li>
 *   <li>{@code |f| < 2^-6} (E4M3 subnormal, steps of 2^-9): {@code |f| · 512} is exact, and
 *       adding 2^23 rounds it to an integer, nearest-even, in the float's low mantissa bits:
 *       {@code bits(|f| · 512 + 2^23) − 0x4B000000}, 0 to 8 (8 is the smallest normal, 0x08, as
 *       it should be).</li>
 *   <li>NaN: the canonical NaN, 0x7F, without sign, as {@link Fp8#floatToE4m3}.</li>
 * </ul>
 * The sign is or-ed in last ({@code −0} gives 0x80).
 */
final class VectorFp8Quantize implements Fp8QuantizeKernel {
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));
    private static final int V = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Rows a parallel task takes at least (about 16 K elements at D = 128). */
    private static final long ROWS_PER_TASK = 128;

    @Override
    public float amax(Tensor x, long fromRow, long toRow) {
        // Sign-cleared bit patterns are ordered as the magnitudes (NaN above +∞): chunks merge by an int max.
        AtomicInteger max = new AtomicInteger();
        CpuThreads.onTensors(() -> CpuThreads.forRange(toRow - fromRow, ROWS_PER_TASK,
                (a, b) -> max.accumulateAndGet(amaxBits(x, fromRow + a, fromRow + b), Math::max)), x);
        return Float.intBitsToFloat(max.get());
    }

    /** The largest sign-cleared bit pattern in rows [fromRow, toRow), 0 for none. */
    private static int amaxBits(Tensor x, long fromRow, long toRow) {
        MemorySegment seg = x.segment();
        long cols = x.cols();
        long pairs = cols / 2;
        long vecPairs = pairs - pairs % V;
        IntVector acc = IntVector.zero(I);
        int tail = 0;
        for (long r = fromRow; r < toRow; r++) {
            long off = x.rowByteOffset(r);
            for (long p = 0; p < vecPairs; p += V) {
                IntVector w = IntVector.fromMemorySegment(I, seg, off + 4 * p, LE);
                IntVector even = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.AND, 0x7FFFFFFF);
                IntVector odd = w.lanewise(VectorOperators.AND, 0x7FFF0000);
                acc = acc.max(even).max(odd);
            }
            for (long c = 2 * vecPairs; c < cols; c++) {
                tail = Math.max(tail, (seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2 * c) << 16) & 0x7FFFFFFF);
            }
        }
        return Math.max(acc.reduceLanes(VectorOperators.MAX), tail);
    }

    @Override
    public void encode(Tensor x, long fromRow, long toRow, float scale, Tensor out) {
        CpuThreads.onTensors(() -> CpuThreads.forRange(toRow - fromRow, ROWS_PER_TASK,
                (a, b) -> encodeRows(x, fromRow + a, fromRow + b, scale, out)), x, out);
    }

    private static void encodeRows(Tensor x, long fromRow, long toRow, float scale, Tensor out) {
        MemorySegment in = x.segment();
        MemorySegment o = out.segment();
        long cols = x.cols();
        long pairs = cols / 2;
        long vecPairs = pairs - pairs % V;
        for (long r = fromRow; r < toRow; r++) {
            long inOff = x.rowByteOffset(r);
            long outOff = out.rowByteOffset(r);
            for (long p = 0; p < vecPairs; p += V) {
                IntVector w = IntVector.fromMemorySegment(I, in, inOff + 4 * p, LE);
                IntVector even = e4m3(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().div(scale));
                IntVector odd = e4m3(w.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats().div(scale));
                IntVector packed = even.or(odd.lanewise(VectorOperators.LSHL, 8));
                ((ShortVector) packed.convertShape(VectorOperators.I2S, S, 0)).intoMemorySegment(o, outOff + 2 * p, LE);
            }
            for (long c = 2 * vecPairs; c < cols; c++) {
                float v = Bf16.toFloat(in.get(ValueLayout.JAVA_SHORT_UNALIGNED, inOff + 2 * c));
                o.set(ValueLayout.JAVA_BYTE, outOff + c, Fp8.floatToE4m3(v / scale, Fp8Overflow.SATURATE));
            }
        }
    }

    /** The E4M3 code of each lane (0–255 in the low byte), as the class description derives it. */
    private static IntVector e4m3(FloatVector f) {
        IntVector bits = f.reinterpretAsInts();
        IntVector sign = bits.lanewise(VectorOperators.LSHR, 24).lanewise(VectorOperators.AND, 0x80);
        IntVector abs = bits.lanewise(VectorOperators.AND, 0x7FFFFFFF);
        IntVector lsb = abs.lanewise(VectorOperators.LSHR, 20).lanewise(VectorOperators.AND, 1);
        IntVector normal = abs.add(0x7FFFF).add(lsb).lanewise(VectorOperators.LSHR, 20).sub(960).min(0x7E);
        IntVector sub = f.abs().mul(512f).add(8388608f).reinterpretAsInts().sub(0x4B000000);
        VectorMask<Integer> isSub = abs.compare(VectorOperators.LT, 0x3C800000);
        IntVector code = normal.blend(sub, isSub).or(sign);
        VectorMask<Integer> isNaN = abs.compare(VectorOperators.GT, 0x7F800000);
        return code.blend(Fp8.CANONICAL_NAN, isNaN);
    }
}
