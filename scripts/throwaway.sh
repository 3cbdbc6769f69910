#!/usr/bin/env bash
# Throwaway test servers: a uniquely named stack made from the dev config,
# deployed, smoke-tested, and later destroyed with its stack. This is the only
# path by which make and CI destroy a stack, and it refuses every stack that is
# not a throwaway (prod, dev, local, anything else).
#
#   scripts/throwaway.sh [--skip-if-unconfigured] [--admit-runner] up [STACK]
#       STACK is pr-<n> (CI) or, when omitted, a new tw-<user>-<yyyymmdd>-<rand>.
#       Creates the stack, copies dev's config into it (`config cp`), gives it
#       its own mail domain <stack>.<dev domain>, an expiry and throwaway labels,
#       runs `pulumi up --refresh`, polls the healthUrl output, prints how to
#       reach it. Run again on an existing stack, it updates it and moves the
#       expiry on; after the reaper deleted its server, the refresh notices and
#       the up creates it again.
#       --admit-runner (CI): adds this machine's public address (asked of
#       RUNNER_ADDRESS_URL, mailstack/runner_address.py) to the stack's
#       adminCidrs. An existing server's own firewall (UFW) admits only the
#       addresses of earlier runs, so its server is re-created first: its
#       remote steps leave the state unrun, `pulumi destroy --target` deletes
#       the server (the volume and primary IPs stay), and the up makes a new
#       one and runs every step on it. `release` takes the address out again.
#   scripts/throwaway.sh [--skip-if-unconfigured] release STACK
#       Writes the stack's config without the runner's address and updates
#       only the cloud firewall (`pulumi up --target`): no SSH, so it works
#       from the runner that is being shut out. Nothing to do if STACK is gone.
#   scripts/throwaway.sh [--skip-if-unconfigured] destroy STACK
#       Writes the stack's config again as `up` does (a fresh runner has none),
#       refreshes it (dropping what the reaper deleted), takes its remote steps
#       out of the state without running their delete scripts (the whole host
#       goes, tools/teardown.py), then `pulumi destroy` and `pulumi stack
#       rm`; nothing to do if STACK is gone.
#
# Needs PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE (or ..._FILE); with
# --skip-if-unconfigured (CI) their absence is a note and exit 0, else an error.
# stdout carries only the result (Markdown, for a PR comment); pulumi's own
# output goes to stderr.
#
# Environment: PULUMI (pulumi), PY (the interpreter with the project's
# dependencies; default .venv/bin/python), TTL_DAYS (3), SMOKE_ATTEMPTS (60)
# and SMOKE_DELAY (10 s) between health probes, RUNNER_ADDRESS_URL
# (https://1.1.1.1/cdn-cgi/trace).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
PULUMI=${PULUMI:-pulumi}
PY=${PY:-$root/.venv/bin/python}
TTL_DAYS=${TTL_DAYS:-3}
SMOKE_ATTEMPTS=${SMOKE_ATTEMPTS:-60}
SMOKE_DELAY=${SMOKE_DELAY:-10}
BASE=dev
RUNNER_ADDRESS_URL=${RUNNER_ADDRESS_URL:-https://1.1.1.1/cdn-cgi/trace}
SKIP_IF_UNCONFIGURED=0
ADMIT_RUNNER=0
ADMIT=""
EXPIRES=""

log() { printf '[throwaway] %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}
usage() {
  die "usage: $0 [--skip-if-unconfigured] [--admit-runner] up [STACK] | release STACK | destroy STACK"
}

# Fails closed: any doubt about the name, and nothing runs.
assert_throwaway() {
  local stack=$1
  # Before anything reads it: a name is lowercase letters, digits and '-' only.
  [[ $stack =~ ^[a-z0-9-]+$ ]] || die "refusing to touch stack $(printf '%q' "$stack"): not a throwaway name"
  case $stack in
    prod | dev | local | "")
      die "refusing to touch stack '$stack': only throwaway stacks (pr-<n>, tw-<user>-<date>-<rand>) go through here"
      ;;
  esac
  "$PY" -m tools.throwaway check "$stack" || die "refusing to touch stack '$stack'"
}

# 0 when the backend secrets are there; else stop, cleanly or not.
require_backend() {
  if [[ -n ${PULUMI_BACKEND_URL:-} && -n ${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-} ]]; then
    return 0
  fi
  local reason="throwaway $1 skipped: PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE are not set"
  if ((SKIP_IF_UNCONFIGURED)); then
    log "$reason"
    printf "%s (secrets of the job's GitHub environment: docs/reviewing.md).\n" "$reason"
    exit 0
  fi
  die "$reason: export them (see docs/reviewing.md)"
}

stack_exists() {
  "$PULUMI" stack ls --json | "$PY" -c '
import json, sys
names = {s["name"].rsplit("/", 1)[-1] for s in json.load(sys.stdin)}
sys.exit(0 if sys.argv[1] in names else 1)' "$1"
}

smoke() {
  local url=$1 i
  for ((i = 1; i <= SMOKE_ATTEMPTS; i++)); do
    if curl -fsS -o /dev/null --max-time 10 "$url"; then
      log "smoke test: $url answered (attempt $i)"
      return 0
    fi
    sleep "$SMOKE_DELAY"
  done
  return 1
}

# Writes STACK's whole config: dev's (`config cp`), then what a throwaway
# sets over it. Pulumi.<stack>.yaml is not committed, so on a fresh runner this
# is all the config there is, and Pulumi checks it against Pulumi.yaml before
# `up` and `destroy` alike (mailstack:domain has no default). Arrays go in item
# by item (`--path 'key[0]=...'`): Pulumi refuses a JSON string for an array
# key. The keys are removed first so no item of an older, longer array stays.
# Sets EXPIRES to the expiry date it wrote.
write_config() {
  local stack=$1 pairs pair keys=() args=()
  local admit=()
  if [[ -n $ADMIT ]]; then admit=(--admit "$ADMIT"); fi
  pairs="$("$PY" -m tools.throwaway config "$stack" --ttl-days "$TTL_DAYS" "${admit[@]}")"
  while IFS= read -r pair; do
    args+=(--plaintext "$pair")
    keys+=("${pair%%[[=]*}")
    if [[ $pair == mailstack:expiresAt=* ]]; then EXPIRES=${pair#*=}; fi
  done <<<"$pairs"
  "$PULUMI" config cp --stack "$BASE" --dest "$stack" >&2
  mapfile -t keys < <(printf '%s\n' "${keys[@]}" | sort -u)
  "$PULUMI" config rm-all --stack "$stack" "${keys[@]}" >&2
  "$PULUMI" config set-all --stack "$stack" --path "${args[@]}" >&2
}

export_urns() {
  "$PULUMI" stack export --stack "$1" | "$PY" -m tools.teardown "${@:2}"
}

# Takes STACK's remote steps out of the state without running their delete
# scripts: the host they configured is gone or about to go (tools/teardown.py).
drop_remote_steps() {
  local stack=$1 urns urn
  urns="$(export_urns "$stack" remote-steps)"
  while IFS= read -r urn; do
    [[ -n $urn ]] || continue
    log "dropping $urn from the state without running its delete script"
    "$PULUMI" state delete --stack "$stack" --yes "$urn" >&2
  done <<<"$urns"
}

# This machine's public address as a single-host CIDR; fails closed.
runner_cidr() {
  curl -4 -fsS --max-time 10 "$RUNNER_ADDRESS_URL" | "$PY" -m tools.runner_address
}

cmd_up() {
  local stack=${1:-}
  if [[ -z $stack ]]; then
    stack="$("$PY" -m tools.throwaway name --user "${USER:-$(id -un)}")"
  fi
  assert_throwaway "$stack"
  require_backend up

  if ((ADMIT_RUNNER)); then
    ADMIT="$(runner_cidr)" || die "could not learn this runner's public address from $RUNNER_ADDRESS_URL"
    log "admitting this runner ($ADMIT) to $stack's SSH for this run"
  fi
  local existed=0
  if stack_exists "$stack"; then
    log "stack $stack exists: updating it"
    existed=1
  else
    log "creating stack $stack"
    "$PULUMI" stack init "$stack" --secrets-provider passphrase --non-interactive >&2
  fi
  # Also for an existing stack: this runner may never have seen it.
  write_config "$stack"
  local server=""
  if ((ADMIT_RUNNER && existed)); then
    server="$(export_urns "$stack" urns hcloud:index/server:Server)"
  fi
  if [[ -n $server ]]; then
    log "the server's own firewall admits only earlier runners: re-creating it (volume and IPs stay)"
    drop_remote_steps "$stack"
    "$PULUMI" destroy --stack "$stack" --target "$server" --target-dependents \
      --yes --non-interactive --color never >&2
  fi
  # --refresh: the reaper deletes an expired server behind Pulumi's back, and
  # an up that trusted the state would try to update what is gone.
  "$PULUMI" up --stack "$stack" --refresh --yes --non-interactive --color never >&2

  local health app
  health="$("$PULUMI" stack output healthUrl --stack "$stack")"
  app="$("$PULUMI" stack output appUrl --stack "$stack")"
  if ! smoke "$health"; then
    log "smoke test failed: $health did not answer after $SMOKE_ATTEMPTS attempts"
    log "the server stays up for debugging until $EXPIRES; remove it: make destroy STACK=$stack"
    exit 1
  fi
  cat <<MD
Throwaway stack \`$stack\` is up and healthy: $app

- health check: $health answered
- expires: $EXPIRES (after that day \`make reap\` deletes the server)
- everything else (IP, SSH command): \`pulumi stack output --stack $stack\`
- remove it: \`make destroy STACK=$stack\`
MD
}

cmd_release() {
  local stack=${1:-} firewalls targets=() urn
  assert_throwaway "$stack"
  require_backend release
  if ! stack_exists "$stack"; then
    log "no stack $stack: nothing to release"
    return 0
  fi
  write_config "$stack"
  firewalls="$(export_urns "$stack" urns hcloud:index/firewall:Firewall)"
  while IFS= read -r urn; do
    [[ -n $urn ]] && targets+=(--target "$urn")
  done <<<"$firewalls"
  if ((${#targets[@]} == 0)); then
    log "$stack has no firewall: nothing to release"
    return 0
  fi
  "$PULUMI" up --stack "$stack" "${targets[@]}" --yes --non-interactive --color never >&2
  log "$stack's cloud firewall no longer admits this runner"
}

cmd_destroy() {
  local stack=${1:-}
  assert_throwaway "$stack"
  require_backend destroy
  if ! stack_exists "$stack"; then
    log "no stack $stack: nothing to destroy"
    printf "Throwaway stack \`%s\` does not exist: nothing to destroy.\n" "$stack"
    return 0
  fi
  write_config "$stack"
  # The reaper may have deleted the server behind Pulumi's back: the refresh
  # drops it (and its volume and IPs) from the state. The remote steps leave
  # the state unrun: the host goes with the server, and their delete scripts
  # would dial an address that may be gone, someone else's, or shut to us.
  "$PULUMI" refresh --stack "$stack" --yes --non-interactive --color never >&2
  drop_remote_steps "$stack"
  "$PULUMI" destroy --stack "$stack" --yes --non-interactive --color never >&2
  "$PULUMI" stack rm --yes --non-interactive "$stack" >&2
  printf "Throwaway stack \`%s\` destroyed and removed.\n" "$stack"
}

cd "$root"
command -v "$PY" >/dev/null || die "no $PY: run make setup first, or set PY"
if [[ ${1:-} == --skip-if-unconfigured ]]; then
  SKIP_IF_UNCONFIGURED=1
  shift
fi
if [[ ${1:-} == --admit-runner ]]; then
  ADMIT_RUNNER=1
  shift
fi
command=${1:-}
shift || true
if [[ $command == up && $# -le 1 ]]; then
  cmd_up "${1:-}"
elif ((ADMIT_RUNNER)); then
  usage
elif [[ $command == release && $# -eq 1 ]]; then
  cmd_release "$1"
elif [[ $command == destroy && $# -eq 1 ]]; then
  cmd_destroy "$1"
else
  usage
fi
