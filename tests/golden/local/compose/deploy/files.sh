# Write mailstack-local's compose files into build/local/compose (rendered by mailstack).
set -eu
mkdir -p build/local/compose
cd build/local/compose
mkdir -p "$(dirname Caddyfile)"
cat > Caddyfile.new <<'MAILSTACK_EOF'
# mailstack-local: rendered by mailstack (components/services); do not edit.
{
	# Local stack: plain HTTP, published on 127.0.0.1 only.
	auto_https off
	admin localhost:2019
}

(hardening) {
	encode zstd gzip
	header {
		X-Content-Type-Options "nosniff"
		X-Frame-Options "SAMEORIGIN"
		Referrer-Policy "strict-origin-when-cross-origin"
		Permissions-Policy "camera=(), microphone=(), geolocation=()"
		-Server
	}
}

(upstream_policy) {
	# Every container of a service is its own upstream (Docker DNS returns
	# one A record per container), so an update can start the new container
	# before the old one stops; failed dials are retried on the others.
	lb_policy round_robin
	lb_try_duration 10s
	lb_try_interval 100ms
	fail_duration 10s
	max_fails 1
	unhealthy_status 502 503 504
	# A container that just stopped may still be in the last DNS answer;
	# dials to its address hang, so give up quickly and try another.
	transport http {
		dial_timeout 1s
	}
}

:80 {
	import hardening
	# `route` runs these blocks in the order written. Outside it Caddy orders
	# handlers by directive (every `handle` before any `respond`) and by path
	# length, which would put the proxy before the admin check.
	route {
		handle {
			reverse_proxy {
				dynamic a {
					name app
					port 9000
					refresh 1s
				}
				import upstream_policy
			}
		}
	}
}

