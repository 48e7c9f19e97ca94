#!/bin/sh
# make-bundle.sh: builds target/offload-bundle/, a folder that runs the offload CLI, the test
# suite and the benchmarks on a host with no JDK, no Maven and no network (a GPU host that has
# only an NVIDIA driver).  Run through `./offload bundle [--no-build]`.
#
#   runtime/          a jlink image: java.base, jdk.incubator.vector and what jdeps finds the jars need
#   lib/              every module's jar (cuda-kernels with its fatbin when nvcc built one) + runtime deps
#   test/NAME/classes the test classes of module NAME (target/test-classes, fixtures included)
#   test/NAME/src     the module's non-Java sources its tests read (src/main/cuda, src/test/cuda, ...)
#   test/NAME.classpath  its Maven test class path, one bundle-relative entry a line
#   test/NAME.gpu     present when the module has gpu-tagged tests (selftest --gpu runs only those modules)
#   test/lib/         test dependencies, core's test-jar, the JUnit console launcher
#   python/           torch_compare.py (also inside the bench jar; `offload bench --compare torch`)
#   bin/offload       the CLI on the bundled runtime, plus `selftest` and `info`
#   bin/launch_loop   the C launch loop of `offload bench launch`, where the build could make it
#   run-gpu-suite.sh  the one command for a GPU host: sh run-gpu-suite.sh "$OUT"
#   sass-summary.sh   its SASS step: the fatbin's sm_90a kernels as the host's cuobjdump reads them
#   build-info.txt    commit, date, JDK, modules, fatbin architectures
# and target/offload-bundle.tgz, the same folder packed (for a transfer that carries more beside it).
#
# Maven does what it is good at (jars, dependency resolution: profile `bundle` in the root pom
# writes each module's runtime and test class path to target/bundle/); this script lays out.
set -eu
root=$(cd "$(dirname "$0")/../../../.." && pwd)
. "$root/.mvn/find-jdk.sh"
offload_find_jdk || exit 1

out="$root/target/offload-bundle"
runtime_limit_kib=48828   # 50 MB (10^6 bytes) for the jlink image
bundle_limit_kib=65536    # 64 MiB for everything: the most one transfer to a GPU host carries
build=1
for a in "$@"; do
  case $a in
    --no-build) build= ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "offload bundle: unknown option '$a' (accepted: --no-build)" >&2; exit 2 ;;
  esac
done
fail() { echo "offload bundle: $*" >&2; exit 1; }

# The console launcher is not managed by the JUnit BOM: its version must be the BOM's platform version.
jv=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' "$root/pom.xml")
pv=$(sed -n 's:.*<junit.platform.version>\(.*\)</junit.platform.version>.*:\1:p' "$root/pom.xml")
[ "1.${jv#5.}" = "$pv" ] || fail "pom.xml: junit.platform.version $pv does not go with junit.version $jv (expected 1.${jv#5.})"

if [ -n "$build" ]; then
  echo "offload bundle: building every module (mvnw -Pbundle -DskipTests package) ..." >&2
  (cd "$root" && ./mvnw -B -q -Pbundle -DskipTests package) >&2 ||
    fail "the build failed; run ./mvnw -B -Pbundle -DskipTests package to see why."
fi

rm -rf "$out"
mkdir -p "$out/lib" "$out/test/lib" "$out/bin" "$out/python"
modules=$(sed -n 's:.*<module>\(.*\)</module>.*:\1:p' "$root/pom.xml")

# Left out: JMH and what only it needs (2.8 MB; `offload jmh` says so), and the JMH annotation
# processor (build time only). The bundle and the working tree travel together in 64 MiB.
skipped() {
  case $(basename "$1") in jmh-core-*|jmh-generator-annprocess-*|commons-math3-*|jopt-simple-*) return 0 ;; esac
  return 1
}
# copy_entry FILE DESTDIR: copies one class-path entry (a jar) into the bundle unless already there.
copy_entry() {
  [ -f "$1" ] || fail "class-path entry $1 is not a jar (was the module packaged?)"
  [ -f "$2/$(basename "$1")" ] || cp "$1" "$2/"
}
# entries FILE: the class-path entries of a build-classpath file, one a line, into $out/.entries; the
# loops read that file line by line (a `for e in $(…)` split a checkout path with a space in two).
entries() { : > "$out/.entries"; [ -s "$1" ] || return 0; tr ':' '\n' < "$1" > "$out/.entries"; echo >> "$out/.entries"; }

