// offload4j — the one translation unit nvcc compiles into offload4j.fatbin (build-fatbin.sh).
// Every per-op .cu is #included here, so all kernels land in one module image that the Java side
// loads with a single cuModuleLoadData; no relocatable device code, no device link step.
// Adding an op: write src/main/cuda/<op>.cu (extern "C" __global__ o4j_* entry points), include
// it below, and add its names to org.offload4j.cuda.kernels.KernelName.
#include "hadamard.cu"
#include "w4a16.cu"
#include "attention.cu"
#include "moe.cu"
#include "hadacore_tc.cu"
#include "w4a16_tc.cu"
#include "empty.cu"
