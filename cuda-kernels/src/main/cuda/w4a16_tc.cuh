// offload4j — W4A16 tensor-core kernel (w4a16_tc.cu): the packed layout, the fragment index math
// and the int4 -> fp16/bf16 bit tricks, as __host__ __device__ functions so that the host test
// (src/test/cuda/w4a16_tc_host_test.cu) runs the very code the kernel runs. The Java prepack
// (org.offload4j.cuda.w4a16.TcPackedLayout) implements the same layout; the host test and the Java
// unit tests pin both to the table below.
//
// Nothing here uses a device-only intrinsic: the kernel wraps tc_dequant_pair_bits in lop3 PTX and
// does the half arithmetic with __hsub2/__hmul2; the host test does the same arithmetic in float
// (exact for one fp16/bf16 add or multiply, then rounded once: identical results).
//
// Vocabulary (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"):
//   lane            0..31 in the warp
//   groupID  g    = lane >> 2          (0..7)
//   threadID t    = lane & 3           (0..3)
//   A (16x16, row-major, rows = activations m, cols = k): four .f16x2/.bf16x2 registers
//       a_reg0 = A[g   ][2t, 2t+1]      a_reg1 = A[g+8][2t, 2t+1]
//       a_reg2 = A[g   ][2t+8, 2t+9]    a_reg3 = A[g+8][2t+8, 2t+9]
//   B (16x8, "col": k x n): two registers
//       b_reg0 = B[2t, 2t+1][g]         b_reg1 = B[2t+8, 2t+9][g]       (lower k in the low half)
//   C/D (16x8 fp32): c0,c1 = C[g][2t, 2t+1]; c2,c3 = C[g+8][2t, 2t+1]
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define TC_HD __host__ __device__ __forceinline__
#else
#define TC_HD inline
#endif

// ---- geometry --------------------------------------------------------------------------------
// A "warp tile" of the packed weight is 16 rows of k by 64 columns of n: 1024 nibbles = 512 bytes
// = 32 lanes x 16 bytes. A thread's 16 bytes (four 32-bit words) are exactly the B fragments of the
// eight n8 sub-tiles s = 0..7 (columns 8s..8s+7 of the warp tile) for one k16 step.
#define TC_WARP_N 64          // columns per warp tile (one "slab")
#define TC_K16 16             // rows of k per mma step
#define TC_K_ALIGN 128        // the packed k is padded to a multiple of this (the largest tile k)
#define TC_THREADS 256        // 8 warps per block
#define TC_WARPS 8

// Scale storage kinds (runtime kernel argument scale_kind); the packed scales keep the
// QuantizedWeight's scale dtype bit for bit.
#define TC_SCALE_F16 0
#define TC_SCALE_BF16 1
#define TC_SCALE_F32 2

TC_HD int tc_scale_bytes(int scale_kind) { return scale_kind == TC_SCALE_F32 ? 4 : 2; }

// ---- packed weight: nibble position of element (r, c) of a warp tile ---------------------------
// r = kk % 16 (row within the k16 step), c = column within the 64-column slab.
//
//   s    = c >> 3            sub-tile (n8) 0..7          g = c & 7   -> lane = 4g + t
//   t    = (r & 7) >> 1      threadID of the B fragment
//   reg  = r >> 3            b_reg0 (rows 0..7) or b_reg1 (rows 8..15)
//   half = r & 1             low (even k) or high (odd k) 16 bits of the register
//   word = s >> 1            two sub-tiles per 32-bit word
//   pair = 2 (s & 1) + reg   which of the word's four register pairs
//   nibble = pair + 4 half   so that (word >> 4 pair) & 0x000F000F holds the register's two values
TC_HD int tc_pack_lane(int r, int c) { return 4 * (c & 7) + ((r & 7) >> 1); }
TC_HD int tc_pack_word(int r, int c) { (void)r; return (c >> 3) >> 1; }
TC_HD int tc_pack_nibble(int r, int c) { return 2 * ((c >> 3) & 1) + (r >> 3) + 4 * (r & 1); }

// Inverse: the (row, column) of the warp tile held by (lane, word, nibble).
TC_HD int tc_unpack_row(int lane, int word, int nibble) {
    (void)word;
    int pair = nibble & 3, half = nibble >> 2;
    return 8 * (pair & 1) + 2 * (lane & 3) + half;
}
TC_HD int tc_unpack_col(int lane, int word, int nibble) {
    int pair = nibble & 3;
    int s = 2 * word + (pair >> 1);
    return 8 * s + (lane >> 2);
}

