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
