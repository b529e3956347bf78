#!/usr/bin/env bash
# run.sh - Quick start, command 1: install what is missing, build, run the navigator.
# With no probe and no other source configured it runs on the built-in simulator.
# Without a display it falls back to headless rendering and says where the
# snapshots went. Extra arguments go to `cryonav run` (see `--help`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deps.sh
. "$here/scripts/deps.sh"
cn_install_missing $CN_BUILD_PKGS $CN_LIB_PKGS $CN_RUN_PKGS
build="${CRYONAV_BUILD_DIR:-$here/build}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target cryonav -- -j"$(nproc)"
args=("$@")
if [ ${#args[@]} -eq 0 ] && [ -z "${DISPLAY:-}" ]; then
    # No display and no wishes: a short headless demo that covers a whole freeze.
    args=(--headless --time-scale 10 --snapshot "$PWD/cryonav-snapshots")
fi
exec "$build/apps/cryonav/cryonav" run "${args[@]}"
