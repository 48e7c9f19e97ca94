#!/usr/bin/env bash
# Builds the CUDA kernels of offload4j; run by Maven (exec-maven-plugin, see cuda-kernels/pom.xml).
#
#   build-fatbin.sh fatbin     <module dir> <target dir>
#   build-fatbin.sh host-tests <module dir> <target dir>
#
# fatbin:
#   nvcc compiles the umbrella translation unit src/main/cuda/offload4j.cu (which #includes every
#   per-op .cu) into ONE fatbin, target/classes/org/offload4j/cuda/offload4j.fatbin, holding SASS for
#   sm_80, sm_86, sm_89, sm_90a and PTX compute_90 (JIT-compiled by the driver on newer GPUs). One
#   translation unit means one module image for cuModuleLoadData and no relocatable device code.
#   The ptxas resource report (-Xptxas -v) goes to target/ptxas-report.txt; the build FAILS when any
#   kernel spills (non-zero "bytes spill stores"/"bytes spill loads"). A stack frame without spills
#   is reported but allowed. Then cuobjdump -sass must list every extern "C" kernel (every
#   `extern "C" __global__ ... o4j_*(` in src/main/cuda) for every SASS arch, else the build fails.
#   Writes target/classes/org/offload4j/cuda/offload4j.fatbin.properties (built, reason,
#   nvcc.version, archs, ptx, build.date, kernels).
#   Where nvcc is missing the build succeeds, no fatbin is written and the properties say
#   built=false with the reason; the Java backend then reports "kernels not built: <reason>".
#   The fatbin is rebuilt only when a source under src/main/cuda (or this script) is newer.
#
# host-tests:
#   Each src/test/cuda/*.cu is compiled by nvcc as a host program (the kernels' index helpers are
#   __host__ __device__) into target/cuda-host-tests/<name> and run; a non-zero exit fails the build.
#   Skipped, with the reason printed, where nvcc is missing.
#
# nvcc is looked up in this order: $OFFLOAD_NVCC, $CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc, PATH.
# OFFLOAD_NVCC=none (-Doffload.nvcc=none) builds as if there were no nvcc.
set -euo pipefail

mode=${1:?mode: fatbin or host-tests}
module=${2:?module dir}
target=${3:?target dir}
src="$module/src/main/cuda"
out_dir="$target/classes/org/offload4j/cuda"
fatbin="$out_dir/offload4j.fatbin"
props="$out_dir/offload4j.fatbin.properties"
report="$target/ptxas-report.txt"

# SASS targets and the PTX for forward compatibility. sm_90a (not sm_90): the arch-specific Hopper
# target that later wgmma/setmaxnreg kernels need; its SASS runs on H100/H200 only, which is what
# sm_90 hardware is. PTX compute_90 (not 90a: arch-specific PTX does not JIT to newer GPUs).
SASS_ARCHS=(sm_80 sm_86 sm_89 sm_90a)
PTX_ARCH=compute_90
GENCODE=(
  -gencode=arch=compute_80,code=sm_80
  -gencode=arch=compute_86,code=sm_86
  -gencode=arch=compute_89,code=sm_89
  -gencode=arch=compute_90a,code=sm_90a
  -gencode=arch=compute_90,code=compute_90
)
NVCC_FLAGS=(-std=c++17 -O3 --threads 2 -Xptxas -v -Xptxas -warn-spills -Xptxas -warn-lmem-usage)

