#!/bin/sh
# sass-summary.sh OUTDIR: what the GPU host's cuobjdump reads in the bundle's fatbin (sm_90a).
#   sass-sm90a.txt          one line per kernel: instructions, HMMA, LDGSTS, LDSM, MOVM, and LDL/STL
#                           (local memory: spills or stack arrays, which the build forbids)
#   sass-<kernel>.txt       the whole listing of the kernels whose loops
#                           docs/results/2026-12-06g-sass-sm90.md counts (read there with an older
#                           disassembler; this is the check with the toolkit's own)
# Exits 1 where there is no cuobjdump or fatbin, or some kernel uses local memory.
#   sh sass-summary.sh OUTDIR            (OFFLOAD_SASS_IN=FILE summarizes a saved `cuobjdump -sass` listing instead)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: sh sass-summary.sh OUTDIR}
mkdir -p "$out"

# summarize < listing: per function, the instruction count and the opcodes that say what it is made of
summarize() {
  awk '
    /Function : / { fn = $3; names[++n] = fn; next }
    /^[ \t]*\/\*[0-9a-f]+\*\/[ \t]/ {
      line = $0
      sub(/^[ \t]*\/\*[0-9a-f]+\*\/[ \t]+/, "", line)
      sub(/^@!?U?P[A-Z0-9]+[ \t]+/, "", line)
      op = line; sub(/[ .;].*$/, "", op)
      total[fn]++; count[fn, op]++
    }
    END {
      printf "%-44s %6s %5s %6s %5s %5s %5s\n", "kernel", "instr", "HMMA", "LDGSTS", "LDSM", "MOVM", "LDL+STL"
      for (i = 1; i <= n; i++) {
        f = names[i]; lm = count[f, "LDL"] + count[f, "STL"]; bad += lm > 0
        printf "%-44s %6d %5d %6d %5d %5d %5d\n", f, total[f], count[f, "HMMA"], count[f, "LDGSTS"], count[f, "LDSM"], count[f, "MOVM"], lm
      }
      printf "%d kernels, %d with local memory\n", n, bad
      exit bad > 0
    }'
}

if [ -n "${OFFLOAD_SASS_IN:-}" ]; then
  summarize < "$OFFLOAD_SASS_IN" > "$out/sass-sm90a.txt"
  rc=$?
  cat "$out/sass-sm90a.txt"
  exit $rc
fi
command -v cuobjdump >/dev/null 2>&1 || { echo "no cuobjdump on PATH"; exit 1; }
jar=$(ls "$here"/lib/offload4j-cuda-kernels-*.jar 2>/dev/null | head -1)
[ -n "$jar" ] || { echo "no cuda-kernels jar in $here/lib"; exit 1; }
fb="$out/offload4j.fatbin"
entry=org/offload4j/cuda/offload4j.fatbin
if command -v unzip >/dev/null 2>&1; then
  unzip -p "$jar" "$entry" > "$fb"
elif command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$jar" "$entry" > "$fb"
else
  echo "neither unzip nor python3 to read $jar"; exit 1
fi
[ -s "$fb" ] || { echo "no fatbin in $jar (built without nvcc?)"; rm -f "$fb"; exit 1; }
cuobjdump --version | tail -1
cuobjdump -sass -arch sm_90a "$fb" | summarize > "$out/sass-sm90a.txt"
rc=$?
cat "$out/sass-sm90a.txt"
for k in o4j_w4a16_tc_bf16_m16_n128 o4j_hadamard_tc_regs1_bf16 o4j_hadamard_tc_smem14_bf16; do
  cuobjdump -sass -arch sm_90a -fun "$k" "$fb" > "$out/sass-$k.txt" || rc=1
done
rm -f "$fb"
exit $rc
