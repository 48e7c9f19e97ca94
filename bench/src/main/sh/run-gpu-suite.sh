#!/bin/sh
# run-gpu-suite.sh: the one command to run on a GPU host with the bundle beside it.
#   sh target/offload-bundle/run-gpu-suite.sh OUTDIR
# Writes under OUTDIR, each step under its own `timeout` (one hang loses only that step) and all
# of them inside OFFLOAD_SUITE_SECONDS (default 540) in total. The required steps' limits add up
# to at most the total; the optional ones (the torch comparison, the full selftest) take what is
# left and, when none is or their time runs out, are noted as not run or cut short without failing
# the suite. A step that reaches its limit gets SIGQUIT first (a JVM writes every thread's stack
# into its output: the step's log, or for the selftests the module's console.log under
# selftest-reports/), then its whole process group is killed; a JVM crash log (hs_err_pid*.log)
# lands in OUTDIR:
#   info.txt                       java -version, nvidia-smi, build info, python3/torch versions
#   devices.txt                    offload devices
#   selftest-gpu.txt, selftest.txt bin/offload selftest --gpu, then every test; reports in selftest-reports/
#   bench-cuda.txt / .json         offload bench --backend cuda (quick suite)
#   bench-launch.txt               offload bench launch (where this build has it)
#   compare-torch.txt / .json      offload bench --backend cuda --compare torch
#   sass.txt, sass-*.txt           the fatbin's sm_90a SASS per kernel (sass-summary.sh; no GPU needed)
#   summary.txt                    each step: exit code and seconds (also printed last)
# Exits 1 if a step failed, a required one reached its limit or was not run for lack of time (the
# others still ran).
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: sh run-gpu-suite.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
off="$here/bin/offload"
deadline=$(($(date +%s) + ${OFFLOAD_SUITE_SECONDS:-540}))
: > "$out/summary.txt"
failed=0
ulimit -c 0 2>/dev/null || true   # a process killed by SIGQUIT must not dump gigabytes of core
pid=
# Stopped from outside (the host's own limit): the running step's process group goes too.
trap 'if [ -n "$pid" ]; then kill -s KILL -- "-$pid" 2>/dev/null; fi; exit 143' TERM INT HUP
case $out in
  *[[:space:]]*) ;;   # OFFLOAD_JAVA_OPTS is split on blanks: no crash-log option for such a path
  *) OFFLOAD_JAVA_OPTS="-XX:ErrorFile=$out/hs_err_pid%p.log ${OFFLOAD_JAVA_OPTS-}"; export OFFLOAD_JAVA_OPTS ;;
esac

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
  # timeout makes its own process group and signals all of it, but returns as soon as its child
  # (bin/offload's sh, for the selftests) has died, before its KILL: a JVM that outlives the QUIT
  # would hold the GPU through the next steps. So the group is swept once timeout returns.
  timeout -s QUIT -k 10 "$limit" "$@" > "$out/$name.txt" 2>&1 &
  pid=$!
  wait "$pid"
  rc=$?
  # 124: the limit; 137 after the limit: the limit's KILL. A 137 before it (the kernel's OOM killer,
  # say) is a failure like any other exit.
  at_limit=
  if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $(($(date +%s) - t0)) -ge "$limit" ]; }; then
    at_limit=1
    sleep 2   # a JVM that got the QUIT finishes writing its thread dump
  fi
  kill -s KILL -- "-$pid" 2>/dev/null
  pid=
  note=
  if [ -n "$at_limit" ]; then
    if [ "$kind" = optional ]; then
      note=" (cut short at its ${limit}s limit; optional, not a failure)"
    else
      note=" (killed at its ${limit}s limit)"
      failed=1
    fi
  elif [ "$rc" -ne 0 ]; then
    failed=1
  fi
  printf '%-16s exit %3d  %4ds%s\n' "$name" "$rc" $(($(date +%s) - t0)) "$note" | tee -a "$out/summary.txt"
}

# Required, most telling first: 45 + 60 + 150 + 150 + 60 + 60 = 525 s at most (info imports torch).
step info 45 "$off" info
step devices 60 "$off" devices
step selftest-gpu 150 "$off" selftest --gpu --reports "$out/selftest-reports/gpu"
bench_t0=$(date +%s)
step bench-cuda 150 "$off" bench --backend cuda --out "$out/bench-cuda.table.txt" --json "$out/bench-cuda.json"
bench_seconds=$(($(date +%s) - bench_t0))
step sass 60 sh "$here/sass-summary.sh" "$out"
if timeout -k 5 30 "$off" bench --help 2>/dev/null | grep -qw launch; then
  step bench-launch 60 "$off" bench launch --require ffm
else
  echo "bench-launch: not run (this build's bench has no launch subcommand)" | tee -a "$out/summary.txt"
fi
# Optional: whatever time is left (raise OFFLOAD_SUITE_SECONDS where a command may run longer).
# The comparison reruns the bench (about bench_seconds), then gives torch up to 150 s of what is left.
torch_seconds=$((deadline - $(date +%s) - bench_seconds - 20))
[ "$torch_seconds" -le 150 ] || torch_seconds=150
if [ "$torch_seconds" -lt 30 ]; then
  echo "compare-torch: not run (under 30 s of the suite would be left for torch after the bench)" | tee -a "$out/summary.txt"
else
  optional_step compare-torch 330 "$off" bench --backend cuda --compare torch --compare-timeout "$torch_seconds" \
    --out "$out/compare-torch.table.txt" --json "$out/compare-torch.json"
fi
optional_step selftest 240 "$off" selftest --reports "$out/selftest-reports/all"
echo "== summary (logs in $out)"
cat "$out/summary.txt"
exit "$failed"
