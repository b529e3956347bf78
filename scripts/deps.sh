# deps.sh - the Debian packages CryoNav needs, installed when missing.
# Sourced by scripts/run.sh and scripts/test.sh; one list so they never disagree.
# Uses sudo when not root; runs `apt-get update` only when something is missing.

CN_BUILD_PKGS="cmake ninja-build pkg-config gcc g++ make"
CN_LIB_PKGS="libvtk9-dev libinsighttoolkit5-dev libopenigtlink-dev libusb-1.0-0-dev libdnnl-dev \
libjansson-dev zlib1g-dev libpng-dev libjpeg-dev libtiff-dev libgif-dev libx11-dev libisal-dev"  # libisal-dev: OpenIGTLink CRC (modules/igtl);
# libpng-dev, libjpeg-dev, libtiff-dev, libgif-dev: the image reader's own decoders and checks (modules/imaging/image_read_*.c)
CN_RUN_PKGS="xvfb xauth"
# libasio-dev: the openigtlink-ng interop peer (tests/interop); socat: the TLS
# tunnel the user guide describes, run by a test.
CN_TEST_PKGS="libcmocka-dev openigtlink-examples umockdev libumockdev-dev x11-apps clang \
libclang-rt-14-dev libasio-dev socat dpkg-dev man-db dcmtk libgdcm-tools"  # dpkg-dev: dpkg-shlibdeps for the .deb; man-db: man -l;
# dcmtk: img2dcm / dcmdjpeg make the DICOM files the image reader is tested on;
# libgdcm-tools: gdcmconv makes its JPEG 2000 and JPEG-LS cines

cn_install_missing() {
    missing=""
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "cryonav: installing missing Debian packages:$missing"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q || { echo "cryonav: apt-get update failed" >&2; return 1; }
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing || {
        echo "cryonav: could not install:$missing" >&2; return 1; }
}
