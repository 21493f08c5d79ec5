# Sourced by bindings/tests/run.sh and mobile-examples/console/run.sh: makes sure kotlinc (npm package
# `kotlin-compiler`, installed into bindings/tests/.tools), JNA (Debian `libjna-java`) and Java are there,
# and sets KOTLINC, JNA_JAR and COROUTINES_JAR (kotlinx-coroutines-core, which the generated Kotlin needs
# for its `suspend` functions and bindings/kotlin-support for its Flows; the npm package ships it in
# lib/). Run from the workspace root.

ensure_kotlin_tools() {
  local tools=bindings/tests/.tools
  local version="${KOTLIN_VERSION:-2.4.20}"
  if ! command -v java >/dev/null 2>&1; then
    echo "Java 17 is needed (apt-get install -y openjdk-17-jdk-headless)" >&2
    return 1
  fi
  if [[ ! -x "$tools/node_modules/kotlin-compiler/bin/kotlinc" ]]; then
    echo "== installing kotlinc $version (npm kotlin-compiler) into $tools"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --no-save "kotlin-compiler@$version" >/dev/null
  fi
  KOTLINC="$PWD/$tools/node_modules/kotlin-compiler/bin/kotlinc"
  JNA_JAR=/usr/share/java/jna.jar
  if [[ ! -f "$JNA_JAR" ]]; then
    echo "== installing JNA (libjna-java)"
    if ! apt-get install -y libjna-java >/dev/null 2>&1; then
      apt-get update >/dev/null && apt-get install -y libjna-java >/dev/null
    fi
  fi
  COROUTINES_JAR="$PWD/$tools/node_modules/kotlin-compiler/lib/kotlinx-coroutines-core-jvm.jar"
  if [[ ! -f "$COROUTINES_JAR" ]]; then
    echo "kotlinx-coroutines-core-jvm.jar is missing from $tools/node_modules/kotlin-compiler/lib/" >&2
    echo "(the kotlin-compiler npm package $version should ship it): the generated Kotlin needs it for its" >&2
    echo "suspend functions. Remove $tools and run again to reinstall." >&2
    return 1
  fi
  export KOTLINC JNA_JAR COROUTINES_JAR
}
