#!/usr/bin/env bash
# Builds launch_loop (the C floor of `offload bench launch`) into TARGET/native/launch_loop.
#   build-launch-loop.sh SRC_DIR TARGET_DIR
# Needs a C compiler and cuda.h (no driver, no stub library: launch_loop dlopens libcuda.so.1).
# Where either is missing the build goes on: TARGET/native/launch_loop.reason says why, and
# `offload bench launch` prints that reason in its "driver (C)" row.
set -euo pipefail
src=$1
target=$2
out="$target/native"
mkdir -p "$out"
rm -f "$out/launch_loop.reason"

skip() {
  echo "[bench] launch_loop not built: $1" >&2
  echo "$1" > "$out/launch_loop.reason"
  exit 0
}

cc=${CC:-}
if [[ -z "$cc" ]]; then
  for c in gcc cc clang; do
    if command -v "$c" > /dev/null 2>&1; then cc=$c; break; fi
  done
fi
[[ -n "$cc" ]] || skip "no C compiler (gcc, cc or clang) on PATH"

inc=
for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /opt/cuda /usr; do
  if [[ -n "$d" && -f "$d/include/cuda.h" ]]; then inc="$d/include"; break; fi
done
[[ -n "$inc" ]] || skip "no cuda.h (looked in \$CUDA_HOME, \$CUDA_PATH, /usr/local/cuda, /opt/cuda, /usr)"

exe="$out/launch_loop"
if [[ -x "$exe" && "$exe" -nt "$src/launch_loop.c" && "$exe" -nt "$0" ]]; then
  exit 0
fi
if ! "$cc" -O2 -std=gnu11 -Wall -Wextra -Werror -I"$inc" "$src/launch_loop.c" -ldl -o "$exe.tmp" 2> "$out/launch_loop.log"; then
  cat "$out/launch_loop.log" >&2
  skip "$cc failed on launch_loop.c with $inc/cuda.h (see target/native/launch_loop.log)"
fi
mv "$exe.tmp" "$exe"
echo "[bench] $cc: launch_loop.c -> $exe (cuda.h from $inc)" >&2
