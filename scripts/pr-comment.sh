#!/usr/bin/env bash
# Post BODY_FILE on a pull request as one comment per KIND, edited in place on
# later runs instead of piling up new comments.
#
#   scripts/pr-comment.sh PR_NUMBER KIND BODY_FILE     # KIND: preview, review-server, ...
#
# Uses the GitHub CLI with GH_TOKEN (the job's GITHUB_TOKEN, pull-requests: write)
# and GITHUB_REPOSITORY (owner/name), both set by GitHub Actions.
set -euo pipefail

GH=${GH:-gh}
if (($# != 3)); then
  echo "usage: $0 PR_NUMBER KIND BODY_FILE" >&2
  exit 2
fi
pr=$1 kind=$2 file=$3
[[ $pr =~ ^[1-9][0-9]*$ ]] || {
  echo "not a pull request number: $pr" >&2
  exit 2
}
[[ $kind =~ ^[a-z0-9-]+$ ]] || {
  echo "not a comment kind: $kind" >&2
  exit 2
}
repo=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY (owner/name) is not set}
marker="<!-- mailstack:$kind -->"
body="$marker"$'\n'"$(cat "$file")"

# Only the workflow's own comments: anyone can post a comment that starts with
# the marker, and the workflow must not edit (or be steered by) theirs.
author="github-actions[bot]"
ids="$("$GH" api --paginate "repos/$repo/issues/$pr/comments" \
  --jq ".[] | select(.user.login == \"$author\" and (.body | startswith(\"$marker\"))) | .id")"
if [[ -n $ids ]]; then
  "$GH" api --method PATCH "repos/$repo/issues/comments/${ids%%$'\n'*}" -f body="$body" >/dev/null
else
  "$GH" api --method POST "repos/$repo/issues/$pr/comments" -f body="$body" >/dev/null
fi
