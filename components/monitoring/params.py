"""Typed inputs of every monitoring renderer: thresholds, cooldown, targets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DURATION_RE = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
_HOSTPORT_RE = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")


def duration(value: str, what: str) -> str:
    """A Prometheus duration (`30s`, `1h30m`); raises naming `what` otherwise."""
    if not _DURATION_RE.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not a duration like '30s', '5m' or '1h'")
    return value


@dataclass(frozen=True)
class Thresholds:
    """When an alert fires. Defaults are the issue's (and the config keys')."""

    disk_percent: float = 90.0
    memory_percent: float = 90.0
    cpu_percent: float = 80.0
    cpu_for: str = "5m"
    cert_days: int = 14
    disk_full_hours: int = 24
    """DiskWillFill: free space predicted to reach 0 within this many hours."""
    send_failure_ratio: float = 0.2
    app_down_for: str = "2m"
    """How long the app's health probe must fail before AppDown fires."""
    restarts: int = 3
    """ContainerRestarting: this many starts within 15 minutes."""

    def __post_init__(self) -> None:
        for name in ("disk_percent", "memory_percent", "cpu_percent"):
            if not 0 < getattr(self, name) < 100:
                raise ValueError(f"thresholds.{name} must be between 0 and 100")
        if not 0 < self.send_failure_ratio < 1:
            raise ValueError("thresholds.send_failure_ratio must be between 0 and 1")
        if self.cert_days < 1 or self.disk_full_hours < 1 or self.restarts < 2:
            raise ValueError("thresholds: cert_days, disk_full_hours >= 1 and restarts >= 2")
        duration(self.cpu_for, "thresholds.cpu_for")
        duration(self.app_down_for, "thresholds.app_down_for")


@dataclass(frozen=True)
class SmtpRelay:
    """Where Alertmanager sends its email (the stack's own relay)."""

    smarthost: str
    """`host:port`, e.g. `email-smtp.eu-central-1.amazonaws.com:587` or `mailpit:1025`."""
    username: str = ""
    password: bool = False
    """Whether the relay needs a password (its value reaches Alertmanager as a file)."""
    require_tls: bool = True

    def __post_init__(self) -> None:
        if not _HOSTPORT_RE.fullmatch(self.smarthost):
            raise ValueError(f"relay {self.smarthost!r} must be 'host:port'")


@dataclass(frozen=True)
class MonitoringParams:
    """Everything one host's monitoring needs to be rendered."""

    host: str
    """The host's name in every alert (the `host` label), e.g. `mailstack-prod`."""
    alert_email: str
    """Where alerts go."""
    from_address: str
    relay: SmtpRelay
    app_health_url: str
    """The app's health URL as users reach it (through the proxy), probed over HTTP(S)."""
    public_url: str = "http://localhost"
    """The app's base URL: the UIs sit under it (links in alert emails point there)."""
    relay_probe: str = ""
    """`host:587` of the relay, probed with TCP + STARTTLS; empty: no probe."""
    mail_host: str = ""
    """The mail host name whose resolution is probed; empty: no probe."""
    resolver: str = "1.1.1.1:53"
    """The DNS server the resolution probe asks."""
    webhook: bool = False
    """Also post alerts to a webhook (its URL is a secret, read from a file)."""
    node_exporter: str = ""
    """`host:port` of node_exporter (host and backup metrics); empty: none."""
    container_exporter: str = ""
    """`host:port` of the container-metrics exporter; empty: none."""
    caddy_metrics: str = ""
    """`host:port` of the proxy's metrics listener; empty: none."""
    app_metrics: tuple[str, ...] = ()
    """`host:port/path` of the app's metrics endpoints, where the preset has them."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    cooldown: str = "60m"
    """Alertmanager's repeat_interval: how often a still-firing alert is re-sent."""
    scrape_interval: str = "30s"
    evaluation_interval: str = "30s"
    group_wait: str = "30s"
    group_interval: str = "5m"
    retention: str = "15d"

    def __post_init__(self) -> None:
        for name in (
            "cooldown",
            "scrape_interval",
            "evaluation_interval",
            "group_wait",
            "group_interval",
            "retention",
        ):
            duration(getattr(self, name), name)
        for name in ("node_exporter", "container_exporter", "caddy_metrics", "relay_probe"):
            value = getattr(self, name)
            if value and not _HOSTPORT_RE.fullmatch(value):
                raise ValueError(f"{name}: {value!r} must be 'host:port'")
        if not re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+", self.alert_email):
            raise ValueError(f"alert_email: {self.alert_email!r} is not an email address")
        if not re.fullmatch(r"https?://[^\s/]+", self.public_url):
            raise ValueError(f"public_url: {self.public_url!r} is not an http(s) base URL")
        if not re.fullmatch(r"https?://[^\s]+", self.app_health_url):
            raise ValueError(f"app_health_url: {self.app_health_url!r} is not an http(s) URL")
