# Deploy service `app-settings` of mailstack-local (rendered by mailstack).
# definition sha256: 176359399acc4a72550674170c1dab5cbfaa66d3d75e46ee67160a97952bbc98
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd build/local/compose
umask 077
mkdir -p env
cat > env/app-settings.env.new
mv env/app-settings.env.new env/app-settings.env
# Services deploy side by side, and concurrent `up`s of one project race to
# create its networks: the engine may make two of one name, and services end
# up apart (moby/moby#20648, docker/compose#10696). So the container, with
# its networks and volumes, is created under a lock on the host, one service
# at a time; starting it and waiting for it run unlocked. (A start-first
# update needs no lock: its old container is on the networks already.)
create() {
  flock -w 600 .deploy.lock docker compose up --no-start --no-deps app-settings
}
# Release history, the pre-update snapshot and the rollback: mailstack-release
# (written by the files step; docs/updates.md). `begin` fails, and so stops
# this step before anything changes, when the pre-update snapshot fails.
release() {
  RELEASES_DIR=../../local-releases BACKUP_BIN='' \
    MIGRATION_CONSUMER=0 bash ./mailstack-release "$@"
}
release begin app-settings
# A one-shot job: run it to completion; its exit code is the step's.
create
status=0
docker compose up --no-deps --no-log-prefix --exit-code-from app-settings app-settings || status=$?
if [ "$status" -ne 0 ]; then
  release failed app-settings "the job exited with status $status" || true
  exit "$status"
fi
release commit app-settings
