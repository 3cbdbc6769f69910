"""Where each monitoring program finds its files inside its container, and its URL prefix."""

PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
PROMETHEUS_RULES = "/etc/prometheus/rules.yml"
PROMETHEUS_DATA = "/prometheus"
PROMETHEUS_PORT = 9090
ALERTMANAGER_CONFIG = "/etc/alertmanager/alertmanager.yml"
ALERTMANAGER_DATA = "/alertmanager"
ALERTMANAGER_PORT = 9093
BLACKBOX_CONFIG = "/etc/blackbox_exporter/config.yml"
BLACKBOX_PORT = 9115
SECRETS_DIR = "/run/mailstack"
"""A tmpfs in the container: secret files its entrypoint writes from the env file."""
SMTP_PASSWORD_FILE = f"{SECRETS_DIR}/smtp_password"
WEBHOOK_URL_FILE = f"{SECRETS_DIR}/webhook_url"

PREFIX = {"prometheus": "/prometheus", "alertmanager": "/alertmanager", "grafana": "/grafana"}
"""Each UI's path on the app host (admin-only): one certificate, one admin check."""
