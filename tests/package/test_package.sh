#!/bin/sh
# test_package.sh BUILD_DIR VERSION [CPACK] - the .deb as a user gets it (issue 16).
#
# Builds the package with CPack from the build tree, checks its metadata and the
# Debian policy layout, unpacks it into a throw-away root with dpkg-deb -x (what
# `dpkg -x` does: no root rights, no system change, so it runs in CI as root and
# as a user) and runs the unpacked program from there: --version, the
# configuration it reads (it must come from the package, not the source tree),
# the udev rule against what the program prints, a short headless session that
# renders snapshots with the packaged shader, and `man -l` on the packaged page.
set -eu
build=$1
version=$2
cpack=${3:-cpack}
work=$(mktemp -d /tmp/cn_pkg_XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "test_package: $*" >&2; exit 1; }

cd "$work"
"$cpack" --config "$build/CPackConfig.cmake" -B "$work/out" > cpack.log 2>&1 ||
    { cat cpack.log >&2; fail "cpack failed"; }
deb="$work/out/cryonav_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb (cpack said: $(tail -3 cpack.log))"

dpkg-deb --info "$deb" > info.txt
grep -q '^ Package: cryonav$' info.txt || fail "package name"
grep -q "^ Version: $version\$" info.txt || fail "version"
grep -q '^ Depends: .*libvtk9' info.txt || fail "no Depends on VTK: $(cat info.txt)"

dpkg-deb --contents "$deb" | awk '{print $6}' > contents.txt
for f in ./usr/bin/cryonav \
         ./usr/share/cryonav/config/session.json \
         ./usr/share/cryonav/shaders/us_plane.frag \
         ./usr/share/man/man1/cryonav.1.gz \
         ./lib/udev/rules.d/70-cryonav-up20l.rules \
         ./usr/share/doc/cryonav/copyright; do
    grep -qx "$f" contents.txt || fail "$f is not in the package"
done
# only the Debian policy folders: nothing under /usr/local, nothing of the build
if grep -v -e '^\./usr/bin/' -e '^\./usr/share/' -e '^\./lib/udev/rules\.d/' \
        -e '^\./$' -e '^\./usr/$' -e '^\./lib/$' -e '^\./lib/udev/$' contents.txt; then
    fail "files outside /usr/bin, /usr/share and /lib/udev/rules.d (above)"
fi

root="$work/root"
dpkg-deb -x "$deb" "$root"
bin="$root/usr/bin/cryonav"
unset CRYONAV_DATA_DIR
export XDG_CONFIG_HOME="$work/xdg" # no user configuration
"$bin" --version | grep -qx "cryonav $version" || fail "--version: $("$bin" --version)"
first=$("$bin" config --paths | head -n 1)
[ "$first" = "$root/usr/share/cryonav/config/session.json" ] ||
    fail "the unpacked program reads $first, not its own $root/usr/share/cryonav/config/session.json"
"$bin" probes --udev-rule | cmp -s - "$root/lib/udev/rules.d/70-cryonav-up20l.rules" ||
    fail "the packaged udev rule differs from 'cryonav probes --udev-rule'"
"$bin" run --headless --fast --no-serve --frames 5 --snapshot "$work/snaps" > run.out 2> run.err ||
    { cat run.err >&2; fail "the headless session failed"; }
grep -q '^snapshots: ' run.out || fail "no snapshots: $(cat run.out)"
ls "$work/snaps"/snapshot-*.png > /dev/null || fail "no snapshot files"
grep -q "shader $root/usr/share/cryonav/shaders/us_plane.frag" run.err ||
    fail "the viewer did not use the packaged shader: $(grep shader run.err)"
if command -v man > /dev/null; then
    MANWIDTH=100 man -P cat -l "$root/usr/share/man/man1/cryonav.1.gz" > man.txt 2> man.err ||
        fail "man -l: $(cat man.err)"
    grep -q 'cryonav run' man.txt || fail "the man page has no 'cryonav run'"
    [ ! -s man.err ] || fail "man -l warned: $(cat man.err)"
fi
echo "test_package: $deb installs, runs and has its man page"
