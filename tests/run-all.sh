#!/usr/bin/env bash
# The whole test suite, as CI runs it: a Release build and an ASan+UBSan build, each running
# the unit tests (Catch2) and the integration tests (pytest driving the real binary).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

run_suite() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -G Ninja "$@"
    cmake --build "$dir" -j "$jobs"
    ctest --test-dir "$dir" --output-on-failure --timeout 1500
}

run_suite build -DCMAKE_BUILD_TYPE=Release
tests/tlsscan/run-tlsscan.sh build/tlsgate
# Sanitizers: any report fails the run (halt_on_error, and the integration fixtures fail a
# test whose tlsgate printed a sanitizer report).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The differential tests' random part runs 30 s per protocol in the Release tree, where it
# finds disagreements; under the sanitizers it only has to exercise the same code: 10 s.
DIFF_BUDGET_SECONDS=${DIFF_BUDGET_SECONDS_ASAN:-10} \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DTLSGATE_SANITIZE=ON
tests/fuzz/run-fuzzers.sh "${TLSGATE_FUZZ_SECONDS:-20}"
# Every stage above stops the run on failure (set -e), so reaching here means all passed.
echo "stages: Release tests, TLS scan, ASan+UBSan tests, fuzzers"
echo "run-all: 4 passed, 0 failed"
