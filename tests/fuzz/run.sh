#!/bin/sh
# run.sh - builds the OpenIGTLink parser fuzz target with clang (libFuzzer +
# ASan + UBSan) in its own build directory and runs it for a short while.
# Usage: tests/fuzz/run.sh [SECONDS (30)] [BUILD_DIR (/tmp/cryonav-fuzz-build)]
# Exit codes: 0 no finding, 1 a finding (crash, leak, sanitizer report) or
# build failure, 77 skipped because clang or its fuzzer runtime is missing
# (Debian: apt-get install clang-14 libclang-rt-14-dev).
set -u
SECS=${1:-30}
BUILD=${2:-/tmp/cryonav-fuzz-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLANG=${CLANG:-clang}
mkdir -p "$BUILD/corpus" "$BUILD/artifacts"

if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "SKIP: $CLANG not found (apt-get install clang-14)"; exit 77
fi
probe="$BUILD/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' > "$probe"
if ! "$CLANG" -fsanitize=fuzzer "$probe" -o "$BUILD/probe" >/dev/null 2>&1; then
  echo "SKIP: $CLANG has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"; exit 77
fi

CORE="$SRC/modules/core"
IGTL="$SRC/modules/igtl"
CORE_SRC="$CORE/errors.c $CORE/mat4.c $CORE/util.c $CORE/clock.c $CORE/log.c $CORE/stats.c"
IGTL_SRC="$IGTL/igtl_wire.c $IGTL/igtl_v2.c $IGTL/igtl_msg.c $IGTL/igtl_track.c $IGTL/igtl_parse.c $IGTL/igtl_cmd.c $IGTL/igtl_command.c"
PROCTOR="$SRC/modules/proctor"
IGTL_SRC="$IGTL_SRC $PROCTOR/proctor_hub.c $PROCTOR/proctor_login.c $PROCTOR/proctor_cmd.c $PROCTOR/proctor_token.c $PROCTOR/proctor_surface.c"
FLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -I$SRC/modules -isystem /usr/include/openigtlink"
# igtl_cmd.c also holds the config reader: its JSON helpers come from core.
JSON_SRC="$CORE/json_config.c $CORE/json_lines.c"
set -e
"$CLANG" $FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "$SRC/tests/fuzz/fuzz_igtl_parser.c" $IGTL_SRC $CORE_SRC $JSON_SRC \
  -o "$BUILD/fuzz_igtl_parser" -lOpenIGTLink -lisal -ljansson -lm -lpthread
"$CLANG" $FLAGS "$SRC/tests/fuzz/make_corpus.c" $IGTL_SRC $CORE_SRC $JSON_SRC \
  -o "$BUILD/make_corpus" -lOpenIGTLink -lisal -ljansson -lm -lpthread
"$BUILD/make_corpus" "$BUILD/corpus"
set +e
echo "fuzzing the OpenIGTLink parser for ${SECS}s ..."
"$BUILD/fuzz_igtl_parser" -max_total_time="$SECS" -max_len=8192 -rss_limit_mb=1024 \
  -artifact_prefix="$BUILD/artifacts/" -print_final_stats=1 "$BUILD/corpus" 2>"$BUILD/fuzz.log"
rc=$?
tail -n 25 "$BUILD/fuzz.log"
if [ $rc -ne 0 ]; then
  echo "FAIL: libFuzzer found a problem (exit $rc); reproducer in $BUILD/artifacts/"
  exit 1
fi
echo "OK: no finding in ${SECS}s"