# The mail sink's web UI (local stack only).
:8025 {
	import hardening
	reverse_proxy mailpit:8025
}
MAILSTACK_EOF
mv Caddyfile.new Caddyfile
mkdir -p "$(dirname compose.yaml)"
cat > compose.yaml.new <<'MAILSTACK_EOF'
# mailstack-local: rendered by mailstack (components/services); do not edit.
# Secrets are in env/<service>.env (mode 0600), never in this file.
name: mailstack-local
services:
  proxy:
    image: caddy:2.11.7
    pull_policy: missing
    command:
    - caddy
    - run
    - --config
    - /etc/caddy/Caddyfile
    - --adapter
    - caddyfile
    restart: unless-stopped
    environment:
      XDG_CONFIG_HOME: /config
      XDG_DATA_HOME: /data
    ports:
    - 127.0.0.1:8080:80
    - 127.0.0.1:8025:8025
    volumes:
    - caddy-data:/data
    - caddy-config:/config
    - ./Caddyfile:/etc/caddy/Caddyfile:ro
    tmpfs:
    - /tmp
    read_only: true
    networks:
    - edge
    - internal
    healthcheck:
      test:
      - CMD
      - wget
      - -q
      - -O
      - /dev/null
      - http://127.0.0.1:2019/config/
      interval: 5s
      timeout: 5s
      retries: 6
      start_period: 30s
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    cap_add:
    - NET_BIND_SERVICE
    mem_limit: 256m
    memswap_limit: 256m
    cpus: 1.0
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.files-sha256: 0270aae1e23a28e8f8cb61ac377fc2702a247f9c417d94d060fdef9e2f68eea4
      org.mailstack.role: proxy
  db:
    image: postgres:17.5
    pull_policy: missing
    restart: unless-stopped
    environment:
      POSTGRES_DB: listmonk
      POSTGRES_USER: listmonk
    env_file:
    - env/db.env
    x-secret-env:
    - POSTGRES_PASSWORD
    volumes:
    - db-data:/var/lib/postgresql/data
    tmpfs:
    - /var/run/postgresql
    - /tmp
    read_only: true
    networks:
    - internal
    healthcheck:
      test:
      - CMD
      - pg_isready
      - -U
      - listmonk
      - -d
      - listmonk
      interval: 5s
      timeout: 5s
      retries: 6
      start_period: 30s
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    cap_add:
    - CHOWN
    - DAC_OVERRIDE
    - FOWNER
    - SETGID
    - SETUID
    mem_limit: 512m
    memswap_limit: 512m
    cpus: 1.0
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.role: database
  app-install:
    image: listmonk/listmonk:v5.0.3
    pull_policy: missing
    command:
    - sh
    - -c
    - ./listmonk --install --idempotent --yes --config '' && ./listmonk --upgrade --yes --config ''
    restart: 'no'
    environment:
      LISTMONK_ADMIN_USER: admin
      LISTMONK_db__database: listmonk
      LISTMONK_db__host: db
      LISTMONK_db__port: '5432'
      LISTMONK_db__ssl_mode: disable
      LISTMONK_db__user: listmonk
      TZ: Etc/UTC
    env_file:
    - env/app-install.env
    x-secret-env:
    - LISTMONK_ADMIN_PASSWORD
    - LISTMONK_db__password
    tmpfs:
    - /tmp
    read_only: true
    networks:
    - internal
    depends_on:
      db:
        condition: service_healthy
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    mem_limit: 256m
    memswap_limit: 256m
    cpus: 0.5
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.role: job
  app-settings:
    image: postgres:17.5
    pull_policy: missing
    command:
    - psql
    - -q
    - -f
    - /setup/listmonk-settings.sql
    user: postgres
    restart: 'no'
    environment:
      MAIL_FROM: noreply@mailstack.localhost
      PGDATABASE: listmonk
      PGHOST: db
      PGUSER: listmonk
      SES_FEEDBACK: 'false'
      SMTP_AUTH: none
      SMTP_HOST: mailpit
      SMTP_PORT: '1025'
      SMTP_TLS: none
      SMTP_USERNAME: ''
    env_file:
    - env/app-settings.env
    x-secret-env:
    - PGPASSWORD
    volumes:
    - ./listmonk-settings.sql:/setup/listmonk-settings.sql:ro
    tmpfs:
    - /tmp
    read_only: true
    networks:
    - internal
    depends_on:
      app-install:
        condition: service_completed_successfully
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    mem_limit: 64m
    memswap_limit: 64m
    cpus: 0.25
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.files-sha256: 66a2eeb6f45c76bbc0524d2c04027d53522285d129dbdb1b68058b9715ff145b
      org.mailstack.role: job
  app:
    image: listmonk/listmonk:v5.0.3
    pull_policy: missing
    command:
    - ./listmonk
    - --config
    - ''
    restart: unless-stopped
    environment:
      LISTMONK_app__address: 0.0.0.0:9000
      LISTMONK_app__root_url: http://localhost:8080
      LISTMONK_db__database: listmonk
      LISTMONK_db__host: db
      LISTMONK_db__port: '5432'
      LISTMONK_db__ssl_mode: disable
      LISTMONK_db__user: listmonk
      TZ: Etc/UTC
    env_file:
    - env/app.env
    x-secret-env:
    - LISTMONK_db__password
    volumes:
    - app-uploads:/listmonk/uploads
    tmpfs:
    - /tmp
    read_only: true
    networks:
    - internal
    depends_on:
      app-settings:
        condition: service_completed_successfully
      db:
        condition: service_healthy
    healthcheck:
      test:
      - CMD
      - wget
      - -q
      - -O
      - /dev/null
      - http://127.0.0.1:9000/health
      interval: 5s
      timeout: 5s
      retries: 6
      start_period: 30s
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    mem_limit: 512m
    memswap_limit: 512m
    cpus: 1.0
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.role: app
  mailpit:
    image: axllent/mailpit:v1.20.4
    pull_policy: missing
    user: 65534:65534
    restart: unless-stopped
    environment:
      MP_MAX_MESSAGES: '5000'
      MP_SMTP_AUTH_ACCEPT_ANY: '1'
    tmpfs:
    - /tmp
    read_only: true
    networks:
    - internal
    healthcheck:
      test:
      - CMD
      - wget
      - -q
      - -O
      - /dev/null
      - http://127.0.0.1:8025/readyz
      interval: 5s
      timeout: 5s
      retries: 6
      start_period: 30s
    security_opt:
    - no-new-privileges:true
    cap_drop:
    - ALL
    mem_limit: 128m
    memswap_limit: 128m
    cpus: 0.5
    pids_limit: 512
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: '3'
    labels:
      org.mailstack.role: mail-sink
networks:
  edge: {}
  internal:
    internal: true
volumes:
  app-uploads: {}
  caddy-config: {}
  caddy-data: {}
  db-data: {}
