#!/bin/bash
# Run the first-boot steps named as arguments, in order, from this directory.
# Every step runs even after one fails (they are independent: a host whose
# SSH is hardened but whose fail2ban failed is better off than one with
# neither), and then the boot fails if any step did. cloud-init's runcmd is a
# plain sh script whose status is only that of its last command, so without
# this a failed step in the middle would pass unnoticed. The marker tells the
# deploy's wait step that every step succeeded.
set -uo pipefail
dir="$(dirname "$(readlink -f "$0")")"
state_dir=${MAILSTACK_STATE_DIR:-/var/lib/mailstack}
failed=()
for step in "$@"; do
  echo "mailstack first boot: $step"
  if ! "$dir/$step.sh"; then
    echo "mailstack first boot: step $step failed" >&2
    failed+=("$step")
  fi
done
if ((${#failed[@]})); then
  echo "mailstack first boot: failed steps: ${failed[*]}" >&2
  exit 1
fi
install -d -m 0755 "$state_dir"
date -u +%Y-%m-%dT%H:%M:%SZ >"$state_dir/firstboot.done"
