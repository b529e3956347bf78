#!/bin/sh
# xvfb_test.sh - run one test under an X server of its own.
#
# Xvfb picks a free display number itself and writes it to a descriptor when it is
# ready (-displayfd), creating its lock file atomically, so any number of these and
# cryonav's private Xvfb servers can start at once. xvfb-run -a, used before, picks
# the number by looking for free lock files, and two started together could pick
# the same one: every rendering test had to hold one ctest lock, and on 2 cores that
# chain of about 650 s was the suite's critical path.
#
# No -noreset, on purpose (as xvfb-run's servers): the server resets when its last
# client leaves, and what we test must cope with that.
set -u
[ $# -ge 1 ] || { echo "usage: xvfb_test.sh PROGRAM [ARGS...]" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/cn-xvfb.XXXXXX") || exit 1
mkfifo "$dir/display" || { rm -rf "$dir"; exit 1; }
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$dir/display" 2>"$dir/log" &
xpid=$!
n=""
read -r n <"$dir/display" || true
if [ -z "$n" ]; then
    echo "xvfb_test.sh: Xvfb did not start:" >&2
    cat "$dir/log" >&2
    kill "$xpid" 2>/dev/null; wait "$xpid" 2>/dev/null
    rm -rf "$dir"
    exit 1
fi
# The test runs in the background so that a TERM from ctest's timeout reaches this
# shell's trap at once (a foreground child would delay it) and the server goes too.
DISPLAY=":$n" "$@" &
tpid=$!
trap 'kill "$tpid" "$xpid" 2>/dev/null; rm -rf "$dir"; exit 143' TERM INT HUP
wait "$tpid"
rc=$?
trap - TERM INT HUP
kill "$xpid" 2>/dev/null
wait "$xpid" 2>/dev/null
rm -rf "$dir"
exit "$rc"
