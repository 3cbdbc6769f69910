#!/bin/bash
# Pick up the journal size limits.
set -euo pipefail
systemctl restart systemd-journald.service
