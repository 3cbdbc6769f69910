#!/usr/bin/env bash
# Build the local base image mailstack-test/debian:bookworm, as root.
# No container registry is reachable on build machines, so the e2e images
# start FROM this image: a `debootstrap --variant=minbase bookworm` root
# imported with `docker import`, whose apt uses the same Debian mirror as
# the host (so `apt-get install` in a Dockerfile works like on the host).
#
#   scripts/build-base-image.sh          # build if missing (then smoke-test it)
#   scripts/build-base-image.sh --check  # also smoke-test an existing image
#
# Needs a running engine (scripts/start-docker.sh) and debootstrap.
# The root filesystem tarball is cached in /var/cache/mailstack; delete it to
# pick up newer Debian packages (or rely on `apt-get upgrade` in Dockerfiles).
#
# Networking: containers and `docker build` RUN steps use the default bridge
# network (NAT through the host); no --network host is needed. Docker copies
# the host's resolv.conf into containers, so they use the host's DNS server.
set -euo pipefail

IMAGE=mailstack-test/debian:bookworm
CACHE=/var/cache/mailstack
TARBALL=$CACHE/debian-bookworm-minbase-rootfs.tar
CHECK=0
[[ ${1:-} == --check ]] && CHECK=1

log() { printf '[build-base-image +%ss] %s\n' "$SECONDS" "$*" >&2; }

# First URI the host's apt uses for a suite (e.g. a proxy or snapshot mirror).
host_mirror() {
  # shellcheck disable=SC2016  # $(...) is apt's format syntax, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Created-By: Packages' \
    | awk -v suite="$1" '$2 == suite { print $1; exit }'
}

build_tarball() {
  local mirror security root
  mirror="$(host_mirror bookworm)"
  security="$(host_mirror bookworm-security)"
  mirror="${mirror:-http://deb.debian.org/debian/}"
  security="${security:-http://deb.debian.org/debian-security/}"
  log "debootstrap bookworm (minbase) from $mirror"
  root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  # shellcheck disable=SC2064  # expand $root now
  trap "rm -rf '$root'" EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 || {
    tail -n 30 "$CACHE/debootstrap.log" >&2
    exit 1
  }

  # The container's apt uses the host's mirrors, all three bookworm suites.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
  # A snapshot mirror's Release files may be past their Valid-Until date; if
  # the host's apt ignores that, so must the image's.
  if apt-config dump | grep -q '^Acquire::Check-Valid-Until "false";'; then
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99mailstack-valid-until"
  fi
  # No init system in containers: package scripts must not try to start
  # services during `apt-get install` (the servers are started by CMD).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  # Docker provides these at run time; keep the host's values out.
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/tmp/*

  tar -C "$root" --numeric-owner -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$root"
  trap - EXIT
}

smoke_test() {
  log "smoke test: apt-get update in a container"
  docker run --rm "$IMAGE" apt-get update -q >/dev/null
  log "smoke test: docker build FROM $IMAGE installing caddy"
  local ctx
  ctx="$(mktemp -d)"
  cat >"$ctx/Dockerfile" <<EOF
FROM $IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends caddy
EOF
  docker build -q -t mailstack-test/smoke:latest "$ctx" >/dev/null
  log "caddy in the built image: $(docker run --rm mailstack-test/smoke:latest caddy version)"
  docker image rm mailstack-test/smoke:latest >/dev/null
  rm -rf "$ctx"
  log "smoke test passed"
}

if [[ $EUID -ne 0 ]]; then
  log "must run as root"
  exit 1
fi
docker info >/dev/null 2>&1 || {
  log "no Docker engine: run scripts/start-docker.sh first"
  exit 1
}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE present"
  ((CHECK)) && smoke_test
  exit 0
fi

mkdir -p "$CACHE"
if [[ -s $TARBALL ]]; then
  log "using cached root filesystem $TARBALL"
else
  build_tarball
fi
log "docker import $TARBALL as $IMAGE"
docker import \
  --change 'CMD ["/bin/bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  "$TARBALL" "$IMAGE" >/dev/null
smoke_test
