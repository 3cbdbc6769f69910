#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock, as root.
# With systemd the docker service is started; build machines and CI have no
# init system running services, so there dockerd is started in the background
# here and keeps running after this script exits.
# Idempotent: if `docker info` already works, nothing happens.
#
#   scripts/start-docker.sh            # then: docker info / docker compose ...
#
# Debian 12's dockerd 20.10 works here with its defaults (overlay2 on ext4,
# iptables via nftables, default bridge with NAT), so no extra flags are set.
set -euo pipefail

LOG=/var/log/dockerd.log
TIMEOUT=60

log() { printf '[start-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  log "dockerd already running"
  exit 0
fi

command -v dockerd >/dev/null || {
  log "dockerd not installed: run scripts/install-tools.sh first"
  exit 1
}

# A machine booted with systemd (a desktop, a VM) runs dockerd as its service.
if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
  log "systemctl start docker"
  systemctl start docker
fi
if docker info >/dev/null 2>&1; then
  log "dockerd ready"
  exit 0
fi

log "starting dockerd (log: $LOG)"
# setsid + nohup: detach from this shell's session so the daemon survives the
# end of the CI step or terminal that started it.
setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &

for ((i = 0; i < TIMEOUT; i++)); do
  if docker info >/dev/null 2>&1; then
    log "dockerd ready after ${i}s"
    exit 0
  fi
  sleep 1
done

log "dockerd did not answer within ${TIMEOUT}s; last lines of $LOG:"
tail -n 30 "$LOG" >&2
exit 1
