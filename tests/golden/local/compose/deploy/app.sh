# Deploy service `app` of mailstack-local (rendered by mailstack).
# definition sha256: 15f2d69eac5db3b0aefe2185a166e3c9eb8a07beada6f9cb86987f0db956e3bd
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app.env.new'
mv 'env/app.env.new' 'env/app.env'
old="$(docker compose ps -a -q 'app')"
if [ -n "$old" ]; then
  # Start-first update: the new container joins the old one(s) and must turn
  # healthy before anything is stopped.
  n="$(printf '%s\n' "$old" | wc -l)"
  # If it does not (or the step is interrupted), remove every container that
  # is not an old one: the old ones keep serving, and the proxy stops seeing
  # the new one within a second instead of dialing it until the next deploy.
  # shellcheck disable=SC2317  # run by the EXIT trap
  rollback() {
    for c in $(docker compose ps -a -q 'app'); do
      case "$old" in
        *"$c"*) ;;
        *) docker stop -t 10 "$c" >/dev/null && docker rm -f "$c" >/dev/null ;;
      esac
    done
    echo "app: the new container did not turn healthy; removed it, the old one keeps serving" >&2
  }
  trap rollback EXIT
  trap 'exit 130' INT TERM
  docker compose up -d --no-deps --no-recreate --wait --scale 'app'="$((n + 1))" 'app'
  trap - EXIT INT TERM
  # The proxy re-resolves the service's containers every second.
  sleep 3
  # Stop the old ones gracefully: in-flight requests finish, new dials are
  # refused and the proxy retries them on the new container.
  for c in $old; do
    docker stop -t 30 "$c" >/dev/null
    docker rm "$c" >/dev/null
  done
  exit 0
fi
docker compose up -d --no-deps --wait 'app'
