// offload4j — HadaCore: the index maps, constant matrices and exact splits of the tensor-core
// Hadamard kernel (hadacore_tc.cu). Everything here is __host__ __device__ and free of device
// intrinsics, so the host test (src/test/cuda/hadacore_tc_host_test.cu) runs the very same
// functions around an emulation of mma.sync and movmatrix built from the PTX ISA tables.
//
// Index grammar used throughout:
//   lane  0..31            the thread's lane in its warp;  g = lane >> 2 (groupID), t = lane & 3
//   j     0..7             which of the lane's 8 tile elements
//   tile  256 elements     one 16×16 operand of the two mma stages, seen as 8 index bits
//   tile bit p  0..7       p0 = j0, p1 = j1, p2 = j2, p3..p7 = lane bits 0..4
//   row bits r0..r3        r0 = lane bit 2, r1 = lane bit 3, r2 = lane bit 4, r3 = j1   (the M index)
//   col bits c0..c3        c0 = j0, c1 = lane bit 0, c2 = lane bit 1, c3 = j2           (the K/N index)
// so that element j of a lane sits at row g + 8·j1, column 2t + j0 + 8·j2 of the 16×16 matrix: the
// A-operand fragment of mma.m16n8k16 (registers a0..a3 = element pairs (0,1) (2,3) (4,5) (6,7)).
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define HCTC_HD __host__ __device__ __forceinline__
#else
#define HCTC_HD inline
#endif

