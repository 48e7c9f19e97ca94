// offload4j — helpers shared by every kernel: dtype codes, loads widened exactly to fp32 and
// stores rounded once (round to nearest, ties to even).
//
// Kept free of device-only intrinsics where a host test includes it (the conversions below are
// used only in kernels; the index helpers live in the per-op *_index.cuh headers).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// Widen exactly to fp32 (bf16 and fp16 are subsets of fp32).
__device__ __forceinline__ float o4j_to_float(float v) { return v; }
__device__ __forceinline__ float o4j_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float o4j_to_float(__half v) { return __half2float(v); }

// Round once from fp32: _rn is round to nearest, ties to even; NaN stays NaN; overflow gives ±inf.
template <typename T> __device__ __forceinline__ T o4j_from_float(float v);
template <> __device__ __forceinline__ float o4j_from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 o4j_from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half o4j_from_float<__half>(float v) { return __float2half_rn(v); }
