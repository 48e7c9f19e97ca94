#!/bin/sh
# offload (bundle): the offload4j CLI on the bundle's own Java runtime; needs no JDK, no Maven.
#   bin/offload devices | bench ... | jmh ...   the CLI (org.offload4j.bench.OffloadCli)
#   bin/offload selftest [--gpu] [--reports DIR]
#                  runs the bundled tests, module by module, each on its Maven test class path
#                  (all tests by default; --gpu: only those tagged gpu); JUnit XML reports and
#                  the console log of each module under DIR (default ./offload-selftest-reports);
#                  exits 1 if a test failed (3 with --gpu if every gpu test was skipped)
#   bin/offload info   the runtime's java -version, nvidia-smi, the bundle's build info, python3/torch
# Extra JVM options: OFFLOAD_JAVA_OPTS (e.g. "-Doffload.backend=cpu").
set -eu
home=$(cd "$(dirname "$0")/.." && pwd)
java="$home/runtime/bin/java"
flags="--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED"

info() {
  echo "== bundle ($home)"
  cat "$home/build-info.txt"
  echo "== java -version (bundled runtime)"
  "$java" -version 2>&1
  echo "== nvidia-smi"
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi 2>&1 || true; else echo "nvidia-smi: not on PATH"; fi
  echo "== python3 and torch (for bench --compare torch)"
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys; print("python", sys.version.split()[0])
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "device",
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
except Exception as e:
    print("torch: not importable:", e)' 2>&1 || true
  else
    echo "python3: not on PATH"
  fi
}

# count WORD LOG: the number in the console launcher's "[ N tests WORD ]" summary line, or 0.
count() {
  n=$(sed -n "s/^\[ *\([0-9][0-9]*\) tests $1 .*/\1/p" "$2" | head -n 1)
  echo "${n:-0}"
}

selftest() {
  gpu= reports=./offload-selftest-reports
  while [ $# -gt 0 ]; do
    case $1 in
      --gpu) gpu=1 ;;
      --reports) [ $# -ge 2 ] || { echo "offload selftest: --reports needs a folder" >&2; exit 2; }; reports=$2; shift ;;
      --reports=*) reports=${1#--reports=} ;;
      -h|--help) sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "offload selftest: unknown option '$1' (accepted: --gpu, --reports DIR)" >&2; exit 2 ;;
    esac
    shift
  done
  mkdir -p "$reports"
  reports=$(cd "$reports" && pwd)
  launcher=$(ls "$home"/test/lib/junit-platform-console-standalone-*.jar)
  tag=
  [ -z "$gpu" ] || tag="--include-tag=gpu"
  ok=0 failed=0 skipped=0 aborted=0 status=0
  for cpfile in "$home"/test/*.classpath; do
    m=$(basename "$cpfile" .classpath)
    if [ -n "$gpu" ] && [ ! -e "$home/test/$m.gpu" ]; then
      printf '  %-14s no gpu tests\n' "$m"
      continue
    fi
    cp="$home/test/$m/classes"
    while IFS= read -r e; do [ -z "$e" ] || cp="$cp:$home/$e"; done < "$cpfile"
    mkdir -p "$reports/$m/target"
    # Tests that read their module's sources (src/main/cuda, ...) resolve them from the working directory.
    linked=
    if [ -d "$home/test/$m/src" ] && [ ! -e "$reports/$m/src" ]; then
      ln -s "$home/test/$m/src" "$reports/$m/src" && linked=1
    fi
    log="$reports/$m/console.log"
    rc=0
    # Each module in its own JVM, as surefire runs them (core's fixtures register fake backends);
    # the working directory is the report folder (target/, as in Maven). The test class path is the
    # JVM's own (-cp), not the launcher's --class-path: tests that start a fresh JVM on
    # java.class.path (bench --recheck) and JMH's in-process runs read it. --details=testfeed writes
    # each test's start and end as they happen (tree waits for the end): a run killed by a time
    # limit still shows the test it was in.
    # shellcheck disable=SC2086
    (cd "$reports/$m" && "$java" $flags ${OFFLOAD_JAVA_OPTS-} -cp "$launcher:$cp" org.junit.platform.console.ConsoleLauncher \
      execute --disable-banner --disable-ansi-colors --details=testfeed --scan-class-path "$home/test/$m/classes" \
      $tag --reports-dir "$reports/$m") > "$log" 2>&1 || rc=$?
    [ -z "$linked" ] || rm -f "$reports/$m/src"   # reports hold files only (links do not travel back)
    o=$(count successful "$log") f=$(count failed "$log") s=$(count skipped "$log") a=$(count aborted "$log")
    ok=$((ok + o)) failed=$((failed + f)) skipped=$((skipped + s)) aborted=$((aborted + a))
    printf '  %-14s %4d passed %3d failed %3d skipped %3d aborted%s\n' "$m" "$o" "$f" "$s" "$a" \
      "$([ "$rc" -eq 0 ] || echo "  (exit $rc, see $log)")"
    if [ "$rc" -ne 0 ]; then
      status=1
      awk '/ :: FAILED$/ { n = 8 } n > 0 { print; n-- }' "$log" | head -n 60   # each failure, its message and first frames
    fi
  done
  echo "selftest$([ -z "$gpu" ] || echo ' --gpu'): $ok passed, $failed failed, $skipped skipped, $aborted aborted (assumption not met); reports in $reports"
  if [ "$status" -eq 0 ] && [ -n "$gpu" ] && [ "$ok" -eq 0 ]; then
    echo "selftest --gpu: no gpu test ran (none found, or every one skipped itself: no usable GPU?)" >&2
    status=3
  fi
  exit "$status"
}

case "${1-}" in
  selftest) shift; selftest "$@" ;;
  info) info ;;
  *)
    # shellcheck disable=SC2086
    exec "$java" $flags ${OFFLOAD_JAVA_OPTS-} -Doffload.home="$home" -cp "$home/lib/*" org.offload4j.bench.OffloadCli "$@" ;;
esac
