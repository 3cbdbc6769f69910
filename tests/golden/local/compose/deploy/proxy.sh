# Deploy service `proxy` of mailstack-local (rendered by mailstack).
# definition sha256: a4e259a38c1329f9e5a6f4c94b01cdfc9f6ca8b777a3b6e2d339e703ad787605
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'proxy'
