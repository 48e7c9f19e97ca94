// Writes the golden file that CudaHostGoldenTest compares the Java converters with: what CUDA's
// own host conversion code (cuda_fp8.hpp, cuda_bf16.hpp, cuda_fp16.hpp; plain C++, no GPU)
// answers for a set of float inputs chosen at every fp8 rounding boundary, plus specials and a
// seeded random sample.
//
// Regenerate (needs only the CUDA headers and a C++ compiler):
//   g++ -O2 -std=c++17 -I/usr/local/cuda/include core/src/test/cuda-host/cuda_host_golden.cpp -o /tmp/cuda_host_golden
//   /tmp/cuda_host_golden > core/src/test/resources/org/offload4j/core/numerics/cuda-host-golden.txt
//
// Output lines (hex, lower case):
//   D <fmt> <fp8 byte> <fp16 bits>   __nv_cvt_fp8_to_halfraw, fmt = e4m3 | e5m2, all 256 patterns each
//   E <float bits> <bf16> <fp16> <e4m3 satfinite> <e4m3 nosat> <e5m2 satfinite> <e5m2 nosat>
//       __float2bfloat16_rn, __float2half_rn, __nv_cvt_float_to_fp8 (host path)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

static uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

static float fp8_value(unsigned b, __nv_fp8_interpretation_t fmt) {
    __half_raw h = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)b, fmt);
    return __half2float(__half(h));
}

static void add_signed(std::set<uint32_t>& in, float x) {
    in.insert(bits_of(x));
    in.insert(bits_of(-x));
}

// Every fp8 value, every midpoint between neighbours (up to max + ulp) and the floats next to it.
static void add_fp8_boundaries(std::set<uint32_t>& in, __nv_fp8_interpretation_t fmt, unsigned max_code) {
    std::vector<double> v;
    for (unsigned b = 0; b <= max_code; b++) v.push_back(fp8_value(b, fmt));
    v.push_back(v[max_code] + (v[max_code] - v[max_code - 1]));  // the overflow step
    for (size_t i = 0; i + 1 < v.size(); i++) {
        float mid = (float)((v[i] + v[i + 1]) / 2);
        add_signed(in, (float)v[i]);
        add_signed(in, mid);
        add_signed(in, std::nextafterf(mid, INFINITY));
        add_signed(in, std::nextafterf(mid, 0.0f));
    }
}

static uint64_t splitmix64(uint64_t& s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int main() {
    std::printf("# CUDA %d.%d host-path conversions; generator: core/src/test/cuda-host/cuda_host_golden.cpp\n",
                CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
    const char* names[2] = {"e4m3", "e5m2"};
    const __nv_fp8_interpretation_t fmts[2] = {__NV_E4M3, __NV_E5M2};
    for (int f = 0; f < 2; f++) {
        for (unsigned b = 0; b < 256; b++) {
            std::printf("D %s %02x %04x\n", names[f], b, __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)b, fmts[f]).x);
        }
    }

    std::set<uint32_t> in;
    add_fp8_boundaries(in, __NV_E4M3, 0x7E);
    add_fp8_boundaries(in, __NV_E5M2, 0x7B);
    const uint32_t specials[] = {
        0x00000000, 0x7F800000, 0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0x7FA00000,  // 0, inf, NaNs
        0x7F7FFFFF, 0x00800000, 0x00000001,                                      // FLT_MAX, FLT_MIN, FLT_TRUE_MIN
        0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001,                          // fp16: 65504, around 65520
        0x33000000, 0x32FFFFFF, 0x33000001, 0x33C00000,                          // fp16: 2^-25 and neighbours, 1.5*2^-24
        0x7F7F0000, 0x7F7F7FFF, 0x7F7F8000, 0x7F7F8001,                          // bf16: max, around max + ulp/2
        0x00008000, 0x00007FFF, 0x00008001, 0x00018000,                          // bf16: 2^-134 and neighbours, 1.5*2^-133
        0x3F801000, 0x3F803000, 0x3F808000, 0x3F818000,                          // fp16 / bf16 ties above 1
    };
    for (uint32_t s : specials) { in.insert(s); in.insert(s | 0x80000000u); }
    uint64_t state = 20250101;
    for (int i = 0; i < 2048; i++) {
        uint64_t r = splitmix64(state);
        uint32_t u = (uint32_t)r;
        if (i & 1) {  // exponent in [2^-20, 2^17): the fp8 and fp16 ranges
            uint32_t exp = 127 - 20 + (uint32_t)((r >> 32) % 37);
            u = (u & 0x807FFFFFu) | (exp << 23);
        }
        in.insert(u);
    }

    for (uint32_t u : in) {
        float x = float_of(u);
        std::printf("E %08x %04x %04x %02x %02x %02x %02x\n", u,
                    __nv_bfloat16_raw(__float2bfloat16_rn(x)).x,
                    __half_raw(__float2half_rn(x)).x,
                    __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3),
                    __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3),
                    __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2),
                    __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2));
    }
    return 0;
}
