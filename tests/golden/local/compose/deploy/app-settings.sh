# Deploy service `app-settings` of mailstack-local (rendered by mailstack).
# definition sha256: 176359399acc4a72550674170c1dab5cbfaa66d3d75e46ee67160a97952bbc98
# stdin: the service's env file (its secrets); never echoed.
set -eu
cd 'build/local/compose'
umask 077
mkdir -p env
cat > 'env/app-settings.env.new'
mv 'env/app-settings.env.new' 'env/app-settings.env'
# A one-shot job: run it to completion; its exit code is the step's.
docker compose up --no-deps --no-log-prefix --exit-code-from 'app-settings' 'app-settings'
