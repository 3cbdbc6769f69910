# Deploy service `db` of mailstack-local (rendered by mailstack).
# definition sha256: 0e60feb4c268a47c6b5f9ab41a22528fb56d50682af734f0f29474f806527f25
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/db.env.new'
mv 'env/db.env.new' 'env/db.env'
docker compose up -d --no-deps --wait 'db'
