# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: ea29e04b6900ecc61ea3fe73c0f250d454f43c1de2535b3ee67c6ad6a7cd8280
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'proxy'
