# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: 0ddf9aa16843d3425fe8c55b012c27995ec52fa56449ee6e09ead912d7ac89c5
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'proxy'
