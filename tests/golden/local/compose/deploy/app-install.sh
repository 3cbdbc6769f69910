# Deploy service `app-install` of mailstack-local (rendered by mailstack).
# definition sha256: ab992a36ab4395c93379d980441ecf5818888909dc71e8e279a418e0752af7b7
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app-install.env.new'
mv 'env/app-install.env.new' 'env/app-install.env'
# A one-shot job: run it to completion; its exit code is the step's.
docker compose up --no-deps --no-log-prefix --exit-code-from 'app-install' 'app-install'