namespace hctc {

// ---- the fragment position of a lane's element j ----------------------------------------------

HCTC_HD int frag_row(int lane, int j) { return (lane >> 2) + 8 * ((j >> 1) & 1); }
HCTC_HD int frag_col(int lane, int j) { return 2 * (lane & 3) + (j & 1) + 8 * (j >> 2); }

// The B fragment (k×n = 16×8) of mma.m16n8k16: half h of register r (0..1) of a lane holds
// B[2t + h + 8r][g], t = lane & 3, g = lane >> 2. The m·2^k stage's U tile and the column
// matrices use it.
HCTC_HD int mseg_b_row(int lane, int reg, int h) { return 2 * (lane & 3) + h + 8 * reg; }
HCTC_HD int mseg_b_col(int lane) { return lane >> 2; }

// Tile bit p of (lane, j), p in 0..7 (see the grammar above).
HCTC_HD int tile_bit(int lane, int j, int p) {
    return p < 3 ? (j >> p) & 1 : (lane >> (p - 3)) & 1;
}

// Which tile bits are row bits, and which row bit each is: row bit i = tile bit ROW_TILE_BIT[i].
// r0..r2 = lane bits 2..4 = tile bits 5..7, r3 = j1 = tile bit 1.
HCTC_HD int row_tile_bit(int i) { return i < 3 ? 5 + i : 1; }
// c0 = j0 = tile bit 0, c1 = lane bit 0 = tile bit 3, c2 = lane bit 1 = tile bit 4, c3 = j2 = tile bit 2.
HCTC_HD int col_tile_bit(int i) { return i == 0 ? 0 : i == 1 ? 3 : i == 2 ? 4 : 2; }

// ---- tile maps: which index bit of the row each tile bit is ------------------------------------
//
// A map gives, for each tile bit p, the row-index bit it stands for (0..14) or, for a group of
// rows narrower than a tile (d < 256), a bit above log2(d) that selects the row. A tile bit is
// *transformed* when its index bit is below the range end of the pass, else it is carried as is.
//
// Pass A (contiguous chunk of 256 elements at offset 256·chunk):
//   offset = j0 + 2·j1 + 4·lane + 128·j2       (lane's elements 0..3 and 4..7 are 4 contiguous
//   elements each: two vector loads per lane, and the warp reads 2 × 128 contiguous elements)
//   tile bits p0..p7 → index bits 0, 1, 7, 2, 3, 4, 5, 6.
HCTC_HD int pass_a_offset(int lane, int j) {
    return (j & 1) + 2 * ((j >> 1) & 1) + 4 * lane + 128 * (j >> 2);
}
HCTC_HD int pass_a_index_bit(int p) {
    return p == 0 ? 0 : p == 1 ? 1 : p == 2 ? 7 : p - 1;
}

// Pass B (index bits 8..k-1 of a row of d = 2^k elements, 12 ≤ k ≤ 15, nu = k − 8 ∈ 4..7):
//   lane bits 0,1 → v0, v1 (index bits 0, 1); lane bits 2,3,4 → u0, u1, u2 (index bits 8, 9, 10);
//   j0, j1, j2 → u3, u4, u5 while they exist (index bits 11, 12, 13), then v2, v3 (index bits 2, 3).
//   A u6 (k = 15) is not in the tile: the warp holds two tiles that differ only in u6 and combines
//   them with one butterfly in registers.
//   The tile's remaining index bits (v bits not listed) number the tiles: 2^(16−k) tiles × (2 when
//   k = 15 holds pairs) … see pass_b_index().
HCTC_HD int pass_b_index_bit(int p, int nu) {
    // p: 0..2 = j0..j2, 3..7 = lane bits 0..4
    if (p == 3) return 0;
    if (p == 4) return 1;
    if (p >= 5) return 8 + (p - 5);           // u0..u2
    int u = 3 + p;                            // j_p → u3, u4, u5 ...
    if (u < nu && u < 6) return 8 + u;
    // past the u bits: v2, v3, ... in order of the unused j bits
    int firstV = (nu < 6 ? nu : 6) - 3;       // how many j bits took u bits
    return 2 + (p - firstV);
}

// Number of v bits (index bits 2..7) that pass B's tile does not cover: they enumerate tiles.
// Tile bits hold v0, v1 and (6 − min(nu, 6)) of v2..; so the free v bits are v(2 + (6 − min(nu,6)))..v7.
HCTC_HD int pass_b_first_free_v(int nu) { return 2 + (6 - (nu < 6 ? nu : 6)); }

// The index within the row of element (lane, j) of pass-B tile number `tile` (and, for k = 15,
// half `pair` of a pair: u6 = pair). Free v bits are filled from `tile` low bit first.
HCTC_HD int pass_b_index(int lane, int j, int tile, int pair, int nu) {
    int index = 0;
    for (int p = 0; p < 8; p++) {
        index |= tile_bit(lane, j, p) << pass_b_index_bit(p, nu);
    }
    int v = pass_b_first_free_v(nu);
    for (int b = v; b < 8; b++) {
        index |= ((tile >> (b - v)) & 1) << b;
    }
    if (nu == 7) {
        index |= pair << 14;
    }
    return index;
}

// ---- shared memory layout of a row (fp32, swizzled) --------------------------------------------
//
// Element i = 256·u + v lives at word 256·u + (((v >> 2) ^ s(u)) << 2) + (v & 3): 16-byte groups
// of 4 consecutive elements are permuted within their 256-element chunk by s(u) = reverse3(u & 7)
// (u bit 0 → group bit 2, bit 1 → bit 1, bit 2 → bit 0). Pass A writes whole groups (conflict-free:
// 8 lanes of a phase write 8 distinct groups of one chunk); pass B reads single words at
// v0, v1 (lane bits 0, 1 → banks 0..3 within a group) and u0..u2 (lane bits 2..4 → s(u) → group
// bits 2..0 → banks 4·(0..7)): 32 distinct banks, conflict-free.
HCTC_HD int swizzle_of_chunk(int u) {
    return ((u & 1) << 2) | (u & 2) | ((u >> 2) & 1);
}
HCTC_HD int smem_word(int index) {
    int u = index >> 8;
    int v = index & 255;
    return (u << 8) | ((((v >> 2) ^ swizzle_of_chunk(u)) & 63) << 2) | (v & 3);
}

// Pass B's word addresses split into a part fixed per (lane, j, pair) and a part fixed per tile.
// The tile number only fills the free v bits, index bits fv..7 (fv = pass_b_first_free_v(nu) ≥ 2),
// which lie in v >> 2 and are disjoint from the fixed bits; the swizzle XORs v >> 2 with s(u), and
// u does not depend on the tile. So smem_word(pass_b_index(lane, j, tile, pair, nu)) =
// pass_b_word_fixed(lane, j, pair, nu) ^ pass_b_word_of_tile(tile, nu), and the kernel computes
// the fixed words once: the bit-by-bit index of every element and tile was most of pass B (sm_90a
// SASS: a 2340-instruction loop for one tile at k = 14, 4313 for a pair at k = 15).
HCTC_HD int pass_b_word_fixed(int lane, int j, int pair, int nu) { return smem_word(pass_b_index(lane, j, 0, pair, nu)); }
HCTC_HD int pass_b_word_of_tile(int tile, int nu) { return (tile << pass_b_first_free_v(nu)) & 0xFF; }

// ---- the constant ±1/0 matrices ------------------------------------------------------------------
//
// M_mask[a][b] over 4 index bits: Π_i (mask bit i ? (−1)^(a_i·b_i) : [a_i = b_i]), i.e. H_2 on the
// bits being transformed and the identity on the others (Sylvester order; H_2^{⊗4} = H_16).
HCTC_HD float mask_matrix(int mask, int a, int b) {
    float v = 1.0f;
    for (int i = 0; i < 4; i++) {
        int ai = (a >> i) & 1;
        int bi = (b >> i) & 1;
        if ((mask >> i) & 1) {
            if (ai & bi) v = -v;
        } else if (ai != bi) {
            return 0.0f;
        }
    }
    return v;
}

// bf16 bit patterns of 0, +1 and −1.
HCTC_HD uint16_t bf16_of_unit(float v) {
    return v == 0.0f ? (uint16_t) 0x0000 : v > 0.0f ? (uint16_t) 0x3F80 : (uint16_t) 0xBF80;
}

HCTC_HD uint32_t pack2(uint16_t lo, uint16_t hi) { return (uint32_t) lo | ((uint32_t) hi << 16); }

// Register i (0..3) of the A fragment of the row matrix: elements (2i, 2i+1) of the lane.
HCTC_HD uint32_t a_frag_of_mask(int rowMask, int lane, int reg) {
    int j0 = 2 * reg, j1 = 2 * reg + 1;
    return pack2(bf16_of_unit(mask_matrix(rowMask, frag_row(lane, j0), frag_col(lane, j0))),
                 bf16_of_unit(mask_matrix(rowMask, frag_row(lane, j1), frag_col(lane, j1))));
}

// Register r (0..1) of the B fragment (k×n = 16×8, column n-tile nt) of the column matrix:
// b0,b1 = B[2t][n], B[2t+1][n]; b2,b3 = B[2t+8][n], B[2t+9][n]; n = 8·nt + g.
HCTC_HD uint32_t b_frag_of_mask(int colMask, int lane, int nt, int reg) {
    int k = mseg_b_row(lane, reg, 0);
    int n = 8 * nt + mseg_b_col(lane);
    return pack2(bf16_of_unit(mask_matrix(colMask, k, n)), bf16_of_unit(mask_matrix(colMask, k + 1, n)));
}

// Pass A or pass B (with nu u bits): the index bit of tile bit p.
enum { PASS_A = 0, PASS_B = 1 };
HCTC_HD int index_bit(int pass, int p, int nu) {
    return pass == PASS_A ? pass_a_index_bit(p) : pass_b_index_bit(p, nu);
}

// The row and column masks of a tile map: bit i of the row mask is set when row bit i's index
// bit is transformed (lies in [lo, hi)).
HCTC_HD int row_mask(int pass, int nu, int lo, int hi) {
    int m = 0;
    for (int i = 0; i < 4; i++) {
        int b = index_bit(pass, row_tile_bit(i), nu);
        if (b >= lo && b < hi) m |= 1 << i;
    }
    return m;
}
HCTC_HD int col_mask(int pass, int nu, int lo, int hi) {
    int m = 0;
    for (int i = 0; i < 4; i++) {
        int b = index_bit(pass, col_tile_bit(i), nu);
        if (b >= lo && b < hi) m |= 1 << i;
    }
    return m;
}

// ---- pass M of the m·2^k kernel on tensor cores -------------------------------------------------
// After pass A a row is U[a][b] = row_smem[a·n + b] (a < m segments, b < n columns). Pass M is
// Y = Gᵀ · U with G = H_m (or its transpose for the transposed op): y[a'][b] = Σ_a G[a][a'] · U[a][b].
// As mma.m16n8k16: A = a 16 × 16 tile of Gᵀ (rows a', columns a; ±1 and 0 past m: exact in bf16),
// B = a 16 × 8 tile of U (rows a, columns b; split into bf16 parts like the tile transform's Z),
// D = 16 × 8 outputs (rows a', columns b), fp32. m is padded to 16 · ceil(m / 16) with zeros.
//
//   mseg_g(hm, m, transpose, a, a')        G[a][a'] from hm, H_m row-major as HadamardMatrices builds it
//   mseg_a_frag(hm, m, tr, mt, kt, lane, r)  register r of the A fragment of Gᵀ tile (mt, kt)
//   mseg_b_row(lane, r, h), mseg_b_col(lane) the U element (row a within the k tile, column b within
//                                          the n tile) in half h of B register r
//   mseg_d_row(lane, i), mseg_d_col(lane, i) the output (a' within the m tile, b within the n tile) of
//                                          accumulator i
// The bf16 bits of a float that is a bf16 value exactly (H_m's ±1): its top half, no compare.
// Not bf16_of_unit: with its two compares the m·2^k kernels compiled 3–20 % more sm_90a instructions.
HCTC_HD uint16_t bf16_bits_of_exact(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return (uint16_t) (u >> 16);
}
HCTC_HD float mseg_g(const float* hm, int m, bool transpose, int a, int ao) {
    return transpose ? hm[ao * m + a] : hm[a * m + ao];
}
HCTC_HD uint32_t mseg_a_frag(const float* hm, int m, bool transpose, int mt, int kt, int lane, int reg) {
    uint16_t e[2];
    for (int h = 0; h < 2; h++) {
        const int j = 2 * reg + h;
        const int ao = 16 * mt + frag_row(lane, j), a = 16 * kt + frag_col(lane, j);
        e[h] = (ao < m && a < m) ? bf16_bits_of_exact(mseg_g(hm, m, transpose, a, ao)) : (uint16_t) 0;
    }
    return pack2(e[0], e[1]);
}
// The row in shared memory: segment a at word a · S, S = n + 4 for n ≥ 8 (else n). With S = n (a
// multiple of 32 from n = 32 on) the B loads put a lane group's four rows 2t… in one bank (4-way)
// and the D stores eight rows g in one (8-way); with S = n + 4 a row moves 4 banks: loads
// conflict-free, stores 2-way (pass A's and the store pass's 16-byte accesses become 2-way at
// n = 8 and 16, rows of at most 640 elements). Elements keep their order inside a segment, so pass A's and the
// store pass's 4-element vectors stay whole and 16-byte aligned (4 divides n and S).
HCTC_HD int mseg_stride(int kn) { return (1 << kn) + (kn >= 3 ? 4 : 0); }
HCTC_HD int mseg_word(int a, int b, int kn) { return a * mseg_stride(kn) + b; }
// Element i = a · n + b of the row (pass A's and the store pass's flat index).
HCTC_HD int mseg_word_of(int i, int kn) { return mseg_word(i >> kn, i & ((1 << kn) - 1), kn); }
// Accumulator i (0..3) of a lane sits where the A fragment's element i does.
HCTC_HD int mseg_d_row(int lane, int i) { return frag_row(lane, i); }
HCTC_HD int mseg_d_col(int lane, int i) { return frag_col(lane, i); }

// ---- exact splits of fp32 into bf16 parts ---------------------------------------------------------
//
// bf16 round to nearest, ties to even, by integer operations (the same bits as
// __float2bfloat16_rn for every finite input; NaN becomes a quiet NaN).
HCTC_HD uint16_t bf16_rn_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
        return (uint16_t) ((u >> 16) | 0x40);
    }
    uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t) ((u + rounding) >> 16);
}
HCTC_HD float bf16_bits_to_float(uint16_t b) {
    uint32_t u = (uint32_t) b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// hi = bf16(x), lo = bf16(x − hi), …: with NPARTS = 2, x = hi + lo exactly for every bf16 and fp16
// value (≤ 11 significant bits), and within 2^−17 relative for any fp32 x (the intermediate
// sums between the two mma stages), far below the final bf16/fp16 rounding (2^−9, 2^−12). With
// NPARTS = 3, x = hi + mid + lo exactly for every fp32 x away from underflow.
template <int NPARTS>
HCTC_HD void split(float x, uint16_t (&parts)[NPARTS]) {
    float rest = x;
    for (int i = 0; i < NPARTS; i++) {
        parts[i] = bf16_rn_bits(rest);
        rest = rest - bf16_bits_to_float(parts[i]);
    }
}

// Two values split at once, each part packed as a bf16x2 register (x0 in the low half), as the
// mma operands take them. On the device each part is one cvt.rn.bf16x2.f32 (round to nearest even,
// the same bits as bf16_rn_bits for every non-NaN input; NaN stays NaN) and the remainder two bit
// operations and two subtractions: about 3 instructions per element and part. The integer
// rounding of split() took about 9 (NaN test, shift, mask, add, shift, rebuild), and the splits
// were most of the tile transform's instructions (sm_90a SASS: a k = 8 bf16 tile issued about 540
// per warp against about 280 that full bandwidth allows; docs/results/2026-12-06g-sass-sm90.md).
template <int NPARTS>
HCTC_HD void split_pair(float x0, float x1, uint32_t (&packed)[NPARTS]) {
#if defined(__CUDA_ARCH__)
    float r0 = x0, r1 = x1;
#pragma unroll
    for (int i = 0; i < NPARTS; i++) {
        uint32_t p;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(p) : "f"(r1), "f"(r0));  // a → high half, b → low
        packed[i] = p;
        if (i + 1 < NPARTS) {
            r0 = r0 - __uint_as_float(p << 16);
            r1 = r1 - __uint_as_float(p & 0xFFFF0000u);
        }
    }
#else
    uint16_t lo[NPARTS], hi[NPARTS];
    split<NPARTS>(x0, lo);
    split<NPARTS>(x1, hi);
    for (int i = 0; i < NPARTS; i++) packed[i] = pack2(lo[i], hi[i]);
#endif
}

