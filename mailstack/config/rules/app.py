"""The app: images pinned, what each preset needs, local ports apart."""

from __future__ import annotations

from common.enums import AppPreset
from mailstack.config.model import Problem, StackConfig


def _pinned(key: str, image: str) -> list[Problem]:
    ref = image.split("@", 1)[0]
    if image and (":" not in ref.rsplit("/", 1)[-1] or ref.endswith(":latest")):
        return [
            Problem(
                key,
                f"{image!r} must pin a tag (not 'latest'), e.g. 'app:1.2.3' "
                "or 'app:1.2.3@sha256:...'",
            )
        ]
    return []


def app(c: StackConfig) -> list[Problem]:
    preset = c.app.preset
    needs_image = (AppPreset.CUSTOM, AppPreset.TRANSACTIONAL_API, AppPreset.WEB_API)
    problems = _pinned("appImage", c.app.image) + _pinned("appWebImage", c.app.web_image)
    if preset in needs_image and not c.app.image:
        problems.append(
            Problem(
                "appImage", f"`app: {preset.value}` needs an image, e.g. 'ghcr.io/you/app:1.2.3'"
            )
        )
    if preset is AppPreset.WEB_API and not c.app.web_image:
        problems.append(Problem("appWebImage", "`app: web-api` needs the web front end's image"))
    if c.is_local and c.services.local_http_port == c.services.local_mail_ui_port:
        problems.append(
            Problem("localMailUiPort", "must differ from `localHttpPort` (both are published)")
        )
    return problems