find_nvcc() {
  local c
  for c in "${OFFLOAD_NVCC:-}" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" /usr/local/cuda/bin/nvcc "$(command -v nvcc 2>/dev/null || true)"; do
    if [[ -n "$c" && -x "$c" ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

kernel_names() {
  # Every extern "C" __global__ entry point; by convention their names start with o4j_.
  grep -h 'extern "C" __global__' "$src"/*.cu "$src"/*.cuh 2>/dev/null \
    | grep -oE '\bo4j_[A-Za-z0-9_]+\(' | tr -d '(' | sort -u
}

write_props_not_built() {
  mkdir -p "$out_dir"
  rm -f "$fatbin"
  {
    echo "# written by src/main/cuda/build-fatbin.sh"
    echo "built=false"
    echo "reason=$1"
    echo "build.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernels=$(kernel_names | paste -sd, -)"
  } > "$props"
  echo "[cuda-kernels] kernels not built: $1"
}

if [[ "${OFFLOAD_NVCC:-}" == none ]]; then
  NVCC=""
  reason="nvcc disabled (-Doffload.nvcc=none)"
elif ! NVCC=$(find_nvcc); then
  NVCC=""
  reason="nvcc not found (looked at \$OFFLOAD_NVCC, \$CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc and PATH)"
fi
if [[ -z "$NVCC" ]]; then
  if [[ "$mode" == fatbin ]]; then
    write_props_not_built "$reason"
  else
    echo "[cuda-kernels] host tests SKIPPED: $reason"
  fi
  exit 0
fi
CUDA_BIN=$(dirname "$NVCC")
NVCC_VERSION=$("$NVCC" --version | grep -oE 'release [0-9.]+, V[0-9.]+' | head -1)

if [[ "$mode" == host-tests ]]; then
  tdir="$module/src/test/cuda"
  bdir="$target/cuda-host-tests"
  mkdir -p "$bdir"
  shopt -s nullglob
  status=0
  for t in "$tdir"/*.cu; do
    name=$(basename "$t" .cu)
    exe="$bdir/$name"
    if [[ ! -x "$exe" || "$t" -nt "$exe" || -n "$(find "$src" "$tdir" -newer "$exe" -name '*.cu*' -print -quit)" ]]; then
      echo "[cuda-host-tests] nvcc $name"
      "$NVCC" -std=c++17 -O1 -x cu -I"$src" -I"$tdir" -o "$exe" "$t"
    fi
    echo "[cuda-host-tests] run $name"
    if ! "$exe"; then
      echo "[cuda-host-tests] FAILED: $name"
      status=1
    fi
  done
  exit $status
fi

[[ "$mode" == fatbin ]] || { echo "unknown mode $mode" >&2; exit 2; }
mkdir -p "$out_dir"

stale=1
if [[ -f "$fatbin" && -f "$report" && -f "$props" ]] && grep -q '^built=true' "$props"; then
  if [[ -z "$(find "$src" -newer "$fatbin" -type f -print -quit)" ]]; then
    stale=0
  fi
fi

if [[ $stale == 1 ]]; then
  echo "[cuda-kernels] $NVCC ($NVCC_VERSION): offload4j.cu -> offload4j.fatbin (${SASS_ARCHS[*]} + PTX $PTX_ARCH)"
  tmp="$fatbin.tmp"
  if ! "$NVCC" -fatbin "${NVCC_FLAGS[@]}" "${GENCODE[@]}" -I"$src" -o "$tmp" "$src/offload4j.cu" > "$report" 2>&1; then
    cat "$report"
    rm -f "$tmp"
    echo "[cuda-kernels] nvcc FAILED (report: $report)" >&2
    exit 1
  fi
  mv "$tmp" "$fatbin"
else
  echo "[cuda-kernels] offload4j.fatbin is up to date"
fi

# --- spill check: ptxas prints per kernel and arch "N bytes stack frame, N bytes spill stores, N bytes spill loads"
spills=$(grep -E '[1-9][0-9]* bytes spill (stores|loads)' "$report" || true)
lmem=$(grep -iE 'local memory|lmem' "$report" | grep -vE '\b0 bytes' || true)
if [[ -n "$spills" || -n "$lmem" ]]; then
  echo "[cuda-kernels] FAILED: register spills or local memory in $report:" >&2
  echo "$spills" >&2
  echo "$lmem" >&2
  rm -f "$fatbin"
  exit 1
fi
frames=$(grep -E '[1-9][0-9]* bytes stack frame' "$report" || true)
[[ -z "$frames" ]] || echo "[cuda-kernels] note: stack frames (no spills):"$'\n'"$frames"

# --- symbol check: every extern "C" kernel must be in the SASS of every arch.
mapfile -t names < <(kernel_names)
if [[ ${#names[@]} == 0 ]]; then
  echo "[cuda-kernels] FAILED: no extern \"C\" __global__ o4j_* kernel found in $src" >&2
  exit 1
fi
CUOBJDUMP="$CUDA_BIN/cuobjdump"
if [[ -x "$CUOBJDUMP" ]]; then
  for arch in "${SASS_ARCHS[@]}"; do
    listing=$("$CUOBJDUMP" -sass -arch "$arch" "$fatbin" | grep -oE 'Function : [A-Za-z0-9_]+' | awk '{print $3}' | sort -u)
    for k in "${names[@]}"; do
      if ! grep -qx "$k" <<< "$listing"; then
        echo "[cuda-kernels] FAILED: kernel $k missing from the $arch SASS of $fatbin" >&2
        rm -f "$fatbin"
        exit 1
      fi
    done
  done
  if ! "$CUOBJDUMP" -lptx "$fatbin" | grep -q "$PTX_ARCH"; then
    echo "[cuda-kernels] FAILED: no $PTX_ARCH PTX in $fatbin" >&2
    rm -f "$fatbin"
    exit 1
  fi
  symcheck="cuobjdump: every kernel in the SASS of ${SASS_ARCHS[*]}"
else
  # No cuobjdump (the CUDA 13 nvcc-only install has none): ptxas must have compiled every kernel
  # for every SASS arch. CudaFatbinTest also parses the fatbin itself (the ELF image of each arch
  # must hold every name).
  for arch in "${SASS_ARCHS[@]}"; do
    for k in "${names[@]}"; do
      if ! grep -qF "Compiling entry function '$k' for '$arch'" "$report"; then
        echo "[cuda-kernels] FAILED: ptxas did not compile kernel $k for $arch (see $report)" >&2
        rm -f "$fatbin"
        exit 1
      fi
    done
  done
  symcheck="ptxas report (no cuobjdump): every kernel compiled for ${SASS_ARCHS[*]}"
fi

{
  echo "# written by src/main/cuda/build-fatbin.sh"
  echo "built=true"
  echo "nvcc=$NVCC_VERSION"
  echo "nvcc.path=$NVCC"
  echo "nvcc.version=$NVCC_VERSION"
  echo "archs=$(IFS=,; echo "${SASS_ARCHS[*]}")"
  echo "ptx=$PTX_ARCH"
  echo "build.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernels=$(IFS=,; echo "${names[*]}")"
  echo "symbol.check=$symcheck"
} > "$props"
echo "[cuda-kernels] ok: ${#names[@]} kernels, $symcheck; ptxas report $report"