// Word index (uint32 units) of the packed weight: [slab][kt][lane][word], kt = kk / 16,
// kTiles = kPad / 16. A warp's load of one (slab, kt) is 512 contiguous bytes; a slab's whole
// column stripe is one contiguous run along k.
TC_HD int64_t tc_qw_word_index(int slab, int kt, int lane, int word, int kTiles) {
    return (((int64_t)slab * kTiles + kt) * 32 + lane) * 4 + word;
}

// Packed scales: [group][slab][g][s] (element units), the column of (g, s) is 64 slab + 8 s + g, so
// that lane group g reads its eight scales as one 16-byte (fp16/bf16) or 32-byte (fp32) vector.
TC_HD int64_t tc_scale_index(int group, int slab, int c, int slabs) {
    return ((int64_t)group * slabs + slab) * TC_WARP_N + (c & 7) * 8 + (c >> 3);
}
// Packed zeros: [group][slab][g] (uint32 units), nibble s of word g holds the zero of column
// 64 slab + 8 s + g.
TC_HD int64_t tc_zero_word_index(int group, int slab, int c, int slabs) {
    return ((int64_t)group * slabs + slab) * 8 + (c & 7);
}
TC_HD int tc_zero_nibble(int c) { return c >> 3; }

// ---- A fragments through ldmatrix.x4 -----------------------------------------------------------
// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane L gives the address of row (L & 15), column block
// 8 (L >> 4) of the 16x16 A tile; matrix i (lanes 8i..8i+7) lands in register i, thread T holding
// row T >> 2, columns 2 (T & 3), +1 of matrix i. That reproduces a_reg0..a_reg3 above.
TC_HD int tc_ldsm_row(int lane) { return lane & 15; }
TC_HD int tc_ldsm_col(int lane) { return 8 * (lane >> 4); }
// Element (row, col) of the 16x16 tile received in register reg, half h (0 low, 1 high) by lane.
TC_HD int tc_a_row(int lane, int reg, int h) { (void)h; return (lane >> 2) + 8 * (reg & 1); }
TC_HD int tc_a_col(int lane, int reg, int h) { return 2 * (lane & 3) + h + 8 * (reg >> 1); }
TC_HD int tc_b_row(int lane, int reg, int h) { return 2 * (lane & 3) + h + 8 * reg; }
TC_HD int tc_b_col(int lane) { return lane >> 2; }
TC_HD int tc_c_row(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
TC_HD int tc_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }

// ---- int4 -> fp16/bf16 without conversion instructions -----------------------------------------
// fp16 1024.0 = 0x6400: its 10-bit mantissa has ulp 1, so 0x6400 | q == 1024 + q exactly (q < 16).
// bf16  128.0 = 0x4300: its  7-bit mantissa has ulp 1, so 0x4300 | q ==  128 + q exactly.
// Subtracting (magic + z), itself built the same way, leaves q - z exactly (|q - z| <= 15).
TC_HD uint32_t tc_magic(bool bf16) { return bf16 ? 0x43004300u : 0x64006400u; }

// The two values of register pair `pair` (0..3) of a packed word, as (magic + q) in the low and
// high 16 bits: ((word >> 4 pair) & 0x000F000F) | magic. On the device this is one shift and one
// LOP3 (0xEA = (a & b) | c).
TC_HD uint32_t tc_dequant_pair_bits(uint32_t word, int pair, bool bf16) {
    return ((word >> (4 * pair)) & 0x000F000Fu) | tc_magic(bf16);
}
// (magic + z) in both halves, z in [0, 15].
TC_HD uint32_t tc_zero_bits(uint32_t z, bool bf16) { return (z | (z << 16)) | tc_magic(bf16); }

