#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang++, -DTLSGATE_FUZZ=ON) and runs each for
# SECONDS seconds (default 20), one at a time, starting from its seed corpus in
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (the seed corpus
# in the repository is never written to), crashes to build-fuzz/crashes/<target>/.
# Prints per target: executions, exec/s, coverage, exit status. Exits non-zero if any target
# crashed or failed an invariant.
#   Env: TLSGATE_FUZZ_JOBS (build jobs, default 2), TLSGATE_FUZZ_TARGETS (space-separated
#   subset), TLSGATE_FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
build=build-fuzz
targets=${TLSGATE_FUZZ_TARGETS:-"fuzz_imap fuzz_pop3 fuzz_smtp fuzz_client_prelude fuzz_toml fuzz_address fuzz_duration fuzz_stunnel fuzz_proxy_header"}

cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTLSGATE_FUZZ=ON -DTLSGATE_TESTS=OFF >/dev/null
cmake --build "$build" -j "${TLSGATE_FUZZ_JOBS:-2}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=()
for t in $targets; do
    corpus=$build/corpus/$t
    crashes=$build/crashes/$t
    log=$build/logs/$t.log
    mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
    echo "=== $t: ${seconds}s"
    status=0
    # shellcheck disable=SC2086
    "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$crashes/" \
        ${TLSGATE_FUZZ_ARGS:-} "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    line="$t: executions=${execs:-?} exec/s=${rate:-?} ${cov:-cov: ?} exit=$status"
    echo "$line"
    summary+=("$line")
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "--- $t FAILED; last lines of $log:"
        tail -n 40 "$log"
        echo "--- reproducer(s): $(ls "$crashes" | sed "s|^|$crashes/|" | tr '\n' ' ')"
    fi
done
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $failed
