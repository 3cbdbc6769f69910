# Deploy service `app` of mailstack-local (rendered by mailstack).
# definition sha256: f5de3fad7af9c6e4beab30a508fefed7e0797ae3e749881f24d2ff1641dec893
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
  docker compose up -d --no-deps --no-recreate --wait --scale 'app'="$((n + 1))" 'app'
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
