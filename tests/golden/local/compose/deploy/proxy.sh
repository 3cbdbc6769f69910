# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: 2f13498a0a8b4196213dbd158adf6aa6e85333333f1492075b51ae207bf36fc4
set -eu
cd 'build/local/compose'
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! docker compose up -d --no-deps --wait 'proxy'; then
  echo "proxy: the new container did not turn healthy; nothing else serves until a release that does is deployed" >&2
  exit 1
fi
