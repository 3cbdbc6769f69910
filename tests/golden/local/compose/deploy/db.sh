# Deploy service `db` of mailstack-local (rendered by mailstack).
# definition sha256: 0e60feb4c268a47c6b5f9ab41a22528fb56d50682af734f0f29474f806527f25
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/db.env.new'
mv 'env/db.env.new' 'env/db.env'
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! docker compose up -d --no-deps --wait 'db'; then
  echo "db: the new container did not turn healthy; nothing else serves until a release that does is deployed" >&2
  exit 1
fi
