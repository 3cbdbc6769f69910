# Deploy service `mailpit` of mailstack-local (rendered by mailstack).
# definition sha256: 979b0bea17ef0245434d68eafc38c9133b4d67db587b8d4caa499a3460925c74
set -eu
cd 'build/local/compose'
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! docker compose up -d --no-deps --wait 'mailpit'; then
  echo "mailpit: the new container did not turn healthy; nothing else serves until a release that does is deployed" >&2
  exit 1
fi