MAILSTACK_EOF
mv compose.yaml.new compose.yaml
mkdir -p "$(dirname listmonk-settings.sql)"
cat > listmonk-settings.sql.new <<'MAILSTACK_EOF'
-- listmonk keeps its SMTP servers and sender in its database, not in its
-- config, and reads them once at start: the `app-settings` job writes the
-- stack's relay here after the schema exists and before the app starts.
-- Every value comes from the job's environment (\getenv), so none is on a
-- command line; SMTP_PASSWORD is unset when the relay takes no password.
\set ON_ERROR_STOP on
\getenv smtp_host SMTP_HOST
\getenv smtp_port SMTP_PORT
\getenv smtp_username SMTP_USERNAME
\getenv smtp_password SMTP_PASSWORD
\getenv smtp_auth SMTP_AUTH
\getenv smtp_tls SMTP_TLS
\getenv mail_from MAIL_FROM
\if :{?smtp_password}
\else
\set smtp_password ''
\endif

INSERT INTO settings (key, value, updated_at) VALUES
    ('smtp', jsonb_build_array(jsonb_build_object(
        'enabled', true,
        'host', :'smtp_host'::text,
        'hello_hostname', ''::text,
        'port', (:'smtp_port')::int,
        'auth_protocol', :'smtp_auth'::text,
        'username', :'smtp_username'::text,
        'password', :'smtp_password'::text,
        'email_headers', '[]'::jsonb,
        'max_conns', 10,
        'max_msg_retries', 2,
        'idle_timeout', '15s'::text,
        'wait_timeout', '5s'::text,
        'tls_type', :'smtp_tls'::text,
        'tls_skip_verify', false
    )), NOW()),
    ('app.from_email', to_jsonb(:'mail_from'::text), NOW())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;

-- With SES as code, SES posts bounces and complaints through SNS to
-- listmonk's SES webhook (/webhooks/service/ses), which these switch on.
\getenv ses_feedback SES_FEEDBACK
\if :ses_feedback
INSERT INTO settings (key, value, updated_at) VALUES
    ('bounce.webhooks_enabled', 'true'::jsonb, NOW()),
    ('bounce.ses_enabled', 'true'::jsonb, NOW())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;
\endif
MAILSTACK_EOF
mv listmonk-settings.sql.new listmonk-settings.sql
mkdir -p "$(dirname mailstack-release)"
cat > mailstack-release.new <<'MAILSTACK_EOF'
#!/usr/bin/env bash
# mailstack-release: release history, pre-update snapshots and rollback of one
# compose service. Run by the deploy steps and by `make rollback`, from the
# compose project's directory (rendered by mailstack; do not edit).
#
#   mailstack-release begin SERVICE [migrates]   before a new release is started
#   mailstack-release commit SERVICE             it turned healthy (or the job succeeded)
#   mailstack-release fail SERVICE REASON        it did not: bring the last good release back
#   mailstack-release failed SERVICE REASON      it did not, and nothing is to come back
#   mailstack-release rollback SERVICE [ID] [db] back to release ID (default: the one before)
#   mailstack-release history SERVICE            the recorded releases, oldest first
#
# A release is what one deploy started: the image (by id, and by registry digest
# when it has one) and the configuration (the service's compose definition and
# env file). Its id is the first 12 hex digits of their sha256. Each good
# release keeps a copy of compose.yaml and of the env file under
# $RELEASES_DIR/SERVICE/ID, and its image is tagged mailstack-release/SERVICE:ID
# so no prune removes it. $RELEASES_DIR/SERVICE/history has one line per
# event, tab-separated: id, time (UTC), outcome, image id, registry digest,
# config hash, pre-update snapshot (`-` for none). Outcomes: ok (deployed and
# healthy), failed (did not turn healthy; rolled back), rollback (this release
# was brought back). The current release is the last `ok` or `rollback` line.
#
# Pre-update snapshot: `begin` takes one with `mailstack-backup pre-update`
# when $BACKUP_BIN is set (the stack has backups), a release is current, and
# the new release changes the image or is a job that may migrate the database;
# a failed snapshot fails `begin`, so the deploy stops before anything changes.
# A migrating job leaves its snapshot in $RELEASES_DIR/migration: when the app
# after it fails, the database comes back from that snapshot before the last
# good release starts again (rows written since the snapshot are lost: the
# documented price of undoing a migration); when the app turns healthy, the
# marker goes.
set -euo pipefail

