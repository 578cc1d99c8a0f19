#!/usr/bin/env bash
# Installs the Debian 12 packages camvault needs to build, run and test,
# skipping those already present. Usage: scripts/deps.sh [build|test]
# It also installs the web app's npm packages (web/: hls.js and
# qrcode-generator, served by camvault under /app/vendor/), and for test the
# browser harness's (tests/browser: playwright-core and hls.js, driving
# Debian's chromium).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(
  build-essential meson ninja-build pkg-config
  libuv1-dev libssl-dev libsodium-dev libsqlite3-dev
  libinih-dev libjansson-dev uthash-dev libhttp-parser-dev liboath-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  ffmpeg
)
test_pkgs=(
  clang libclang-rt-14-dev libcmocka-dev
  python3 python3-pytest python3-pil curl iproute2 util-linux
  libgstrtspserver-1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  chromium
)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
  want+=("${test_pkgs[@]}")
fi
# npm (for the web app's packages) only when there is no node at all: a
# machine may have them from elsewhere (Debian's npm would conflict with
# such a nodejs).
if ! command -v node >/dev/null 2>&1; then
  want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "camvault: installing missing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages exactly as a package-lock.json pins them, when node_modules
# is missing or older than the lock file.
npm_ci() {
  local dir=$1 what=$2
  local stamp="$dir/node_modules/.package-lock.json"
  [ -f "$dir/package-lock.json" ] || return 0
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "camvault: npm is missing (node is $(command -v node)): install npm for $what" >&2
      exit 1
    fi
    echo "camvault: installing $what's npm packages (${dir#"$root"/})"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
}
npm_ci "$root/web" "the web app"
if [ "${1:-build}" = test ]; then
  npm_ci "$root/tests/browser" "the browser harness"
fi