// ---- the scale and zero registers, rebuilt when a warp's k16 step enters a new group ------------
// PRMT (__byte_perm): byte i of the result is byte sel[4i+2 : 4i] of the 8 bytes {x0..x3, y0..y3}.
TC_HD uint32_t tc_byte_perm(uint32_t x, uint32_t y, uint32_t sel) {
#if defined(__CUDA_ARCH__)
    return __byte_perm(x, y, sel);
#else
    uint64_t v = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= (uint32_t)((v >> (8 * ((sel >> (4 * i)) & 7))) & 0xFF) << (8 * i);
    return r;
#endif
}
// The zeros of a lane group's eight sub-tiles are the nibbles of one word (nibble s: sub-tile s).
// Split once into the even and the odd nibbles, one per byte (two LOP3, one SHF), each sub-tile's
// (magic + z) in both halves is then one PRMT: bytes [z, magic high byte, z, magic high byte]
// (the magic's low bytes are 0). Equal to tc_zero_bits((word >> 4 s) & 0xF, bf16).
TC_HD uint32_t tc_zero_even_bytes(uint32_t word) { return word & 0x0F0F0F0Fu; }
TC_HD uint32_t tc_zero_odd_bytes(uint32_t word) { return (word >> 4) & 0x0F0F0F0Fu; }
TC_HD uint32_t tc_zero_bits_of(uint32_t even, uint32_t odd, int s, bool bf16) {
    const uint32_t j = (uint32_t)(s >> 1);
    return tc_byte_perm((s & 1) ? odd : even, tc_magic(bf16), j | (5u << 4) | (j << 8) | (7u << 12));
}
// A 16-bit scale already in X's dtype (half h of a word of the packed scales) in both halves.
TC_HD uint32_t tc_dup_half(uint32_t word, int h) { return tc_byte_perm(word, 0u, h ? 0x3232u : 0x1010u); }

// ---- scale bits -> float (per group and column, not per element) -------------------------------
TC_HD float tc_bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    union { uint32_t u; float f; } v; v.u = bits; return v.f;
#endif
}
// bf16 is the top half of fp32.
TC_HD float tc_bf16_bits_to_float(uint16_t b) { return tc_bits_to_float((uint32_t)b << 16); }
// fp16 -> fp32 exactly, by integer ops (used on the host; the device uses cvt once per group).
TC_HD float tc_f16_bits_to_float_host(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0x1F) return tc_bits_to_float(sign | 0x7F800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return tc_bits_to_float(sign);
        // subnormal: man * 2^-24
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return tc_bits_to_float(sign | ((uint32_t)(exp - 15 + 127) << 23) | (man << 13));
}

// ---- split-k / tiling arithmetic shared with the Java planner ----------------------------------
// Tile of a kernel configuration (nw_n = warps along n: 1, 2 or 4): tile n = 64 nw_n, tile k =
// 16 (8 / nw_n); each stage holds 8 warp tiles = 4096 bytes of packed weight.
TC_HD int tc_tile_n(int nw_n) { return TC_WARP_N * nw_n; }
TC_HD int tc_tile_k(int nw_n) { return TC_K16 * (TC_WARPS / nw_n); }
// Groups of scales a stage of k0 .. k0 + tile_k touches (g = 32/64/128 align with the tile; a
// single group, G = 1, covers any k).
TC_HD int tc_groups_per_stage(int tile_k, int group_size, int groups) {
    return (groups > 1 && group_size < tile_k) ? tile_k / group_size : 1;
}
// The group of row kk: kk / g, clamped to the last group (rows of the k padding use the last
// group's scale; their activations are zero-filled, so they add nothing).
TC_HD int tc_group_of(int kk, int group_size, int groups) {
    int gi = kk / group_size;
    return gi < groups ? gi : groups - 1;
}
// The same group by a shift, as the kernel's main loop computes it (no integer division there):
// with G > 1 the group size is 32, 64 or 128 (TcSplitKPlanner accepts nothing else), a power of two;
// with G = 1 (g = k, any multiple of 8) every row is in group 0 and the shift is not used.
TC_HD int tc_group_shift(int group_size) {
    int s = 0;
    while (s < 30 && (1 << s) < group_size) ++s;
    return s;
}
TC_HD int tc_group_of_shifted(int kk, int shift, int groups) {
    if (groups == 1) return 0;
    int gi = kk >> shift;
    return gi < groups ? gi : groups - 1;
}

