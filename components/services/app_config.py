"""What a stack's config adds to a preset's app: its own variables and its data.

`appEnv`/`appSecretEnv` go on top of the preset's environment (never replacing
a name the preset sets); `appDataPaths` become volumes on the data volume and
`appSqliteFiles` are backed up consistently from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from common.app_env import data_volume, is_env_name, is_reserved, owning_path
from common.enums import AppPreset
from components.services.model import Mount, Secret, Service, Update

APP_ENV_TARGETS = {AppPreset.WEB_API: ("api",), AppPreset.MAILWIZZ: ("app", "cron")}
"""The services that get `appEnv`/`appSecretEnv` (others: `app`)."""


def with_app_env(
    service: Service, env: Mapping[str, str], secret_env: Mapping[str, Secret]
) -> Service:
    """The app's own variables on top of the preset's, which they may not replace."""
    names = [*env, *secret_env]
    for name in names:
        if not is_env_name(name) or is_reserved(name):
            raise ValueError(f"app variable {name!r} is no name, or one the preset sets")
    if clash := set(names) & {*service.environment, *service.secret_env}:
        raise ValueError(f"service {service.name!r} already sets {sorted(clash)}")
    return replace(
        service,
        # Passed on literally: compose rendering doubles every `$` (common.encode).
        environment={**service.environment, **env},
        secret_env={**service.secret_env, **secret_env},
    )


def with_data(app: Service, paths: tuple[str, ...], files: tuple[str, ...]) -> Service:
    """The app with a volume per data path; its SQLite files backed up consistently.

    An app that writes SQLite is one writer: it is recreated, never started
    beside its successor.
    """
    for file in files:
        if not owning_path(file, paths):
            raise ValueError(f"sqlite file {file!r} lies in none of the data paths {paths}")
    mounts = tuple(
        Mount(
            data_volume(path),
            path,
            sqlite=tuple(
                f.removeprefix(path + "/") for f in sorted(files) if owning_path(f, paths) == path
            ),
        )
        for path in paths
    )
    env = {**app.environment, "DATA_DIR": paths[0]} if paths else dict(app.environment)
    update = Update.RECREATE if files else app.update
    return replace(app, mounts=(*app.mounts, *mounts), environment=env, update=update)