// ---- non-finite inputs of short rows ---------------------------------------------------------
//
// For k < 8 one 256-element tile holds 2^(8−k) rows (up to 128, k = 1), and the tile matrices join
// them with zero weights. 0·NaN and 0·∞ are NaN, so a NaN or ±∞ in one row would turn every row of
// its tile into NaN. The register kernel therefore screens the loads: a non-finite value enters
// the tile as 0 and sets its row's flag (the row within the tile group, f >> k); the flags are
// OR-ed across the warp, and every output of a flagged row is written as NaN — what the tensor
// cores make of such a row anyway (the bf16 split of ±∞ is ∞ and ∞ − ∞ = NaN), so rows of every
// length behave alike. Rows without a non-finite value are untouched: the screen adds one compare
// per element and one warp vote per tile group.
struct RowFlags {
    // Bit i of word i / 32: row i of the tile group holds a non-finite input. Four named words, not
    // an array: the row index depends on the lane, and a dynamically indexed array would live in
    // local memory (ptxas put it on the stack and spilled).
    uint32_t w0, w1, w2, w3;
};

HCTC_HD bool is_nonfinite(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return (u & 0x7F800000u) == 0x7F800000u;
}

HCTC_HD float screen_nonfinite(float v, int rowInGroup, RowFlags& flags) {
    if (!is_nonfinite(v)) return v;
    const uint32_t bit = 1u << (rowInGroup & 31);
    const int word = rowInGroup >> 5;
    flags.w0 |= word == 0 ? bit : 0u;
    flags.w1 |= word == 1 ? bit : 0u;
    flags.w2 |= word == 2 ? bit : 0u;
    flags.w3 |= word == 3 ? bit : 0u;
    return 0.0f;
}

