#!/usr/bin/env bash
# Throwaway test servers: a uniquely named stack made from the dev config,
# deployed, smoke-tested, and later destroyed with its stack. This is the only
# path by which make and CI destroy a stack, and it refuses every stack that is
# not a throwaway (prod, dev, local, anything else).
#
#   scripts/throwaway.sh [--skip-if-unconfigured] up [STACK]
#       STACK is pr-<n> (CI) or, when omitted, a new tw-<user>-<yyyymmdd>-<rand>.
#       Creates the stack, copies dev's config into it (`config cp`), gives it
#       its own mail domain <stack>.<dev domain>, an expiry and throwaway labels,
#       runs `pulumi up --refresh`, polls the healthUrl output, prints how to
#       reach it. Run again on an existing stack, it updates it and moves the
#       expiry on; after the reaper deleted its server, the refresh notices and
#       the up creates it again.
#   scripts/throwaway.sh [--skip-if-unconfigured] destroy STACK
#       Writes the stack's config again as `up` does (a fresh runner has none),
#       refreshes it, drops from the state the remote steps of a server that is
#       gone (reaped) without running their delete scripts (mailstack/teardown.py),
#       then `pulumi destroy` and `pulumi stack rm`; nothing to do if STACK is gone.
#
# Needs PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE (or ..._FILE); with
# --skip-if-unconfigured (CI) their absence is a note and exit 0, else an error.
# stdout carries only the result (Markdown, for a PR comment); pulumi's own
# output goes to stderr.
#
# Environment: PULUMI (pulumi), PY (the interpreter with the project's
# dependencies; default .venv/bin/python), TTL_DAYS (3), SMOKE_ATTEMPTS (60)
# and SMOKE_DELAY (10 s) between health probes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
PULUMI=${PULUMI:-pulumi}
PY=${PY:-$root/.venv/bin/python}
TTL_DAYS=${TTL_DAYS:-3}
SMOKE_ATTEMPTS=${SMOKE_ATTEMPTS:-60}
SMOKE_DELAY=${SMOKE_DELAY:-10}
BASE=dev
SKIP_IF_UNCONFIGURED=0
EXPIRES=""

log() { printf '[throwaway] %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}
usage() { die "usage: $0 [--skip-if-unconfigured] up [STACK] | destroy STACK"; }

# Fails closed: any doubt about the name, and nothing runs.
assert_throwaway() {
  local stack=$1
  case $stack in
    prod | dev | local | "")
      die "refusing to touch stack '$stack': only throwaway stacks (pr-<n>, tw-<user>-<date>-<rand>) go through here"
      ;;
  esac
  "$PY" -m mailstack.throwaway check "$stack" || die "refusing to touch stack '$stack'"
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
  pairs="$("$PY" -m mailstack.throwaway config "$stack" --ttl-days "$TTL_DAYS")"
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

cmd_up() {
  local stack=${1:-}
  if [[ -z $stack ]]; then
    stack="$("$PY" -m mailstack.throwaway name --user "${USER:-$(id -un)}")"
  fi
  assert_throwaway "$stack"
  require_backend up

  if stack_exists "$stack"; then
    log "stack $stack exists: updating it"
  else
    log "creating stack $stack"
    "$PULUMI" stack init "$stack" --secrets-provider passphrase --non-interactive >&2
  fi
  # Also for an existing stack: this runner may never have seen it.
  write_config "$stack"
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
  # drops it (and its volume and IPs) from the state. Then the remote steps
  # of a server that is gone leave the state without their delete scripts,
  # which would dial the old address, maybe someone else's server by now.
  "$PULUMI" refresh --stack "$stack" --yes --non-interactive --color never >&2
  local orphans urn dropped=0
  orphans="$("$PULUMI" stack export --stack "$stack" | "$PY" -m mailstack.teardown orphaned-steps)"
  while IFS= read -r urn; do
    [[ -n $urn ]] || continue
    log "server gone: dropping $urn from the state without running its delete script"
    "$PULUMI" state delete --stack "$stack" --yes "$urn" >&2
    dropped=$((dropped + 1))
  done <<<"$orphans"
  "$PULUMI" destroy --stack "$stack" --yes --non-interactive --color never >&2
  "$PULUMI" stack rm --yes --non-interactive "$stack" >&2
  printf "Throwaway stack \`%s\` destroyed and removed.\n" "$stack"
  if ((dropped)); then
    printf "Its server was gone (reaped): %s steps on it were dropped from the state unrun.\n" "$dropped"
  fi
}

cd "$root"
command -v "$PY" >/dev/null || die "no $PY: run make setup first, or set PY"
if [[ ${1:-} == --skip-if-unconfigured ]]; then
  SKIP_IF_UNCONFIGURED=1
  shift
fi
command=${1:-}
shift || true
if [[ $command == up && $# -le 1 ]]; then
  cmd_up "${1:-}"
elif [[ $command == destroy && $# -eq 1 ]]; then
  cmd_destroy "$1"
else
  usage
fi
