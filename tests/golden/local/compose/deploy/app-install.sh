# Deploy service `app-install` of mailstack-local (rendered by mailstack).
# definition sha256: ab992a36ab4395c93379d980441ecf5818888909dc71e8e279a418e0752af7b7
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd build/local/compose
umask 077
mkdir -p env
cat > env/app-install.env.new
mv env/app-install.env.new env/app-install.env
# Services deploy side by side, and concurrent `up`s of one project race to
# create its networks: the engine may make two of one name, and services end
# up apart (moby/moby#20648, docker/compose#10696). So the container, with
# its networks and volumes, is created under a lock on the host, one service
# at a time; starting it and waiting for it run unlocked. (A start-first
# update needs no lock: its old container is on the networks already.)
create() {
  flock -w 600 .deploy.lock docker compose up --no-start --no-deps app-install
}
# Release history, the pre-update snapshot and the rollback: mailstack-release
# (written by the files step; docs/updates.md). `begin` fails, and so stops
# this step before anything changes, when the pre-update snapshot fails.
release() {
  RELEASES_DIR=../../local-releases BACKUP_BIN='' \
    MIGRATION_CONSUMER=0 bash ./mailstack-release "$@"
}
release begin app-install migrates
# A one-shot job: run it to completion; its exit code is the step's.
create
status=0
docker compose up --no-deps --no-log-prefix --exit-code-from app-install app-install || status=$?
if [ "$status" -ne 0 ]; then
  release failed app-install "the job exited with status $status" || true
  exit "$status"
fi
release commit app-install
