#!/bin/bash
# Apply the SSH hardening drop-in: check the whole config first, so a bad
# file can never take sshd down and lock everybody out.
set -euo pipefail
# Host keys: ed25519 (cloud-init made it) and RSA 4096, the only two the
# drop-in names; the image's others (ECDSA) go.
rm -f /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_ecdsa_key.pub \
  /etc/ssh/ssh_host_dsa_key /etc/ssh/ssh_host_dsa_key.pub
key=/etc/ssh/ssh_host_ed25519_key
[[ -s $key ]] || ssh-keygen -q -t ed25519 -N '' -C '' -f "$key"
key=/etc/ssh/ssh_host_rsa_key
if [[ ! -s $key || "$(ssh-keygen -l -f "$key" | cut -d' ' -f1)" != 4096 ]]; then
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t rsa -b 4096 -N '' -C '' -f "$key"
fi
# Group exchange only with primes of 3072 bits and more (moduli lists size-1).
awk '$5 >= 3071' /etc/ssh/moduli >/etc/ssh/moduli.mailstack
mv /etc/ssh/moduli.mailstack /etc/ssh/moduli
# New SSH connections per source address: 1/s after a burst of 10 (the
# DHEat flood, CVE-2002-20001). A token bucket, so a client's retries get
# through once it slows down. In UFW's before rules, so UFW keeps it.
for family in "" 6; do
  rules=/etc/ufw/before$family.rules
  grep -q mailstack-ssh-rate "$rules" && continue
  mask=$([[ $family ]] && echo 64 || echo 32)
  match="-p tcp --dport 22 -m conntrack --ctstate NEW -m hashlimit"
  match+=" --hashlimit-name mailstack-ssh-rate$family --hashlimit-mode srcip"
  match+=" --hashlimit-srcmask $mask --hashlimit-above 1/second --hashlimit-burst 10"
  # A kernel without the match would stop UFW from loading at all: probe it.
  # shellcheck disable=SC2086 # $match is a list of words
  if ! { "ip${family}tables" -N mailstack-probe && "ip${family}tables" -A mailstack-probe $match -j DROP; }; then
    echo "ssh step: no IPv${family:-4} hashlimit in this kernel, no per-source rate limit" >&2
    "ip${family}tables" -F mailstack-probe 2>/dev/null || true
    "ip${family}tables" -X mailstack-probe 2>/dev/null || true
    continue
  fi
  "ip${family}tables" -F mailstack-probe
  "ip${family}tables" -X mailstack-probe
  # Before the COMMIT of the filter table (the files have no other table);
  # the IPv6 chains are ufw6-*.
  awk -v rule="-A ufw${family}-before-input $match -j DROP" \
    '$0 == "COMMIT" && !done { print rule; done = 1 } { print }' "$rules" >"$rules.mailstack"
  cat "$rules.mailstack" >"$rules"
  rm "$rules.mailstack"
done
if ufw status | grep -q '^Status: active'; then ufw reload; fi
# Ubuntu 24.04 starts sshd by socket activation, so the privilege separation
# directory that `sshd -t` insists on may not exist yet.
install -d -m 0755 /run/sshd
sshd -t
systemctl try-reload-or-restart ssh.service
