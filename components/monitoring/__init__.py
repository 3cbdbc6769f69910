"""The monitoring stack's configuration, rendered from typed params (pure, no Pulumi).

Prometheus (scrape config, alert rules), Alertmanager, blackbox_exporter and
Grafana's provisioning are rendered here as text; components/services runs them.
"""
