#!/usr/bin/env bash
# `pulumi preview --diff` of stacks (dev and prod unless named), written as a
# Markdown report for a pull-request comment and the job summary.
#
#   scripts/pr-preview.sh [REPORT [STACK...]]     # default: build/preview.md dev prod
#
# The preview workflow runs one stack per job, so that each job gets only its
# own stack's passphrase (its GitHub environment's secret).
#
# Needs the self-managed state backend and the passphrase secrets provider:
#   PULUMI_BACKEND_URL        e.g. s3://BUCKET/mailstack?endpoint=fsn1.your-objectstorage.com&region=fsn1
#   PULUMI_CONFIG_PASSPHRASE  (or PULUMI_CONFIG_PASSPHRASE_FILE)
# and what the backend and providers read (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
# for the bucket; hcloud:token and cloudflare:apiToken as stack secrets or
# HCLOUD_TOKEN/CLOUDFLARE_API_TOKEN). Without the first two (a repository whose
# environments are not set up yet) it writes a "skipped" report and exits 0.
#
# Runs `pulumi preview` and nothing else: a preview never changes a stack.
# Exits 1 when a preview fails, after writing the whole report.
set -euo pipefail

PULUMI=${PULUMI:-pulumi}
# A PR comment holds 65536 characters; keep room for two stacks and the frame.
MAX_CHARS=${PREVIEW_MAX_CHARS:-30000}
REPORT=${1:-build/preview.md}
STACKS=("${@:2}")
if ((${#STACKS[@]} == 0)); then STACKS=(dev prod); fi
for stack in "${STACKS[@]}"; do
  [[ $stack =~ ^[a-z0-9][a-z0-9-]*$ ]] || {
    echo "not a stack name: $stack" >&2
    exit 2
  }
done

log() { printf '[pr-preview] %s\n' "$*" >&2; }

# Also show the report on the workflow run's summary page when there is one.
publish() {
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then cat "$REPORT" >>"$GITHUB_STEP_SUMMARY"; fi
}

cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$REPORT")"

if [[ -z ${PULUMI_BACKEND_URL:-} || -z ${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-} ]]; then
  reason="pulumi preview skipped: PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE are not set"
  reason+=" (secrets of the job's GitHub environment: docs/reviewing.md)."
  log "$reason"
  printf '### pulumi preview\n\n%s\n' "$reason" >"$REPORT"
  publish
  exit 0
fi

status=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{
  printf '### pulumi preview\n'
  for stack in "${STACKS[@]}"; do
    log "pulumi preview --diff --stack $stack"
    # The whole output goes to the job log; the comment gets the first MAX_CHARS.
    if "$PULUMI" preview --stack "$stack" --diff --non-interactive --color never 2>&1 |
      tee "$tmp/$stack.log" >&2; then
      result="ok"
    else
      result="**failed**"
      status=1
    fi
    printf '\n<details><summary><code>%s</code>: %s</summary>\n\n```diff\n' "$stack" "$result"
    head -c "$MAX_CHARS" "$tmp/$stack.log"
    if (($(wc -c <"$tmp/$stack.log") > MAX_CHARS)); then
      printf '\n... (cut at %s characters; the job log has the rest)' "$MAX_CHARS"
    fi
    printf '\n```\n</details>\n'
  done
} >"$REPORT"
publish
exit "$status"
