#!/usr/bin/env bash
# test.sh - Quick start, command 2 (and what CI runs): install what is missing,
# build everything with AddressSanitizer + UndefinedBehaviorSanitizer and warnings
# as errors, run the whole test suite. Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deps.sh
. "$here/scripts/deps.sh"
cn_install_missing $CN_BUILD_PKGS $CN_LIB_PKGS $CN_RUN_PKGS $CN_TEST_PKGS
build="${CRYONAV_TEST_BUILD_DIR:-$here/build-asan}"
jobs="$(nproc)"
start=$(date +%s)
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCN_SANITIZE=ON >/dev/null
cmake --build "$build" -- -j"$jobs"
echo "cryonav: build took $(( $(date +%s) - start )) s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 600
echo "cryonav: tests took $(( $(date +%s) - start )) s in all"