for m in $modules; do
  t="$root/$m/target"
  [ -f "$t/bundle/runtime.classpath" ] || fail "$m/target/bundle/runtime.classpath is missing: build with -Pbundle (drop --no-build)"
  jar=$(ls "$t"/*.jar 2>/dev/null | grep -v -e '-tests\.jar$' -e '-sources\.jar$' | head -n 1) ||
    fail "$m has no jar in $m/target"
  copy_entry "$jar" "$out/lib"
  entries "$t/bundle/runtime.classpath"
  while IFS= read -r e; do
    [ -n "$e" ] || continue
    skipped "$e" || copy_entry "$e" "$out/lib"
  done < "$out/.entries"
done
# JCuda's natives jar carries libJNvPTXCompiler (24 MB, 9 MB packed), the binding of a PTX compiler
# that offload never calls (it loads fatbins through the driver): the bundle's copy goes without it.
for j in "$out"/lib/jcuda-natives-*.jar; do
  [ -f "$j" ] || continue
  if "$JAVA_HOME/bin/jar" --file "$j" --list | grep -q '^lib/libJNvPTXCompiler'; then
    x="$out/jcuda-natives.tmp"
    rm -rf "$x" && mkdir -p "$x"
    (cd "$x" && "$JAVA_HOME/bin/jar" --extract --file "$j") && rm -f "$x"/lib/libJNvPTXCompiler*
    rm -f "$j" && "$JAVA_HOME/bin/jar" --create --file "$j" --manifest "$x/META-INF/MANIFEST.MF" -C "$x" lib -C "$x" META-INF/maven
    rm -rf "$x"
  fi
done

for m in $modules; do
  t="$root/$m/target"
  [ -n "$(find "$t/test-classes" -name '*.class' 2>/dev/null | head -n 1)" ] || continue
  # Folders, not jars: tests open their resources as files (Path.of(url.toURI())).
  mkdir -p "$out/test/$m/classes"
  cp -R "$t/test-classes/." "$out/test/$m/classes/"
  # Tests that read the module's own sources (src/main/cuda, src/test/cuda, the bindings' allow-list
  # and generated sources) find them beside the reports: bin/offload links src there. Java sources
  # and resources stay behind (the jars and classes hold them), except native-bindings' generated ones.
  for d in "$root/$m"/src/*/*; do
    [ -d "$d" ] || continue
    rel=${d#"$root/$m/"}
    case $m:$rel in
      native-bindings:src/main/java) ;;
      *:src/*/java|*:src/*/resources) continue ;;
    esac
    mkdir -p "$out/test/$m/$(dirname "$rel")"
    cp -R "$d" "$out/test/$m/$rel"
  done
  # test/NAME.gpu marks a module with gpu-tagged tests: selftest --gpu starts a JVM for those only
  # (each costs seconds of a GPU host's scarce time).
  if grep -rqs -e '@GpuTest' -e 'Tag("gpu")' "$root/$m/src/test"; then
    : > "$out/test/$m.gpu"
  fi
  # The module's own classes first (build-classpath lists only its dependencies), then the rest.
  jar=$(ls "$t"/*.jar | grep -v -e '-tests\.jar$' -e '-sources\.jar$' | head -n 1)
  echo "lib/$(basename "$jar")" > "$out/test/$m.classpath"
  entries "$t/bundle/test.classpath"
  while IFS= read -r e; do
    [ -n "$e" ] || continue
    b=$(basename "$e")
    ! skipped "$e" || continue
    case $b in
      # The console launcher (same JUnit version, checked above) already holds these, and it comes
      # first on the test JVM's class path.
      junit-jupiter-*|junit-platform-*|opentest4j-*|apiguardian-api-*) continue ;;
    esac
    if [ -f "$out/lib/$b" ]; then
      echo "lib/$b" >> "$out/test/$m.classpath"
    else
      copy_entry "$e" "$out/test/lib"
      echo "test/lib/$b" >> "$out/test/$m.classpath"
    fi
  done < "$out/.entries"
done
rm -f "$out/.entries"
cp "$root/target/bundle/junit-platform-console-standalone-$pv.jar" "$out/test/lib/" ||
  fail "the JUnit console launcher was not copied to target/bundle (build with -Pbundle)"

# launch_loop, the C floor of `offload bench launch`, goes where LaunchCommand looks beside lib/: bin/
# (or the build's reason for not making it, in lib/native/).
if [ -x "$root/bench/target/native/launch_loop" ]; then
  cp "$root/bench/target/native/launch_loop" "$out/bin/"
elif [ -f "$root/bench/target/native/launch_loop.reason" ]; then
  mkdir -p "$out/lib/native" && cp "$root/bench/target/native/launch_loop.reason" "$out/lib/native/"
fi
cp "$root/bench/src/main/python/torch_compare.py" "$out/python/"
cp "$root/bench/src/main/sh/bundle-offload.sh" "$out/bin/offload"
cp "$root/bench/src/main/sh/run-gpu-suite.sh" "$out/run-gpu-suite.sh"
cp "$root/bench/src/main/sh/sass-summary.sh" "$out/sass-summary.sh"
chmod +x "$out/bin/offload" "$out/run-gpu-suite.sh"

# The runtime: the JDK modules the jars use, plus the two the CLI names on its command line,
# jdk.management (JMH's gc profiler reaches it by reflection; the bench's warm-up reads the JIT's compile queue
# through its DiagnosticCommand MBean) and jdk.zipfs (JUnit scans the test
# jars through the jar file system). Modular jars (JUnit) say what
# they require in their descriptor (multi-release ones under META-INF/versions; "static" requires are
# optional at run time and left out: jackson's java.xml, java.desktop); jdeps reads the others (as one class path: a modular jar given
# to jdeps is analysed as a module and fails on the modules it requires).
echo "offload bundle: jdeps over the jars ..." >&2
declared=
set -- # the jars without a module descriptor, as separate arguments (their paths may hold spaces)
for j in "$out"/lib/*.jar "$out"/test/lib/*.jar "$out"/test/*/classes; do
  d=$("$JAVA_HOME/bin/jar" --file "$j" --describe-module --release 25 2>/dev/null || true)
  case $d in
    *module-info.class*) declared="$declared $(echo "$d" | grep -v ' static' | sed -n 's/^requires \(j[a-z]*\.[a-z.]*\).*/\1/p' | grep -E '^(java|jdk)\.' | tr '\n' ' ')" ;;
    *) set -- "$@" "$j" ;;
  esac
