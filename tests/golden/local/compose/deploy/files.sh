# Write mailstack-local's compose files into build/local/compose (rendered by mailstack).
set -eu
mkdir -p 'build/local/compose'
cd 'build/local/compose'
mkdir -p "$(dirname 'Caddyfile')"
cat > 'Caddyfile.new' <<'MAILSTACK_EOF'
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
mv 'Caddyfile.new' 'Caddyfile'
mkdir -p "$(dirname 'compose.yaml')"
cat > 'compose.yaml.new' <<'MAILSTACK_EOF'
# mailstack-local: rendered by mailstack (components/services); do not edit.
# Secrets are in env/<service>.env (mode 0600), never in this file.
name: mailstack-local
services:
  proxy:
    image: caddy:2.10.0
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
mv 'compose.yaml.new' 'compose.yaml'
mkdir -p "$(dirname 'listmonk-settings.sql')"
cat > 'listmonk-settings.sql.new' <<'MAILSTACK_EOF'
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
mv 'listmonk-settings.sql.new' 'listmonk-settings.sql'
# Placeholders until each service's own step writes its env file (stdin).
umask 077
mkdir -p env
[ -e 'env/app-install.env' ] || : > 'env/app-install.env'
[ -e 'env/app-settings.env' ] || : > 'env/app-settings.env'
[ -e 'env/app.env' ] || : > 'env/app.env'
[ -e 'env/db.env' ] || : > 'env/db.env'
# Which files step wrote this project last (its delete compares).
echo 'e563242b2d1a739c' > .files-generation
