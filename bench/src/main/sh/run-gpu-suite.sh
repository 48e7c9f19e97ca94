#!/bin/sh
# run-gpu-suite.sh: the one command to run on a GPU host with the bundle beside it.
#   sh target/offload-bundle/run-gpu-suite.sh OUTDIR
# Writes under OUTDIR, each step under its own `timeout` (one hang loses only that step) and all
# of them inside OFFLOAD_SUITE_SECONDS (default 540) in total. The required steps' limits add up
# to at most the total; the optional ones (the torch comparison, the full selftest) take what is
# left and, when none is, are noted as not run without failing the suite:
#   info.txt                       java -version, nvidia-smi, build info, python3/torch versions
#   devices.txt                    offload devices
#   selftest-gpu.txt, selftest.txt bin/offload selftest --gpu, then every test; reports in selftest-reports/
#   bench-cuda.txt / .json         offload bench --backend cuda (quick suite)
#   bench-launch.txt               offload bench launch (where this build has it)
#   compare-torch.txt / .json      offload bench --backend cuda --compare torch
#   sass.txt, sass-*.txt           the fatbin's sm_90a SASS per kernel (sass-summary.sh; no GPU needed)
#   summary.txt                    each step: exit code and seconds (also printed last)
# Exits 1 if any step failed, or a required one was not run for lack of time (the others still ran).
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: sh run-gpu-suite.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
off="$here/bin/offload"
deadline=$(($(date +%s) + ${OFFLOAD_SUITE_SECONDS:-540}))
: > "$out/summary.txt"
failed=0

# step NAME SECONDS CMD...: runs CMD with stdout and stderr to NAME.txt, at most SECONDS and never past the deadline.
step() {
  run_step required "$@"
}

# optional_step NAME SECONDS CMD...: the same, but skipped without failing the suite when too little time is left.
optional_step() {
  run_step optional "$@"
}

run_step() {
  kind=$1 name=$2 limit=$3
  shift 3
  left=$((deadline - $(date +%s)))
  [ "$limit" -le "$left" ] || limit=$left
  if [ "$limit" -lt 10 ]; then
    echo "$name: not run (the suite's time is spent)" | tee -a "$out/summary.txt"
    [ "$kind" = optional ] || failed=1
    return 0
  fi
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$out/$name.txt" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || failed=1
  note=
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || note=" (killed at its ${limit}s limit)"
  printf '%-16s exit %3d  %4ds%s\n' "$name" "$rc" $(($(date +%s) - t0)) "$note" | tee -a "$out/summary.txt"
}

# Required, most telling first: 30 + 60 + 150 + 150 + 60 + 60 = 510 s at most.
step info 30 "$off" info
step devices 60 "$off" devices
step selftest-gpu 150 "$off" selftest --gpu --reports "$out/selftest-reports/gpu"
step bench-cuda 150 "$off" bench --backend cuda --out "$out/bench-cuda.table.txt" --json "$out/bench-cuda.json"
step sass 60 sh "$here/sass-summary.sh" "$out"
if "$off" bench --help 2>/dev/null | grep -qw launch; then
  step bench-launch 60 "$off" bench launch
else
  echo "bench-launch: not run (this build's bench has no launch subcommand)" | tee -a "$out/summary.txt"
fi
# Optional: whatever time is left (raise OFFLOAD_SUITE_SECONDS where a command may run longer).
optional_step compare-torch 180 "$off" bench --backend cuda --compare torch --out "$out/compare-torch.table.txt" --json "$out/compare-torch.json"
optional_step selftest 240 "$off" selftest --reports "$out/selftest-reports/all"
echo "== summary (logs in $out)"
cat "$out/summary.txt"
exit "$failed"
