#!/bin/bash
# Start fail2ban with the sshd jail (installed before its config was read on
# some images) and fail the boot if the jail is not up.
set -euo pipefail
systemctl enable fail2ban.service
systemctl restart fail2ban.service
for _ in $(seq 1 30); do
  fail2ban-client status sshd && exit 0
  sleep 1
done
echo "fail2ban's sshd jail did not start" >&2
exit 1
