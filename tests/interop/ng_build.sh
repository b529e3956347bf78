#!/bin/sh
# ng_build.sh NG_DIR OUT_DIR - builds the openigtlink-ng peer (an independent,
# strict OpenIGTLink v2/v3 implementation kept in ../shared, never copied here)
# into OUT_DIR with its own build.sh, and our ng_roles client against the same
# libraries. Skips what is already newer than its sources, so only the first
# run in a build tree pays the ~1 minute (2 cores; ccache helps after that).
# Exit 0 when ng_peer and ng_roles exist, 77 (skip) when NG_DIR is missing.
set -eu
NG=${1:?NG_DIR}
OUT=${2:?OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$NG/build.sh" ]; then
  echo "SKIP: $NG/build.sh not found"; exit 77
fi
mkdir -p "$OUT"
start=$(date +%s)
if [ ! -x "$OUT/ng_peer" ] || [ -n "$(find "$NG/peer" "$NG/core-cpp/src" "$NG/core-cpp/include" -newer "$OUT/ng_peer" -print -quit)" ]; then
  bash "$NG/build.sh" "$OUT"
fi
if [ ! -x "$OUT/ng_roles" ] || [ "$HERE/ng_roles.cpp" -nt "$OUT/ng_roles" ] || [ "$OUT/ng_peer" -nt "$OUT/ng_roles" ]; then
  g++ -std=c++17 -O1 -Wall -Wextra -Wno-unused-parameter -Wno-stringop-overflow \
    -I"$NG/core-cpp/include" "$HERE/ng_roles.cpp" -o "$OUT/ng_roles" \
    "$OUT/build/liboigtl_ergo.a" "$OUT/build/liboigtl_transport.a" "$OUT/build/liboigtl_messages.a" \
    "$OUT/build/liboigtl_runtime.a" -pthread
fi
echo "ng peer ready in $OUT ($(( $(date +%s) - start )) s)"
