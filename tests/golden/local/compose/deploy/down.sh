# Stop mailstack-local when its files step is deleted, i.e. on `pulumi destroy`
# (rendered by mailstack). No -v: the volumes, and so the data, stay.
set -eu
cd build/local/compose 2>/dev/null || exit 0
if [ -e .keep-running ]; then
  # The step was replaced, not destroyed: its successor runs this project now.
  rm -f .keep-running
  exit 0
fi
if [ "$(cat .files-generation 2>/dev/null)" != 0600ce3f215e52f6 ]; then
  # A newer files step (a new server, connection or files) wrote the project.
  exit 0
fi
# COMPOSE_PROJECT_NAME overrides the name here as it does for every other step.
default_project=mailstack-local
docker compose -p "${COMPOSE_PROJECT_NAME:-$default_project}" down --remove-orphans
