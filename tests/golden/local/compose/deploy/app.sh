# Deploy service `app` of mailstack-local (rendered by mailstack).
# definition sha256: 15f2d69eac5db3b0aefe2185a166e3c9eb8a07beada6f9cb86987f0db956e3bd
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app.env.new'
mv 'env/app.env.new' 'env/app.env'
# Recreate: compose stops the old container before it starts the new one, so
# the two never run at once; the proxy holds requests in between.
if ! docker compose up -d --no-deps --wait 'app'; then
  echo "app: the new container did not turn healthy; nothing else serves until a release that does is deployed" >&2
  exit 1
fi
