# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: 216c6275b8255254c08c7d7cb67e0956aafd8f0f80a815a52491b453611f1b8f
set -eu
cd build/local/compose
# Services deploy side by side, and concurrent `up`s of one project race to
# create its networks: the engine may make two of one name, and services end
# up apart (moby/moby#20648, docker/compose#10696). So the container, with
# its networks and volumes, is created under a lock on the host, one service
# at a time; starting it and waiting for it run unlocked. (A start-first
# update needs no lock: its old container is on the networks already.)
create() {
  flock -w 600 .deploy.lock docker compose up --no-start --no-deps proxy
}
# Release history, the pre-update snapshot and the rollback: mailstack-release
# (written by the files step; docs/updates.md). `begin` fails, and so stops
# this step before anything changes, when the pre-update snapshot fails.
release() {
  RELEASES_DIR=../../local-releases BACKUP_BIN='' \
    MIGRATION_CONSUMER=0 bash ./mailstack-release "$@"
}
release begin proxy
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! create || ! docker compose up -d --no-deps --wait proxy; then
  # The last good release (image by id, compose definition, env file) comes
  # back by itself, its database too when this release migrated it; the step
  # fails all the same, with the reason.
  printf '%s: the new container did not turn healthy; rolling back\n' proxy >&2
  release fail proxy "the new container did not turn healthy"
  exit 1
fi
release commit proxy
