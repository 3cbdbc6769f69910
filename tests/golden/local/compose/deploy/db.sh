# Deploy service `db` of mailstack-local (rendered by mailstack).
# definition sha256: 6f954b81f3594d429f6bc99e403f2cf35c968121f9aadddc71ef3d5c04628548
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/db.env.new'
mv 'env/db.env.new' 'env/db.env'
docker compose up -d --no-deps --wait 'db'