done
deps=$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 \
  --class-path "$out/lib/*:$out/test/lib/*" "$@" 2>&1) || fail "jdeps failed on the bundle's jars: $deps"
# Keep only module names: jdeps also warns (split packages between the JUnit jars and the console launcher).
mods=$(printf '%s\n' java.base jdk.incubator.vector jdk.management jdk.zipfs $declared $(echo "$deps" | tr ',' '\n' | grep -E '^(java|jdk)\.[a-z.]+$') |
  grep -v -e '^$' -e '^java.desktop$' -e '^java.compiler$' | sort -u | paste -sd, -)
# java.desktop (20 MB of the 50) is left out: only PNG plots use it (Plots.Png says so; .svg works),
# and jmh-core and commons-math3 reference it on paths the CLI does not take. java.compiler is
# wanted only by the JMH annotation processor, which runs at build time.
# --strip-debug leaves libjvm.so's symbols (about 5 MB); with objcopy jlink strips them too.
strip=--strip-debug
if command -v objcopy >/dev/null 2>&1; then
  strip="--strip-java-debug-attributes --strip-native-debug-symbols=exclude-debuginfo-files"
fi
echo "offload bundle: jlink --add-modules $mods ..." >&2
# shellcheck disable=SC2086
"$JAVA_HOME/bin/jlink" --add-modules "$mods" $strip --no-man-pages --no-header-files \
  --compress zip-6 --output "$out/runtime" 2>&1 | grep -v 'Using incubator modules' >&2 || true
