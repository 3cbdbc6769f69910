# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: 2f13498a0a8b4196213dbd158adf6aa6e85333333f1492075b51ae207bf36fc4
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'proxy'
