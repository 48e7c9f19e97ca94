#!/bin/sh
# sass-summary.sh OUTDIR: what the GPU host's cuobjdump reads in the bundle's fatbin (sm_90a).
#   sass-sm90a.txt          one line per kernel: instructions; HMMA, LDGSTS, LDSM, MOVM; LDL+STL
#                           (local memory: spills or stack arrays, which the build forbids); and
#                           the length of every loop that holds an HMMA (backward branch to its
#                           target, in address order), the figures docs/results/2026-12-06g-sass-sm90.md
#                           reads with an older disassembler: this is the check with the toolkit's own
#   sass-<kernel>.txt       the whole listing of the kernels that page counts
# Exits 1 where a kernel uses local memory or the listing cannot be read; exits 0 with "not run"
# where the host has no cuobjdump (a driver-only host), as the suite's other optional steps do.
#   sh sass-summary.sh OUTDIR     (OFFLOAD_SASS_IN=FILE summarizes a saved `cuobjdump -sass` listing)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: sh sass-summary.sh OUTDIR}
mkdir -p "$out"
kernels="o4j_w4a16_tc_bf16_m16_n128 o4j_hadamard_tc_regs1_bf16 o4j_hadamard_tc_regs2_bf16 o4j_hadamard_tc_regs8_bf16
o4j_hadamard_tc_smem12_bf16 o4j_hadamard_tc_smem14_bf16 o4j_hadamard_tc_smem15_bf16 o4j_hadamard_tc_m_r1_bf16"

# summarize < listing: per sm_90/sm_90a function, the counts above; exit 2 if it found no function
summarize() {
  awk '
    function hex(s,   i, v) {
      v = 0; s = tolower(s); sub(/^0x/, "", s)
      for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v
    }
    function flush(   i, j, first, loops, hm, lm) {
      if (fn == "") return
      loops = ""
      for (i = 1; i <= m; i++) {
        if (!(i in tgt) || tgt[i] > addr[i]) continue
        hm = 0; first = 0
        for (j = 1; j <= i; j++) if (addr[j] >= tgt[i]) { if (!first) first = j; if (op[j] == "HMMA") hm = 1 }
        if (hm) loops = loops (loops == "" ? "" : "/") (i - first + 1)
      }
      lm = cnt["LDL"] + cnt["STL"]; bad += lm > 0; n++
      printf "%-44s %6d %5d %6d %5d %5d %7d  %s\n", fn, m, cnt["HMMA"], cnt["LDGSTS"], cnt["LDSM"], cnt["MOVM"], lm, loops
      fn = ""; m = 0; split("", cnt); split("", tgt)
    }
    BEGIN {
      printf "%-44s %6s %5s %6s %5s %5s %7s  %s\n", "kernel", "instr", "HMMA", "LDGSTS", "LDSM", "MOVM", "LDL+STL", "loops with HMMA"
    }
    /code for sm_/ { flush(); arch = $NF; next }
    /Function : / { flush(); if (arch == "" || arch == "sm_90" || arch == "sm_90a") fn = $3; next }
    fn != "" && /^[ \t]*\/\*[0-9a-f]+\*\/[ \t]/ {
      line = $0
      a = line; sub(/^[ \t]*\/\*/, "", a); sub(/\*\/.*$/, "", a)
      sub(/^[ \t]*\/\*[0-9a-f]+\*\/[ \t]+/, "", line)
      sub(/^@!?U?P[A-Z0-9]+[ \t]+/, "", line)
      o = line; sub(/[ .;].*$/, "", o)
      m++; addr[m] = hex(a); op[m] = o; cnt[o]++
      if (o == "BRA" && match(line, /0x[0-9a-f]+/)) tgt[m] = hex(substr(line, RSTART, RLENGTH))
    }
    END {
      flush()
      printf "%d kernels, %d with local memory\n", n, bad
      if (n == 0) exit 2
      exit bad > 0
    }'
}

if [ -n "${OFFLOAD_SASS_IN:-}" ]; then
  summarize < "$OFFLOAD_SASS_IN" > "$out/sass-sm90a.txt"
  rc=$?
  cat "$out/sass-sm90a.txt"
  exit $rc
fi
# A plain `sh` on a GPU host seldom has the toolkit's bin on PATH: look where the toolkit lives too.
cuobjdump=
for c in "$(command -v cuobjdump 2>/dev/null || true)" "${CUDA_HOME:+$CUDA_HOME/bin/cuobjdump}" \
         /usr/local/cuda/bin/cuobjdump; do
  if [ -n "$c" ] && [ -x "$c" ]; then cuobjdump=$c; break; fi
done
if [ -z "$cuobjdump" ]; then
  echo "not run: no cuobjdump (looked on PATH, in \$CUDA_HOME/bin and /usr/local/cuda/bin)"
  exit 0
fi
jar=$(ls "$here"/lib/offload4j-cuda-kernels-*.jar 2>/dev/null | head -1)
[ -n "$jar" ] || { echo "no cuda-kernels jar in $here/lib"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fb="$tmp/offload4j.fatbin"
entry=org/offload4j/cuda/offload4j.fatbin
if command -v unzip >/dev/null 2>&1; then
  unzip -p "$jar" "$entry" > "$fb"
elif command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$jar" "$entry" > "$fb"
else
  echo "not run: neither unzip nor python3 to read $jar"
  exit 0
fi
[ -s "$fb" ] || { echo "no fatbin in $jar (built without nvcc?)"; exit 1; }
"$cuobjdump" --version | tail -1
"$cuobjdump" -sass -arch sm_90a "$fb" > "$tmp/sass.txt" || { echo "cuobjdump -sass failed"; exit 1; }
summarize < "$tmp/sass.txt" > "$out/sass-sm90a.txt"
rc=$?
cat "$out/sass-sm90a.txt"
for k in $kernels; do
  "$cuobjdump" -sass -arch sm_90a -fun "$k" "$fb" > "$out/sass-$k.txt" || rc=1
done
exit $rc