[ -x "$out/runtime/bin/java" ] || fail "jlink made no runtime (see above)"
# jlink keeps the shared libraries' symbol tables (libjvm.so: 29 MB, 25 MB without); the dynamic
# symbols the loader needs stay.
if command -v strip >/dev/null 2>&1; then
  find "$out/runtime/lib" -name '*.so' -exec strip --strip-unneeded {} + 2>/dev/null || true
fi
"$out/runtime/bin/java" -version >/dev/null 2>&1 || fail "the jlink runtime does not start after strip"
runtime_kib=$(du -sk "$out/runtime" | cut -f1)   # blocks: the stricter measure, for the 50 MB rule
[ "$runtime_kib" -le "$runtime_limit_kib" ] ||
  fail "the jlink runtime is $((runtime_kib / 1024)) MiB, over its 50 MB limit; modules: $mods"

# Build facts for `offload info`; the fatbin architectures come from the jar's own fatbin headers.
{
  echo "offload4j bundle"
  echo "commit:  $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -sm)"
  echo "jdk:     $("$out/runtime/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.runtime.version = //p') ($mods)"
  echo "modules: $(echo $modules)"
  "$out/runtime/bin/java" --add-modules=jdk.incubator.vector -cp "$out/lib/*" org.offload4j.bench.FatbinInfo 2>/dev/null ||
    echo "fatbin:  (could not be read)"
} > "$out/build-info.txt"

# Sizes in KiB of bytes (GNU du --apparent-size), not of disk blocks, where du can say.
kib() { k=$(du -sk --apparent-size "$1" 2>/dev/null) || k=$(du -sk "$1"); echo "${k%%[!0-9]*}"; }
total_kib=$(kib "$out")
echo "offload bundle: $out" >&2
printf '  runtime %6d KiB\n  lib     %6d KiB (%d jars)\n  test    %6d KiB (%d modules)\n  total   %6d KiB (%d.%d MiB of at most 64 MiB)\n' \
  "$runtime_kib" "$(kib "$out/lib")" "$(ls "$out/lib" | wc -l)" "$(kib "$out/test")" "$(ls "$out"/test/*.classpath | wc -l)" \
  "$total_kib" $((total_kib / 1024)) $((total_kib % 1024 * 10 / 1024)) >&2
# The same folder packed (about two thirds of the size): what travels when the folder itself is over
# the 64 MiB one transfer carries, or when a working tree travels beside it.
# On the GPU host: tar xzf offload-bundle.tgz && sh offload-bundle/run-gpu-suite.sh "$OUT"
rm -f "$root/target/offload-bundle.tgz"
(cd "$root/target" && tar czf offload-bundle.tgz offload-bundle) || fail "packing target/offload-bundle.tgz failed"
packed_kib=$(kib "$root/target/offload-bundle.tgz")
printf '  packed  %6d KiB (target/offload-bundle.tgz)\n' "$packed_kib" >&2
[ "$packed_kib" -le "$bundle_limit_kib" ] || fail "even packed the bundle is $((packed_kib / 1024)) MiB, over the 64 MiB one transfer carries"
if [ "$total_kib" -gt "$bundle_limit_kib" ]; then
  echo "offload bundle: the folder is over 64 MiB; carry target/offload-bundle.tgz instead (it unpacks to the folder)" >&2
fi
sed -n 's/^fatbin: *//p' "$out/build-info.txt" | sed 's/^/  fatbin: /' >&2
echo "On a GPU host: sh target/offload-bundle/run-gpu-suite.sh \"\$OUT\"   (or target/offload-bundle/bin/offload selftest)" >&2
echo "  or, packed: tar xzf target/offload-bundle.tgz -C /tmp && sh /tmp/offload-bundle/run-gpu-suite.sh \"\$OUT\"" >&2
