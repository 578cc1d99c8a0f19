#!/usr/bin/env bash
# Installs the Debian 12 packages camvault needs to build, run and test,
# skipping those already present. Usage: scripts/deps.sh [build|test]
set -euo pipefail

build_pkgs=(
  build-essential meson ninja-build pkg-config
  libuv1-dev libssl-dev libsodium-dev libsqlite3-dev
  libinih-dev libjansson-dev uthash-dev libhttp-parser-dev liboath-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  ffmpeg
)
test_pkgs=(
  clang libclang-rt-14-dev libcmocka-dev
  python3 python3-pytest curl
  libgstrtspserver-1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "camvault: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
