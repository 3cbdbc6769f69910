# mailstack: re-apply the host's access settings (the script below, as root).
set -eu
script="$(mktemp)"
trap 'rm -f "$script"' EXIT
cat >"$script" <<'MAILSTACK_ACCESS'
#!/bin/bash
# Re-apply the host's access settings, rendered by mailstack from the stack's
# sshPublicKeys, adminCidrs and firewallExtraTcpPorts: the admin user's
# authorized_keys, UFW's rules and fail2ban's ignore list. It runs as root
# after the first boot and again whenever those settings change, and every
# part of it is idempotent. $1 is the address this deploy connects from.
set -euo pipefail
client=${1:-}
user=mailadmin

# Never apply rules that would shut out the connection this runs on.
if [[ -n $client ]] && ! python3 -c '
import ipaddress, sys
address = ipaddress.ip_address(sys.argv[1])
address = getattr(address, "ipv4_mapped", None) or address
sys.exit(not any(address in ipaddress.ip_network(n, strict=False) for n in sys.argv[2:]))
' "$client" 198.51.100.7/32; then
  echo "this deploy connects from $client, which the new adminCidrs do not admit to SSH:" \
    "applying them would lock it out; keep a block that includes it" >&2
  exit 1
fi

# The admin user exists from the first boot on; cloud-init alone creates it.
if ! home="$(getent passwd "$user" | cut -d: -f6)" || [[ -z $home ]]; then
  echo "the admin user $user does not exist on this host: adminUser is created at first" \
    "boot only, so changing it needs a rebuild of the server" >&2
  exit 1
fi
group="$(id -gn "$user")"

# authorized_keys: replaced whole (a removed key is revoked), atomically.
keys=(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmailstackExampleKeyReplaceMeWithYours00000 admin@laptop'
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI270af62c92e61e00460ae506ce7ec5876932d07b4fc'
)
if [[ -z ${keys[0]:-} ]]; then
  echo "refusing to write an empty authorized_keys for $user" >&2
  exit 1
fi
install -d -m 0700 -o "$user" -g "$group" "$home/.ssh"
keys_tmp="$(mktemp "$home/.ssh/.authorized_keys.XXXXXX")"
trap 'rm -f "$keys_tmp" "${jail_tmp:-}"' EXIT
printf '%s\n' "${keys[@]}" >"$keys_tmp"
chown "$user:$group" "$keys_tmp"
chmod 0600 "$keys_tmp"
mv -f "$keys_tmp" "$home/.ssh/authorized_keys"

# UFW: default deny inbound, mirroring the cloud firewall's rules (generated
# from the same data), so the host stays closed if the cloud firewall is ever
# detached. ICMP echo is allowed by UFW's before.rules. Each rule's comment is
# its key and this rule set's tag: this set's rules are added (or re-tagged in
# place) first, and only then are the rules of earlier sets deleted, so the
# rule that admits the current connection is never missing in between.
ufw default deny incoming
ufw default allow outgoing
ufw allow proto tcp from 198.51.100.7/32 to any port 22 comment 'in-tcp-22 mailstack-e8550048d9'
ufw allow proto tcp to any port 80 comment 'in-tcp-80 mailstack-e8550048d9'
ufw allow proto tcp to any port 443 comment 'in-tcp-443 mailstack-e8550048d9'
if [[ "$(ufw status)" != "Status: active"* ]]; then
  ufw --force enable
fi
# Earlier sets' rules, and the untagged ones older first boots wrote: deleted
# highest number first, so the numbers still to delete stay valid.
stale=()
while read -r number comment; do
  if [[ $comment =~ ^in-[a-z0-9-]+( mailstack-[0-9a-f]+)?$ && $comment != *" "mailstack-e8550048d9 ]]; then
    stale=("$number" "${stale[@]}")
  fi
done < <(ufw status numbered | sed -n -E 's/^\[ *([0-9]+)\] .* # (.*)$/\1 \2/p')
for number in "${stale[@]}"; do
  ufw --force delete "$number"
done
ufw status verbose

# fail2ban never bans the admin networks: its jail, replaced atomically, then
# reloaded (started, if it is not running).
jail=/etc/fail2ban/jail.d/50-mailstack-sshd.local
jail_tmp="$(mktemp "$jail.XXXXXX")"
cat >"$jail_tmp" <<'MAILSTACK_EOF'
# mailstack: ban SSH brute force. Read sshd's journal (Debian 12 and Ubuntu
# 24.04 have no /var/log/auth.log without rsyslog); never ban the admin networks.
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1 198.51.100.7/32

[sshd]
enabled = true
backend = systemd
port = ssh
maxretry = 5
findtime = 10m
bantime = 1h
MAILSTACK_EOF
chmod 0644 "$jail_tmp"
mv -f "$jail_tmp" "$jail"
systemctl reload-or-restart fail2ban.service
for _ in $(seq 1 30); do
  fail2ban-client status sshd >/dev/null 2>&1 && break
  sleep 1
done
fail2ban-client get sshd ignoreip
MAILSTACK_ACCESS
client="${SSH_CLIENT:-}"
sudo -n bash "$script" "${client%% *}"
