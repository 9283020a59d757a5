#!/usr/bin/env bash
# Builds the two local base images the Dockerfile's FROM lines default to, with no registry: a Debian
# bookworm root file system made by mmdebstrap from Debian's packages, plus this machine's Node.js
# (`command -v node`), loaded with `docker import`.
#
#   tsweave/node-build:bookworm    build stage: python3, make, g++ (node-gyp), node, npm and Node's headers
#   tsweave/node-runtime:bookworm  runtime: iproute2, iptables, util-linux (nsenter), ca-certificates, node
#
# An image that the docker daemon (DOCKER_HOST) already has is skipped. Each root file system is also kept
# as a tarball in TSWEAVE_IMAGE_CACHE (default ~/.cache/tsweave-image), keyed by this script and the node
# binary, so a fresh dockerd (the tests start one per run) imports it in seconds instead of re-running
# mmdebstrap (about a minute per image). mmdebstrap fetches from the Debian mirror of this machine's apt
# sources (/etc/apt/sources.list.d/debian.sources) or from TSWEAVE_DEBIAN_MIRROR, and nothing else.
set -euo pipefail

BUILD_IMAGE=tsweave/node-build:bookworm
RUNTIME_IMAGE=tsweave/node-runtime:bookworm
SUITE=bookworm

die() { echo "build-base-image: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker is not installed"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
node_bin=$(readlink -f "$(command -v node || true)")
[ -x "$node_bin" ] || die "no node in PATH: the images take this machine's Node.js"
node_version=$("$node_bin" --version)
[ "${node_version%%.*}" = v20 ] || [ "${node_version%%.*}" \> v20 ] || die "node $node_version is too old: tsweave needs Node.js >= 20"
prefix=$(cd "$(dirname "$node_bin")/.." && pwd)   # /usr for Debian/NodeSource packages, /usr/local for tarballs
npm_dir=$prefix/lib/node_modules/npm
headers=$prefix/include/node
mirror=${TSWEAVE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then mirror=/etc/apt/sources.list.d/debian.sources; fi
cache=${TSWEAVE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsweave-image}
key=$( { cat "$0"; echo "$node_bin $node_version $mirror"; } | sha256sum | cut -c1-16)

# Smaller images: no manuals, no translations, no docs but the copyright files.
slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*')
# Node goes to /usr/local (never clashes with a Debian package); libstdc++/libgcc are what it links
# beside libc, and the last hook proves the copy runs inside the new root.
add_node=(--include=libstdc++6,libgcc-s1
  --customize-hook='mkdir -p "$1/usr/local/bin"'
  --customize-hook="copy-in $node_bin /usr/local/bin")
check_node=(--customize-hook='chroot "$1" /usr/bin/env -i /usr/local/bin/node -e "process.exit(0)"')

# build_one IMAGE NAME MMDEBSTRAP-ARGS... : import from the cache, or make the tarball first.
build_one() {
  local image=$1 name=$2; shift 2
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "build-base-image: $image exists, skipped"
    return
  fi
  local tar=$cache/$name-$key.tar
  if [ ! -s "$tar" ]; then
    mkdir -p "$cache"
    rm -f "$cache/$name-"*.tar   # tarballs of an older script or node
    echo "build-base-image: mmdebstrap $SUITE for $image (about a minute)"
    local t0=$SECONDS
    # merged-usr hooks: a merged /usr through usr-is-merged, not the usrmerge package (which pulls in perl).
    mmdebstrap --quiet --variant=essential --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      "${slim[@]}" "$@" "$SUITE" "$tar.part" ${mirror:+"$mirror"}
    mv "$tar.part" "$tar"
    echo "build-base-image: $name root file system in $((SECONDS - t0)) s ($(du -h "$tar" | cut -f1))"
  fi
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL org.tsweave.node=$node_version" "${IMPORT_CHANGES[@]}" "$tar" "$image" >/dev/null
  echo "build-base-image: imported $image"
}

IMPORT_CHANGES=()
build_one "$RUNTIME_IMAGE" runtime --include=ca-certificates,iproute2,iptables,util-linux \
  "${add_node[@]}" "${check_node[@]}"

[ -d "$npm_dir" ] || die "npm not found at $npm_dir (the build image needs it)"
[ -f "$headers/node_api.h" ] || die "Node's headers not found at $headers (node-gyp needs them; no download here)"
# node-gyp takes the headers from npm_config_nodedir instead of downloading them.
IMPORT_CHANGES=(-c 'ENV npm_config_nodedir=/usr/local')
build_one "$BUILD_IMAGE" build --include=python3,make,g++ "${add_node[@]}" \
  --customize-hook='mkdir -p "$1/usr/local/lib/node_modules" "$1/usr/local/include"' \
  --customize-hook="copy-in $npm_dir /usr/local/lib/node_modules" \
  --customize-hook="copy-in $headers /usr/local/include" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  "${check_node[@]}" --customize-hook='chroot "$1" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin npm --version >/dev/null'
