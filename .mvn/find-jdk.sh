# Sourced by ./mvnw and ./offload: makes JAVA_HOME point at a JDK >= 25 (the release the build targets; FFM is final
# from 22 on; the Vector API incubator module ships with it).  Order: $JAVA_HOME if it is
# new enough, then the newest JDK >= 25 under the usual install roots.  Fails with one line.
offload_jdk_feature() { # $1 = JDK home; prints the feature release (17, 25, ...) or nothing
  if [ -r "$1/release" ]; then
    sed -n 's/^JAVA_VERSION="\{0,1\}\([0-9][0-9]*\).*/\1/p' "$1/release" | head -n 1
  elif [ -x "$1/bin/java" ]; then
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1
  fi
}
offload_find_jdk() {
  offload_min=25
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    offload_v=$(offload_jdk_feature "$JAVA_HOME")
    if [ -n "$offload_v" ] && [ "$offload_v" -ge "$offload_min" ]; then return 0; fi
  fi
  offload_best= offload_best_v=0
  case $- in *f*) offload_noglob=1; set +f ;; *) offload_noglob= ;; esac # mvnw runs with set -f
  for offload_home in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /usr/local/jdk* \
      "${HOME-}"/.sdkman/candidates/java/* "${HOME-}"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home; do
    [ -x "$offload_home/bin/javac" ] || continue
    offload_v=$(offload_jdk_feature "$offload_home")
    [ -n "$offload_v" ] || continue
    if [ "$offload_v" -ge "$offload_min" ] && [ "$offload_v" -gt "$offload_best_v" ]; then
      offload_best=$offload_home offload_best_v=$offload_v
    fi
  done
  [ -z "$offload_noglob" ] || set -f
  if [ -z "$offload_best" ]; then
    echo "offload4j needs a JDK >= $offload_min (JAVA_HOME=${JAVA_HOME-unset} is older or missing, and none was found under /usr/lib/jvm and the other usual places): install JDK 25 and set JAVA_HOME." >&2
    return 1
  fi
  JAVA_HOME=$offload_best
  export JAVA_HOME
}