HCTC_HD bool row_flagged(const RowFlags& flags, int rowInGroup) {
    const int word = rowInGroup >> 5;
    const uint32_t w = word == 0 ? flags.w0 : word == 1 ? flags.w1 : word == 2 ? flags.w2 : flags.w3;
    return (w >> (rowInGroup & 31)) & 1u;
}

HCTC_HD bool any_flagged(const RowFlags& flags) { return (flags.w0 | flags.w1 | flags.w2 | flags.w3) != 0u; }

HCTC_HD float quiet_nan() {
    const uint32_t u = 0x7FC00000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// ---- the fused FP8 path's scale ------------------------------------------------------------------

// The larger of two amax partials (values of |y|, so the sign bit is clear), NaN winning: for such
// floats the unsigned order of the bits is the numeric order, with +∞ above every finite value and
// every NaN above +∞. fmaxf returns the other operand when one is NaN, so a group holding a NaN got
// the finite scale of its other values; here its scale is NaN, as Java's amax loop makes it.
HCTC_HD float amax_join(float a, float b) {
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua >= ub ? a : b;
}

// s = amax / 448, at least FLT_MIN (so that a group of tiny values keeps a usable scale and 1 / s
// stays finite, as Java's Fp8.e4m3Scale), 1 for an all-zero group; NaN stays NaN and +∞ stays +∞
// (a comparison, not fmaxf, which would turn NaN into FLT_MIN).
HCTC_HD float fp8_scale_of_amax(float amax) {
    const float s = amax / 448.0f;
    return amax == 0.0f ? 1.0f : (s < 1.17549435e-38f ? 1.17549435e-38f : s);
}

}  // namespace hctc
