# Deploy service `mailpit` of mailstack-local (rendered by mailstack).
# definition sha256: 979b0bea17ef0245434d68eafc38c9133b4d67db587b8d4caa499a3460925c74
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'mailpit'
