# Deploy service `app` of mailstack-local (rendered by mailstack).
# definition sha256: 15f2d69eac5db3b0aefe2185a166e3c9eb8a07beada6f9cb86987f0db956e3bd
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app.env.new'
mv 'env/app.env.new' 'env/app.env'
# Services deploy side by side, and concurrent `up`s of one project race to
# create its networks: the engine may make two of one name, and services end
# up apart (moby/moby#20648, docker/compose#10696). So the container, with
# its networks and volumes, is created under a lock on the host, one service
# at a time; starting it and waiting for it run unlocked. (A start-first
# update needs no lock: its old container is on the networks already.)
create() {
  flock -w 600 .deploy.lock docker compose up --no-start --no-deps 'app'
}
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! create || ! docker compose up -d --no-deps --wait 'app'; then
  echo "app: the new container did not turn healthy; nothing else serves until a release that does is deployed" >&2
  exit 1
fi
