#!/bin/bash
# Apply the SSH hardening drop-in: check the whole config first, so a bad
# file can never take sshd down and lock everybody out.
set -euo pipefail
# Ubuntu 24.04 starts sshd by socket activation, so the privilege separation
# directory that `sshd -t` insists on may not exist yet.
install -d -m 0755 /run/sshd
sshd -t
systemctl try-reload-or-restart ssh.service
