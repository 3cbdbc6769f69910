#!/usr/bin/env bash
# Synth every stack at BASE (a commit) and at the working tree, and write the
# diff of the two build/ trees as Markdown: what a pull request changes in the
# rendered infrastructure. Needs no secret and no cloud account.
#
#   scripts/synth-diff.sh BASE [REPORT]          # default REPORT: build/synth-diff.md
#
# graph.svg is left out: graphviz versions lay it out differently.
set -euo pipefail

STACKS=(local dev prod)
MAX_CHARS=${SYNTH_DIFF_MAX_CHARS:-200000} # the job summary holds 1 MiB
if (($# < 1)); then
  echo "usage: $0 BASE [REPORT]" >&2
  exit 2
fi
base=$1
root="$(cd "$(dirname "$0")/.." && pwd)"
report="$(realpath -m "${2:-$root/build/synth-diff.md}")"
PY=${PY:-$root/.venv/bin/python}
cd "$root"
base_sha="$(git rev-parse --verify "$base^{commit}")"

tmp="$(mktemp -d)"
cleanup() {
  git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add --detach --quiet "$tmp/base" "$base_sha"

# synth writes into OUT/<stack>; -m runs the mailstack package of the cwd.
# Explicit returns: callers test this function, which turns errexit off inside.
synth_all() {
  local dir=$1 out=$2 stack
  for stack in "${STACKS[@]}"; do
    [[ -f $dir/Pulumi.$stack.yaml ]] || continue
    (cd "$dir" && "$PY" -m tools.synth --stack "$stack" --out "$out") >&2 || return 1
    rm -f "$out/$stack/graph.svg"
  done
}
mkdir -p "$tmp/before" "$tmp/after" "$(dirname "$report")"
base_note=""
if ! synth_all "$tmp/base" "$tmp/before"; then
  base_note="The base commit does not synth; the diff shows everything as added."
  rm -rf "$tmp/before" && mkdir -p "$tmp/before"
fi
synth_all "$root" "$tmp/after"

# diff exits 1 when the trees differ, 2 on trouble; header timestamps are noise.
rc=0
(cd "$tmp" && diff -ruN before after) >"$tmp/raw" || rc=$?
((rc <= 1)) || exit "$rc"
sed -E $'s/^((---|[+]{3}) [^\t]+)\t.*$/\\1/' "$tmp/raw" >"$tmp/diff"
{
  printf "### Rendered infrastructure (\`make synth-all\`) against %s\n\n" "${base_sha:0:12}"
  if [[ -n $base_note ]]; then printf '%s\n\n' "$base_note"; fi
  if [[ -s $tmp/diff ]]; then
    printf '```diff\n'
    head -c "$MAX_CHARS" "$tmp/diff"
    if (($(wc -c <"$tmp/diff") > MAX_CHARS)); then
      printf '\n... (cut at %s characters)' "$MAX_CHARS"
    fi
    printf '\n```\n'
  else
    printf 'No change in any stack.\n'
  fi
} >"$report"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then cat "$report" >>"$GITHUB_STEP_SUMMARY"; fi
