#!/bin/bash
# The Docker engine with daemon.json already in place, and Compose v2.
set -euo pipefail
systemctl enable --now docker.service
docker info --format '{{.ServerVersion}} live-restore={{.LiveRestoreEnabled}}'
docker compose version