RELEASES_DIR=${RELEASES_DIR:-../../local-releases}
BACKUP_BIN=${BACKUP_BIN:-}
KEEP=${RELEASES_KEEP:-10}
SERVICE_RE='^[a-z0-9][a-z0-9_-]{0,62}$'
ID_RE='^[0-9a-f]{12}$'

log() { printf '%s\n' "$*" >&2; }
die() {
  log "release: $*"
  exit 1
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# The fields of a history line, by name.
field() {
  local line=$1 n=$2
  cut -f "$n" <<<"$line"
}

history_file() { printf '%s/%s/history' "$RELEASES_DIR" "$1"; }

# current SERVICE: the last `ok` or `rollback` line of the history (empty if none).
current() {
  local file
  file=$(history_file "$1")
  [[ -f $file ]] || return 0
  awk -F '\t' '$3 == "ok" || $3 == "rollback" { line = $0 } END { if (line != "") print line }' "$file"
}

record() {
  local service=$1 id=$2 outcome=$3 image=$4 digest=$5 config=$6 snapshot=$7
  mkdir -p "$RELEASES_DIR/$service"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$(now)" "$outcome" "$image" "$digest" \
    "$config" "$snapshot" >>"$(history_file "$service")"
}

env_file() { printf 'env/%s.env' "$1"; }

# describe SERVICE: "id image digest config" of the release compose.yaml and
# the env file define now (the image must be present: the pull step ran).
describe() {
  local service=$1 ref image digest config envsum
  # `config --images SERVICE` lists its dependencies' images too: read its own.
  # (python3 is on every host: cloud-init runs on it.)
  ref=$(docker compose config --format json "$service" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["services"][sys.argv[1]]["image"])' "$service")
  image=$(docker image inspect --format '{{.Id}}' "$ref") || die "$service: image $ref is not on this host"
  digest=$(docker image inspect --format '{{range .RepoDigests}}{{.}} {{end}}' "$ref" | cut -d' ' -f1)
  config=$(docker compose config --hash "$service" | cut -d' ' -f2)
  envsum=-
  [[ ! -f $(env_file "$service") ]] || envsum=$(sha256sum <"$(env_file "$service")" | cut -d' ' -f1)
  config=$(printf '%s\n%s\n' "$config" "$envsum" | sha256sum | cut -d' ' -f1)
  printf '%s %s %s %s\n' "$(printf '%s\n%s\n' "$image" "$config" | sha256sum | cut -c1-12)" \
    "$image" "${digest:--}" "$config"
}

snapshot() {
  local id=$1 out
  out=$(sudo -n "$BACKUP_BIN/mailstack-backup" pre-update --release "$id") ||
    die "the pre-update snapshot failed: nothing was changed, the deploy stops"
  out=$(tail -n 1 <<<"$out")
  [[ $out =~ ^[0-9a-f]{8,64}$ ]] || die "mailstack-backup pre-update printed no snapshot id"
  printf '%s' "$out"
}

# needs_snapshot SERVICE MIGRATES IMAGE: whether `begin` takes a pre-update
# snapshot: backups on, a release current, and a job that may migrate, or a
# new image that no migrating job has just snapshotted before.
needs_snapshot() {
  local service=$1 migrates=$2 image=$3 prev
  [[ -n $BACKUP_BIN ]] || return 1
  prev=$(current "$service")
  [[ -n $prev ]] || return 1
  [[ $migrates != migrates ]] || return 0
  [[ $(field "$prev" 4) != "$image" ]] || return 1
  [[ $(migration_field 4) != "$image" ]]
}

# migration_field N: a field of the migration marker (snapshot, job, job
# release, image); empty without a marker.
migration_field() {
  [[ -f $RELEASES_DIR/migration ]] || return 0
  cut -f "$1" "$RELEASES_DIR/migration"
}

cmd_begin() {
  local service=$1 migrates=${2:-} line id image digest config snap=-
  # Not `read < <(describe ...)`: a failed describe must stop the step.
  line=$(describe "$service")
  read -r id image digest config <<<"$line"
  if needs_snapshot "$service" "$migrates" "$image"; then
    log "$service: pre-update snapshot before release $id"
    snap=$(snapshot "$id")
    log "$service: pre-update snapshot $snap"
  fi
  if [[ $migrates == migrates ]]; then
    rm -f "$RELEASES_DIR/migration"
    if [[ $snap != - ]]; then
      printf '%s\t%s\t%s\t%s\n' "$snap" "$service" "$id" "$image" >"$RELEASES_DIR/migration"
    fi
  fi
  mkdir -p "$RELEASES_DIR/$service"
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$image" "$digest" "$config" "$snap" \
    >"$RELEASES_DIR/$service/pending"
}

pending() {
  local file=$RELEASES_DIR/$1/pending
  [[ -f $file ]] || die "$1: no release was begun"
  cat "$file"
}

cmd_commit() {
  local service=$1 line id image digest config snap dir
  line=$(pending "$service")
  IFS=$'\t' read -r id image digest config snap <<<"$line"
  dir=$RELEASES_DIR/$service/$id
  mkdir -p "$dir"
  cp compose.yaml "$dir/compose.yaml.new" && mv "$dir/compose.yaml.new" "$dir/compose.yaml"
  if [[ -f $(env_file "$service") ]]; then
    (umask 077 && cp "$(env_file "$service")" "$dir/env.new") && mv "$dir/env.new" "$dir/env"
  fi
  docker tag "$image" "mailstack-release/$service:$id"
  printf 'services:\n  %s:\n    image: mailstack-release/%s:%s\n' "$service" "$service" "$id" \
    >"$dir/pin.yaml"
  record "$service" "$id" ok "$image" "$digest" "$config" "$snap"
  rm -f "$RELEASES_DIR/$service/pending"
  if [[ ${MIGRATION_CONSUMER:-} == 1 ]]; then
    rm -f "$RELEASES_DIR/migration"
  fi
  trim "$service"
}

# trim SERVICE: keep the last $KEEP history lines and the releases they name.
trim() {
  local service=$1 file kept dir id
  file=$(history_file "$service")
  kept=$(tail -n "$KEEP" "$file")
  printf '%s\n' "$kept" >"$file.new" && mv "$file.new" "$file"
  for dir in "$RELEASES_DIR/$service"/*/; do
    [[ -d $dir ]] || continue
    id=$(basename "$dir")
    if ! cut -f1 "$file" | grep -qx "$id"; then
      rm -rf "$dir"
      docker image rm "mailstack-release/$service:$id" >/dev/null 2>&1 || true
    fi
  done
}

# start_release SERVICE ID: its env file back in place, then its compose
# definition with its image pinned by id; waits until healthy.
start_release() {
  local service=$1 id=$2 dir=$RELEASES_DIR/$1/$2
  [[ -f $dir/compose.yaml && -f $dir/pin.yaml ]] || die "$service: release $id has no saved configuration"
  if [[ -f $dir/env ]]; then
    (umask 077 && cp "$dir/env" "$(env_file "$service").new") && mv "$(env_file "$service").new" "$(env_file "$service")"
  fi
  docker compose --project-directory . -f "$dir/compose.yaml" -f "$dir/pin.yaml" \
    up -d --no-deps --wait "$service"
}

# restore_db SNAPSHOT: the databases as they were in SNAPSHOT; the caller
# stopped the service and starts the release it wants afterwards.
restore_db() {
  local snap=$1
  [[ -n $BACKUP_BIN ]] || die "this stack has no backups: no database to restore"
  log "release: restoring the databases from pre-update snapshot $snap"
  sudo -n "$BACKUP_BIN/mailstack-restore" --no-app "$snap"
}

cmd_fail() {
  local service=$1 reason=$2 line id image digest config snap prev back migration
  line=$(pending "$service")
  IFS=$'\t' read -r id image digest config snap <<<"$line"
  record "$service" "$id" failed "$image" "$digest" "$config" "$snap"
  rm -f "$RELEASES_DIR/$service/pending"
  prev=$(current "$service")
  if [[ -z $prev ]]; then
    die "$service: release $id failed ($reason); no earlier release is recorded, so none comes back"
  fi
  back=$(field "$prev" 1)
  docker compose stop "$service" >/dev/null 2>&1 || true
  # Only a migration run by this release's image, which the current release
  # does not have: a marker left by a job run alone is no reason to restore.
  if [[ ${MIGRATION_CONSUMER:-} == 1 && -n $(migration_field 1) &&
    $(migration_field 4) == "$image" && $(field "$prev" 4) != "$image" ]]; then
    migration=$(migration_field 1)
    restore_db "$migration" || die "$service: release $id failed ($reason) after a migration, and restoring snapshot $migration failed: the app stays stopped"
    rm -f "$RELEASES_DIR/migration"
  fi
  log "release: $service release $id failed ($reason); bringing release $back back"
  start_release "$service" "$back" ||
    die "$service: release $id failed ($reason), and release $back did not turn healthy either"
  record "$service" "$back" rollback "$(field "$prev" 4)" "$(field "$prev" 5)" "$(field "$prev" 6)" -
  die "$service: release $id failed ($reason); rolled back to release $back, which serves"
}

cmd_failed() {
  local service=$1 reason=$2 line id image digest config snap
  line=$(pending "$service")
  IFS=$'\t' read -r id image digest config snap <<<"$line"
  record "$service" "$id" failed "$image" "$digest" "$config" "$snap"
  rm -f "$RELEASES_DIR/$service/pending"
  log "release: $service release $id failed ($reason)"
}

# snapshot_after SERVICE ID: the pre-update snapshot of the first deploy that
# followed release ID: the data as release ID left it.
snapshot_after() {
  awk -F '\t' -v id="$2" '
    $1 == id && ($3 == "ok" || $3 == "rollback") { seen = 1; snap = ""; next }
    seen && snap == "" && $7 != "-" { snap = $7 }
    END { print snap }' "$(history_file "$1")"
}

cmd_rollback() {
  local service=$1 to=${2:-} db=${3:-} prev line snap
  if [[ $to == db ]]; then
    to=""
    db=db
  fi
  prev=$(current "$service")
  [[ -n $prev ]] || die "$service: no release is recorded on this host"
  if [[ -z $to ]]; then
    # The release before the current one: the last good one with another id.
    to=$(awk -F '\t' -v cur="$(field "$prev" 1)" \
      '($3 == "ok" || $3 == "rollback") && $1 != cur { id = $1 } END { print id }' \
      "$(history_file "$service")")
    [[ -n $to ]] || die "$service: no release before $(field "$prev" 1) is recorded"
  fi
  [[ $to =~ $ID_RE ]] || die "release id '$to' must be 12 hex digits"
  line=$(awk -F '\t' -v id="$to" '$1 == id && ($3 == "ok" || $3 == "rollback") { l = $0 } END { print l }' \
    "$(history_file "$service")")
  [[ -n $line ]] || die "$service: release $to is not a recorded good release (see history)"
  if [[ $db == db ]]; then
    snap=$(snapshot_after "$service" "$to")
    [[ -n $snap ]] || die "$service: no pre-update snapshot was taken after release $to"
    docker compose stop "$service" >/dev/null
    restore_db "$snap" || die "$service: restoring snapshot $snap failed: $service stays stopped"
  fi
  log "release: $service back to release $to"
  start_release "$service" "$to" || die "$service: release $to did not turn healthy"
  record "$service" "$to" rollback "$(field "$line" 4)" "$(field "$line" 5)" "$(field "$line" 6)" -
  log "release: $service serves release $to"
}

cmd_history() {
  local file
  file=$(history_file "$1")
  [[ -f $file ]] || die "$1: no release is recorded on this host"
  printf 'id\ttime\toutcome\timage\tdigest\tconfig\tsnapshot\n'
  cat "$file"
}

action=${1:-}
service=${2:-}
[[ $service =~ $SERVICE_RE ]] || die "service '$service' is not a service name"
case $action in
  begin) cmd_begin "$service" "${3:-}" ;;
  commit) cmd_commit "$service" ;;
  fail) cmd_fail "$service" "${3:-unhealthy}" ;;
  failed) cmd_failed "$service" "${3:-unhealthy}" ;;
  rollback) cmd_rollback "$service" "${3:-}" "${4:-}" ;;
  history) cmd_history "$service" ;;
  *) die "unknown action '$action' (begin, commit, fail, failed, rollback, history)" ;;
esac
MAILSTACK_EOF
mv mailstack-release.new mailstack-release
# Placeholders until each service's own step writes its env file (stdin).
umask 077
mkdir -p env
[ -e env/app-install.env ] || : > env/app-install.env
[ -e env/app-settings.env ] || : > env/app-settings.env
[ -e env/app.env ] || : > env/app.env
[ -e env/db.env ] || : > env/db.env
# Which files step wrote this project last (its delete compares).
echo 0600ce3f215e52f6 > .files-generation
