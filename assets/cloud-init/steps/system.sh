#!/bin/bash
# Kernel and account hardening whose files cloud-init wrote (sysctl, core
# dumps, needrestart, banner): apply what needs applying, tighten the rest.
set -euo pipefail
# systemd-sysctl ran before cloud-init wrote the drop-in. It skips itself
# where /proc/sys is read-only (containers).
systemctl restart systemd-sysctl.service
# Home directories: the owner's group may enter, nobody else (useradd reads
# HOME_MODE, adduser DIR_MODE, for users made later).
for home in /home/*/; do chmod 0750 "$home"; done
chmod 0700 /root
# No account has a password (keys only), so these cost nothing; password
# expiry (PASS_MAX_DAYS) is left out: an expired password blocks key logins too.
for setting in 'HOME_MODE 0750' 'PASS_MIN_DAYS 1' \
  'SHA_CRYPT_MIN_ROUNDS 65536' 'SHA_CRYPT_MAX_ROUNDS 65536'; do
  name=${setting%% *}
  sed -i -E "/^#?${name}[[:space:]]/d" /etc/login.defs
  printf '%s\t%s\n' "$name" "${setting#* }" >>/etc/login.defs
done
if [[ -f /etc/adduser.conf ]]; then
  sed -i -E 's/^#?DIR_MODE=.*/DIR_MODE=0750/' /etc/adduser.conf
fi
# sysstat's collector (sar): load history when diagnosing the host.
# (Debian 12 and Ubuntu 24.04 switch it on here; newer packages collect by
# their timer alone.)
if [[ -f /etc/default/sysstat ]]; then
  sed -i 's/^ENABLED=.*/ENABLED="true"/' /etc/default/sysstat
fi
systemctl enable --now sysstat.service
# The assembler comes with needrestart (binutils): root only, and dpkg keeps
# that through upgrades.
as=$(readlink -f "$(command -v as)") || true
if [[ -n $as ]] && ! dpkg-statoverride --list "$as" >/dev/null; then
  dpkg-statoverride --update --add root root 0750 "$as"
fi
