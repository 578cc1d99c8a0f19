#!/usr/bin/env bash
# Runs every camvault test and ends with one line 'N passed, N failed'.
#   1. gcc build with -Werror: unit tests + fuzz corpora (meson), integration (pytest)
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the chaos test in CI mode (tests/chaos/run, a few minutes) on the ASan
#      build (the gcc build with --no-asan); CHAOS=0 leaves it out
#   4. each libFuzzer target (clang) for FUZZ_SECONDS, two at a time (FUZZ_JOBS)
# Options: --asan-only, --fuzz-only, --no-asan, --no-fuzz. Exit status is
# non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
do_plain=1 do_asan=1 do_fuzz=1
for arg in "$@"; do
  case "$arg" in
    --asan-only) do_plain=0; do_fuzz=0 ;;
    --fuzz-only) do_plain=0; do_asan=0 ;;
    --no-asan) do_asan=0 ;;
    --no-fuzz) do_fuzz=0 ;;
    *) echo "test-all: unknown option $arg" >&2; exit 2 ;;
  esac
done

passed=0
failed=0
failures=()
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# count FILE KIND: adds the passes and failures recorded in a meson
# testlog.json or a pytest junit xml file.
count() {
  local out
  out=$(/usr/bin/python3 scripts/count-results.py "$2" "$1") || out="0 1 unreadable-results:$1"
  local p f names
  read -r p f names <<<"$out"
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ]; then failures+=("$names"); fi
}

step_fail() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "test-all: FAILED: $1" >&2
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1

run_suite() { # build-dir meson-args... (label in $label)
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$results/$label-setup.log" 2>&1 || { cat "$results/$label-setup.log"; step_fail "$label: meson setup"; return; }
  fi
  if ! ninja -C "$dir" >"$results/$label-build.log" 2>&1; then
    tail -50 "$results/$label-build.log"
    step_fail "$label: build"
    return
  fi
  echo "== $label: unit tests and fuzz corpora"
  meson test -C "$dir" --print-errorlogs --num-processes 2 --no-rebuild
  count "$dir/meson-logs/testlog.json" meson
  echo "== $label: integration tests (pytest, real ffmpeg/ffprobe/GStreamer)"
  CAMVAULT_BUILD="$dir" CAMVAULT_SANITIZED=$([ "$label" = asan ] && echo 1 || echo 0) \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration \
      --junitxml="$results/$label-pytest.xml"
  count "$results/$label-pytest.xml" junit
}

if [ $do_plain = 1 ]; then
  label=gcc run_suite build -Dwerror=true
fi
if [ $do_asan = 1 ]; then
  label=asan run_suite build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi
if [ $do_plain = 1 ] || [ $do_asan = 1 ]; then
  if [ "${CHAOS:-1}" = 1 ]; then
    chaos_build=build
    [ $do_asan = 1 ] && chaos_build=build-asan
    echo "== chaos test, CI mode, on $chaos_build (tests/chaos/run; progress lines left out)"
    tests/chaos/run --build "$chaos_build" >"$results/chaos.log" 2>&1
    rc=$?
    grep -v '] t+ ' "$results/chaos.log" | tail -40
    if [ $rc -eq 0 ] && grep -q '^chaos: .*foreign=0 late=0 unrecovered=0 crashes=0 control=1' "$results/chaos.log"; then
      passed=$((passed + 1))
    else
      step_fail "chaos test (tests/chaos/run exit $rc)"
    fi
  fi
fi
if [ $do_fuzz = 1 ]; then
  echo "== fuzzers: each for ${FUZZ_SECONDS}s"
  label=fuzz
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false \
      >"$results/fuzz-setup.log" 2>&1 || { cat "$results/fuzz-setup.log"; step_fail "fuzz: meson setup"; }
  fi
  if [ -f build-fuzz/build.ninja ] && ninja -C build-fuzz >"$results/fuzz-build.log" 2>&1; then
    # Two fuzzers at a time (one per core); each writes its exit status next to its log.
    names=()
    for fz in build-fuzz/tests/fuzz/*-fuzzer; do
      [ -x "$fz" ] || continue
      name=$(basename "$fz" -fuzzer)
      names+=("$name")
      while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-2}" ]; do wait -n; done
      (
        work=$(mktemp -d)
        cp -r "tests/fuzz/corpus/$name"/. "$work"/ 2>/dev/null || true
        "$fz" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$results/$name-" "$work" >"$results/$name.log" 2>&1
        echo $? >"$results/$name.rc"
        rm -rf "$work"
      ) &
    done
    wait
    for name in "${names[@]}"; do
      if [ "$(cat "$results/$name.rc" 2>/dev/null)" = 0 ]; then
        passed=$((passed + 1))
        echo "fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$results/$name.log" | grep -o '[0-9]*$') execs)"
      else
        tail -40 "$results/$name.log"
        step_fail "fuzz $name (crash input kept in its log above)"
      fi
    done
  else
    tail -50 "$results/fuzz-build.log" 2>/dev/null
    step_fail "fuzz: build"
  fi
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "failures: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