// ---- one thread's share of a stage's copies (fixed for the whole launch) ----------------------
// The main loop must not spend instructions on index arithmetic: a stage holds only 16 bytes of
// weight per thread, and at full bandwidth an SM has about 140 issue slots per warp per stage
// (H100: 3.35 TB/s / 132 SMs = 14.5 B/cycle, 4 KiB a stage = 283 cycles x 4 schedulers / 8 warps).
// So each thread's role in the copies is computed once, before the loop; a stage only adds its k.
//
// Activations: 16·m_tiles rows x tile_k/8 16-byte vectors. Thread tid copies the vectors tid + 256 i
// (i = 0, 1, …), which are row tc_a_copy_row(tid) + i · tc_a_copy_row_step, column vector
// tc_a_copy_col8(tid): tile_k/8 ∈ {4, 8, 16} divides 256.
TC_HD int tc_a_copy_row(int tid, int tile_k) { return tid / (tile_k / 8); }
TC_HD int tc_a_copy_col8(int tid, int tile_k) { return tid % (tile_k / 8); }
TC_HD constexpr int tc_a_copy_row_step(int tile_k) { return TC_THREADS / (tile_k / 8); }
// Scales: gps groups x nw_n slabs x 4·esz vectors (64 scales per group and slab). gps · nw_n ≤ 4
// (gps ≤ tile_k / 32 = 4 / nw_n), so there are at most 4 · 16 = 64 vectors: thread tid < count
// copies vector tid, the others none.
TC_HD int tc_scale_copy_count(int gps, int nw_n, int esz) { return gps * nw_n * 4 * esz; }
TC_HD int tc_scale_copy_group(int tid, int nw_n, int esz) { return tid / (nw_n * 4 * esz); }
TC_HD int tc_scale_copy_slab(int tid, int nw_n, int esz) { return (tid / (4 * esz)) % nw_n; }
TC_HD int tc_scale_copy_part(int tid, int esz) { return tid % (4 * esz); }
// The same copies as a base fixed for the launch plus strides, as fetch_to_shared adds them (the
// host replay checks each against the direct indices tc_qw_word_index, tc_scale_index, ...):
//   weight vector (uint4 units) of stage t:  tc_qw_copy_base(…) + t · tc_qw_copy_step(nw_n)
//   X element of copy i of stage t:         tc_x_copy_base(…) + i · tc_x_copy_row_step(…) + t · tile_k
//   scales (bytes) / zeros (words) of group gi: base of group 0 + gi · tc_scale_group_bytes / tc_zero_group_words
TC_HD int64_t tc_qw_copy_base(int slab, int k_begin, int wk, int lane, int kTiles) {
    return ((int64_t)slab * kTiles + k_begin / TC_K16 + wk) * 32 + lane;
}
TC_HD constexpr int tc_qw_copy_step(int nw_n) { return (TC_WARPS / nw_n) * 32; }
TC_HD int64_t tc_x_copy_base(int row0, int tid, int tile_k, int k_begin, int ldx) {
    return (int64_t)(row0 + tc_a_copy_row(tid, tile_k)) * ldx + k_begin + 8 * tc_a_copy_col8(tid, tile_k);
}
TC_HD int64_t tc_x_copy_row_step(int tile_k, int ldx) { return (int64_t)tc_a_copy_row_step(tile_k) * ldx; }
TC_HD int64_t tc_scale_group_bytes(int slabs, int esz) { return (int64_t)slabs * TC_WARP_N * esz; }
TC_HD int64_t tc_zero_group_words(int slabs) { return (int64_t)slabs * 8; }
// Zeros: gps groups x nw_n slabs x 2 vectors (8 words); at most 8 vectors, thread tid < count.
TC_HD int tc_zero_copy_count(int gps, int nw_n) { return gps * nw_n * 2; }
TC_HD int tc_zero_copy_group(int tid, int nw_n) { return tid / (nw_n * 2); }
TC_HD int tc_zero_copy_slab(int tid, int nw_n) { return (tid / 2) % nw_n; }
TC_HD int tc_zero_copy_part(int tid) { return tid % 2; }

// Shared memory of one pipeline stage, in bytes: packed weight 4096 + activations
// (16 m_tiles rows, tile_k + 8 halves pitch: +16 bytes per row keeps ldmatrix conflict-free)
// + scales 1024 (max over configs: 4 groups x 64 x 4 bytes) + zeros 128.
TC_HD int tc_a_pitch_bytes(int tile_k) { return 2 * tile_k + 16; }
TC_HD int tc_stage_bytes(int m_tiles, int nw_n) {
    return 4096 + 16 * m_tiles * tc_a_pitch_bytes(tc_tile_k(nw_n)) + 1024 + 128;
}
// The in-block reduction buffer: 8 / nw_n k-warps x 16 rows x tile n fp32 = 32 KiB for every config.
TC_HD int tc_reduce_bytes() { return TC_WARPS * 16 * TC_WARP_N * 4; }
TC_HD int tc_smem_bytes(int m_tiles, int nw_n, int stages) {
    int pipe = stages * tc_stage_bytes(m_tiles, nw_n);
    int red = tc_reduce_bytes();
    return pipe > red ? pipe : red;
}
