# Pull every image mailstack-local runs, side by side (rendered by mailstack).
# It runs as soon as the host's Docker engine is up; each service's deploy
# step waits for it, so no step pulls on its own.
set -eu
pull() {
  # An image already on the host stays, as compose's `pull_policy: missing`
  # keeps it: a pinned tag or digest names one image, and locally built
  # images (the local stack) are never looked up in a registry.
  if docker image inspect "$1" >/dev/null 2>&1; then
    return 0
  fi
  for attempt in 1 2 3; do
    if docker pull -q "$1" >/dev/null; then
      return 0
    fi
    sleep "$((attempt * 5))"
  done
  echo "could not pull $1" >&2
  return 1
}
pids=""
pull axllent/mailpit:v1.20.4 &
pids="$pids $!"
pull caddy:2.11.7 &
pids="$pids $!"
pull listmonk/listmonk:v5.0.3 &
pids="$pids $!"
pull postgres:17.5 &
pids="$pids $!"
failed=0
for pid in $pids; do
  wait "$pid" || failed=1
done
exit "$failed"
