#!/bin/bash
# Apply the SSH hardening drop-in: check the whole config first, so a bad
# file can never take sshd down and lock everybody out.
set -euo pipefail
sshd -t
systemctl try-reload-or-restart ssh.service
