#!/bin/bash
# Time sync: keep chrony if the image uses it, otherwise systemd-timesyncd
# with Hetzner's NTP servers (DKIM signatures and TLS need a correct clock).
set -euo pipefail
if systemctl is-active --quiet chrony.service; then
  exit 0
fi
if ! [[ -x /lib/systemd/systemd-timesyncd || -x /usr/lib/systemd/systemd-timesyncd ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd-timesyncd
fi
timedatectl set-ntp true
systemctl restart systemd-timesyncd.service
