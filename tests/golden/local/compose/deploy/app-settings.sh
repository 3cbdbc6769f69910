# Deploy service `app-settings` of mailstack-local (rendered by mailstack).
# definition sha256: 88d88d80914994879095fe0ad888458884e4ed9d63ab80aa9cf50062a8ccbb6d
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app-settings.env.new'
mv 'env/app-settings.env.new' 'env/app-settings.env'
# A one-shot job: run it to completion; its exit code is the step's.
docker compose up --no-deps --no-log-prefix --exit-code-from 'app-settings' 'app-settings'
