package org.offload4j.cuda.w4a16;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * The packed weight of the tensor-core W4A16 kernel ({@code cuda-kernels/src/main/cuda/w4a16_tc.cu},
 * section 1 of its header), built once from a {@link QuantizedWeight} in host memory, plus an
 * unpacker that reads the packed form back.
 *
 * <h2>Layout</h2>
 * With {@code kPad = ⌈k / 128⌉·128}, {@code slabs = ⌈n / 64⌉}, {@code kTiles = kPad / 16} and
 * {@code G = k / g}:
 * <pre>
 * qweight  int32 [slabs][kTiles][32 lanes][4 words]   one 16-byte vector per (slab, k16 step, lane)
 * scales   fp16|bf16|fp32 [G][slabs][8][8]            [group][slab][c % 8][(c % 64) / 8]
 * zeros    int32 [G][slabs][8]                        word c % 8, nibble (c % 64) / 8; absent when symmetric
 * </pre>
 * Element (row {@code kk}, column {@code j}) of W, with {@code r = kk % 16}, {@code c = j % 64}, sits in
 * slab {@code j / 64}, k16 step {@code kk / 16}, lane {@code 4 (c % 8) + (r % 8) / 2}, word
 * {@code c / 16}, nibble {@code 2 ((c / 8) % 2) + r / 8 + 4 (r % 2)}: the word's register pair
 * {@code p} ({@code (word >>> 4p) & 0x000F000F}) is one B register of {@code mma.m16n8k16} for
 * sub-tile {@code c / 8} (PTX fragment table: column {@code groupID}, rows {@code 2·threadID_in_group
 * (+1, +8, +9)}). {@link #lane}, {@link #word} and {@link #nibble} are the Java twins of
 * {@code tc_pack_lane/word/nibble} in {@code w4a16_tc.cuh}; the tests pin both to the same positions.
 *
 * <p>Scales keep the weight's scale dtype bit for bit (the kernel converts each once per group and
 * column); {@link #scaleKind()} tells which: {@link #SCALE_F16}, {@link #SCALE_BF16} or
 * {@link #SCALE_F32}. Zeros are the v2 {@code z} itself (as {@link QuantizedWeight} stores it).
 *
 * <h2>Padding</h2>
 * Rows {@code k .. kPad−1} and columns {@code n .. 64·slabs−1} hold {@code q = 0}; padded columns
 * have scale 0 and zero 0, so their dequantized weight is 0. The kernel zero-fills the activations
 * of padded rows (which take the last group's scale) and never stores padded columns. {@code n}
 * need not be a multiple of 64 and {@code k} need not be a multiple of 128.
 *
 * <p>All segments are little-endian, allocated in the caller's arena; the object is immutable
 * after {@link #pack} and does not refer to the {@link QuantizedWeight}.
 */
public final class TcPackedLayout {
    /** Columns per slab (one warp tile). */
    public static final int WARP_N = 64;
    /** Rows of k per mma step. */
    public static final int K16 = 16;
    /** The packed k is padded to a multiple of this (the largest tile k). */
    public static final int K_ALIGN = 128;
    /** Scale kinds, the kernel's {@code scale_kind} argument. */
    public static final int SCALE_F16 = 0;
    public static final int SCALE_BF16 = 1;
    public static final int SCALE_F32 = 2;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int k;
    private final int n;
    private final int groupSize;
    private final int groups;
    private final int kPad;
    private final int slabs;
    private final int scaleKind;
    private final MemorySegment qweight;
    private final MemorySegment scales;
    private final MemorySegment zeros;

    private TcPackedLayout(int k, int n, int groupSize, int scaleKind, MemorySegment qweight, MemorySegment scales,
                           MemorySegment zeros) {
        this.k = k;
        this.n = n;
        this.groupSize = groupSize;
        this.groups = k / groupSize;
        this.kPad = paddedK(k);
        this.slabs = slabs(n);
        this.scaleKind = scaleKind;
        this.qweight = qweight;
        this.scales = scales;
        this.zeros = zeros;
    }

    /** {@code k} rounded up to {@link #K_ALIGN}. */
    public static int paddedK(int k) {
        return Math.ceilDiv(k, K_ALIGN) * K_ALIGN;
    }

    /** Number of 64-column slabs: {@code ⌈n / 64⌉}. */
    public static int slabs(int n) {
        return Math.ceilDiv(n, WARP_N);
    }

    /** Lane (0..31) holding row {@code r} (0..15) and column {@code c} (0..63) of a warp tile. */
    public static int lane(int r, int c) {
        return 4 * (c & 7) + ((r & 7) >> 1);
    }

    /** Word (0..3) of the lane's 16-byte vector. */
    public static int word(int r, int c) {
        return c >> 4;
    }

    /** Nibble (0..7, from bit 0) of that word. */
    public static int nibble(int r, int c) {
        return 2 * ((c >> 3) & 1) + (r >> 3) + 4 * (r & 1);
    }

    /** Row of the warp tile held by (lane, word, nibble): the inverse of the three functions above. */
    public static int unpackRow(int lane, int word, int nibble) {
        int pair = nibble & 3;
        int half = nibble >> 2;
        return 8 * (pair & 1) + 2 * (lane & 3) + half;
    }

    /** Column of the warp tile held by (lane, word, nibble). */
    public static int unpackCol(int lane, int word, int nibble) {
        int pair = nibble & 3;
        return 8 * (2 * word + (pair >> 1)) + (lane >> 2);
    }

    /** Index, in int32 words, of (slab, k16 step, lane, word) in the packed weight. */
    public static long qweightWordIndex(int slab, int kt, int lane, int word, int kTiles) {
        return (((long) slab * kTiles + kt) * 32 + lane) * 4 + word;
    }

    /** Index, in elements, of the scale of (group, column) in the packed scales. */
    public static long scaleIndex(int group, int col, int slabs) {
        int c = col % WARP_N;
        return ((long) group * slabs + col / WARP_N) * WARP_N + (c & 7) * 8 + (c >> 3);
    }

    /** Index, in int32 words, of the zero word holding (group, column); the nibble is {@code (col % 64) / 8}. */
    public static long zeroWordIndex(int group, int col, int slabs) {
        return ((long) group * slabs + col / WARP_N) * 8 + (col & 7);
    }

    /** The kernel's scale kind for a scale dtype. */
    public static int scaleKindOf(DType scaleType) {
        return switch (scaleType) {
            case FP16 -> SCALE_F16;
            case BF16 -> SCALE_BF16;
            case FP32 -> SCALE_F32;
            default -> throw new IllegalArgumentException("scale dtype " + scaleType + " is not accepted; accepted: fp16, bf16, fp32");
        };
    }

    /** Bytes of one scale of a kind: 2, or 4 for {@link #SCALE_F32}. */
    public static int scaleBytes(int scaleKind) {
        return scaleKind == SCALE_F32 ? 4 : 2;
    }

    /**
     * Packs a weight into the kernel's layout.
     *
     * @param w     an open weight (any group size, symmetric or not, any scale dtype)
     * @param arena where the three segments are allocated (16-byte aligned)
     * @throws IllegalArgumentException if {@code w} is null or closed, or the packed weight would
     *                                  exceed what int indexing on the device allows (2^31 words)
     */
    public static TcPackedLayout pack(QuantizedWeight w, Arena arena) {
        Args.require(w != null && w.isAlive(), "w is null or closed; expected an open QuantizedWeight");
        Args.notNull(arena, "arena");
        int k = w.k();
        int n = w.n();
        int g = w.groupSize();
        int groups = w.groups();
        int kPad = paddedK(k);
        int slabs = slabs(n);
        int kTiles = kPad / K16;
        long words = (long) slabs * kTiles * 128;
        Args.require(words <= Integer.MAX_VALUE, "weight [" + k + ", " + n + "] is too large for the packed layout ("
                + words + " words; at most " + Integer.MAX_VALUE + ")");
        int[] packed = new int[(int) words];
        Tensor qw = w.qweight();
        for (int r8 = 0; r8 < k / 8; r8++) {
            for (int j = 0; j < n; j++) {
                int v = qw.getInt(r8, j);
                if (v == 0) {
                    continue;
                }
                int slab = j / WARP_N;
                int c = j % WARP_N;
                for (int i = 0; i < 8; i++) {
                    int kk = 8 * r8 + i;
                    int r = kk % K16;
                    int q = (v >>> (4 * i)) & 0xF;
                    packed[(int) qweightWordIndex(slab, kk / K16, lane(r, c), word(r, c), kTiles)] |= q << (4 * nibble(r, c));
                }
            }
        }
        MemorySegment qseg = arena.allocate(words * 4, 16);
        MemorySegment.copy(packed, 0, qseg, INT, 0, packed.length);

        int kind = scaleKindOf(w.scaleType());
        int esz = scaleBytes(kind);
        long scaleCount = (long) groups * slabs * WARP_N;
        MemorySegment sseg = arena.allocate(scaleCount * esz, 16);   // zero-filled: padded columns have scale 0
        Tensor sc = w.scales();
        for (int gi = 0; gi < groups; gi++) {
            for (int j = 0; j < n; j++) {
                long off = scaleIndex(gi, j, slabs) * esz;
                float s = sc.getFloat(gi, j);
                switch (kind) {
                    case SCALE_F16 -> sseg.set(SHORT, off, Float.floatToFloat16(s));          // exact: s came from fp16
                    case SCALE_BF16 -> sseg.set(SHORT, off, (short) (Float.floatToRawIntBits(s) >>> 16)); // exact
                    default -> sseg.set(FLOAT, off, s);
                }
            }
        }
        MemorySegment zseg = null;
        if (!w.symmetric()) {
            int[] z = new int[(int) ((long) groups * slabs * 8)];
            for (int gi = 0; gi < groups; gi++) {
                for (int j = 0; j < n; j++) {
                    z[(int) zeroWordIndex(gi, j, slabs)] |= w.zero(gi, j) << (4 * ((j % WARP_N) >> 3));
                }
            }
            zseg = arena.allocate((long) z.length * 4, 16);
            MemorySegment.copy(z, 0, zseg, INT, 0, z.length);
        }
        return new TcPackedLayout(k, n, g, kind, qseg, sseg, zseg);
    }

    // ---- the unpacker: reads the packed segments back ---------------------------------------

    /** The quantized value at row {@code row < kPad()}, column {@code col < paddedN()} (0 in the padding). */
    public int q(int row, int col) {
        checkIndex(row, kPad, "row");
        checkIndex(col, paddedN(), "col");
        int r = row % K16;
        int c = col % WARP_N;
        int v = qweight.get(INT, 4 * qweightWordIndex(col / WARP_N, row / K16, lane(r, c), word(r, c), kPad / K16));
        return (v >>> (4 * nibble(r, c))) & 0xF;
    }

    /** The zero point of {@code group} and {@code col < paddedN()}: 8 when symmetric, 0 in padded columns. */
    public int zero(int group, int col) {
        checkIndex(group, groups, "group");
        checkIndex(col, paddedN(), "col");
        if (zeros == null) {
            return col < n ? QuantizedWeight.SYMMETRIC_ZERO : 0;
        }
        int v = zeros.get(INT, 4 * zeroWordIndex(group, col, slabs));
        return (v >>> (4 * ((col % WARP_N) >> 3))) & 0xF;
    }

    /** The scale of {@code group} and {@code col < paddedN()}, widened exactly to float (0 in padded columns). */
    public float scale(int group, int col) {
        checkIndex(group, groups, "group");
        checkIndex(col, paddedN(), "col");
        long off = scaleIndex(group, col, slabs) * scaleBytes(scaleKind);
        return switch (scaleKind) {
            case SCALE_F16 -> Float.float16ToFloat(scales.get(SHORT, off));
            case SCALE_BF16 -> Float.intBitsToFloat((scales.get(SHORT, off) & 0xFFFF) << 16);
            default -> scales.get(FLOAT, off);
        };
    }

    /**
     * Element ({@code row}, {@code col}) of the packed weight, {@code (q − z) · s} rounded once to
     * float; rows past {@code k} use the last group, as the kernel does. For {@code row < k},
     * {@code col < n} this equals {@link QuantizedWeight#dequantize()}'s element bit for bit.
     */
    public float weight(int row, int col) {
        int gi = Math.min(row / groupSize, groups - 1);
        return (q(row, col) - zero(gi, col)) * scale(gi, col);
    }

    /** The packed weight read back as a new FP32 {@code [k, n]} tensor owned by the caller. */
    public Tensor dequantize() {
        Tensor out = Tensor.allocate(DType.FP32, k, n);
        for (int row = 0; row < k; row++) {
            for (int col = 0; col < n; col++) {
                out.setFloat(row, col, weight(row, col));
            }
        }
        return out;
    }

    private static void checkIndex(int i, int bound, String name) {
        if (i < 0 || i >= bound) {
            throw new IndexOutOfBoundsException(name + " = " + i + " outside 0.." + (bound - 1));
        }
    }

    public int k() {
        return k;
    }

    public int n() {
        return n;
    }

    public int groupSize() {
        return groupSize;
    }

    public int groups() {
        return groups;
    }

    /** {@code k} rounded up to 128: the kernel's {@code k_pad}. */
    public int kPad() {
        return kPad;
    }

    public int slabs() {
        return slabs;
    }

    /** {@code 64 · slabs}. */
    public int paddedN() {
        return slabs * WARP_N;
    }

    public int scaleKind() {
        return scaleKind;
    }

    public boolean symmetric() {
        return zeros == null;
    }

    /** The packed weight, {@code slabs · kPad / 16 · 512} bytes. */
    public MemorySegment qweight() {
        return qweight;
    }

    /** The packed scales, {@code groups · slabs · 64 · scaleBytes} bytes. */
    public MemorySegment scales() {
        return scales;
    }

    /** The packed zeros ({@code groups · slabs · 32} bytes), or {@code null} when symmetric. */
    public MemorySegment zeros() {
        return zeros;
    }

    /** Bytes the kernel streams: packed weight, scales and zeros. */
    public long streamedBytes() {
        return qweight.byteSize() + scales.byteSize() + (zeros == null ? 0 : zeros.byteSize());
    }

    @Override
    public String toString() {
        return "TcPackedLayout[" + k + ", " + n + "] g" + groupSize + (symmetric() ? " sym" : " asym") + " kPad=" + kPad
                + " slabs=" + slabs + " scaleKind=" + scaleKind;
    }
}
