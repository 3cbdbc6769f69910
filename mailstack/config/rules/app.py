"""The app: images pinned, what each preset needs, local ports apart."""

from __future__ import annotations

from pathlib import Path

from common.app_env import TRANSACTIONAL_API_DATA, data_volume, is_reserved, owning_path
from common.enums import AppPreset
from mailstack.config.model import Problem, StackConfig
from mailstack.config.secret_env import SECRET_ENV_KEY

REPO = Path(__file__).resolve().parents[3]
"""The project's root: `appImageBuild` names a directory in it."""


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
    if preset in needs_image and not c.app.image and not c.app.image_build:
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


def app_env(c: StackConfig) -> list[Problem]:
    """Names of the app's own variables: unique, and none the preset sets itself."""
    problems = []
    plain: dict[str, int] = {}
    for i, assignment in enumerate(c.app.env):
        name = assignment.partition("=")[0]
        if name in plain:
            again = f"sets {name} again (also appEnv[{plain[name]}])"
            problems.append(Problem(f"appEnv[{i}]", again))
        plain.setdefault(name, i)
    secret = c.secrets.names(SECRET_ENV_KEY)
    for i, name in ((i, a.partition("=")[0]) for i, a in enumerate(c.app.env)):
        if is_reserved(name):
            problems.append(Problem(f"appEnv[{i}]", _reserved(name)))
        if name in secret:
            problems.append(
                Problem(f"appEnv[{i}]", f"{name} is also in `appSecretEnv`; set it in one only")
            )
    problems += [
        Problem(f"{SECRET_ENV_KEY}.{name}", _reserved(name)) for name in secret if is_reserved(name)
    ]
    return problems


def _reserved(name: str) -> str:
    return (
        f"{name} is set by the preset (the relay, the stack's own services, its URL); "
        "choose another name"
    )


def _data_paths(paths: list[str]) -> list[Problem]:
    """No data path inside another, and no two with the same volume name."""
    problems = []
    volumes: dict[str, str] = {}
    for i, path in enumerate(paths):
        if other := owning_path(path, [p for p in paths if p != path]):
            problems.append(Problem(f"appDataPaths[{i}]", f"lies inside {other}; list one"))
        if (name := data_volume(path)) in volumes:
            problems.append(
                Problem(f"appDataPaths[{i}]", f"same volume name as {volumes[name]}; rename one")
            )
        volumes.setdefault(name, path)
    return problems


def _sqlite_files(files: list[str], paths: list[str]) -> list[Problem]:
    """Every SQLite file inside a data path, and listed once."""
    problems = []
    if files and not paths:
        problems.append(Problem("appSqliteFiles", "needs `appDataPaths` holding the files"))
    for i, file in enumerate(files):
        if paths and not owning_path(file, paths):
            problems.append(
                Problem(f"appSqliteFiles[{i}]", f"{file} is not inside any of `appDataPaths`")
            )
        if files.index(file) != i:
            problems.append(Problem(f"appSqliteFiles[{i}]", f"{file} is listed twice"))
    return problems


def app_data(c: StackConfig) -> list[Problem]:
    """Data paths and SQLite files: generic presets only, every file on a data path."""
    paths, files = list(c.app.data_paths), list(c.app.sqlite_files)
    if c.app.preset in (AppPreset.LISTMONK, AppPreset.MAILWIZZ) and (paths or files):
        key = "appDataPaths" if paths else "appSqliteFiles"
        return [
            Problem(key, f"`app: {c.app.preset.value}` keeps its data itself; leave this empty")
        ]
    if c.app.preset is AppPreset.TRANSACTIONAL_API and not paths:
        paths = [TRANSACTIONAL_API_DATA]
    return _data_paths(paths) + _sqlite_files(files, paths)


def _image_build(c: StackConfig) -> list[Problem]:
    """A built image: a Dockerfile in the repo, and on servers somewhere to push it."""
    a = c.app
    if not a.image_build:
        return []
    problems = []
    if a.image:
        problems.append(Problem("appImageBuild", "set either this or `appImage`, not both"))
    if ".." in a.image_build.split("/") or not (REPO / a.image_build / "Dockerfile").is_file():
        problems.append(
            Problem(
                "appImageBuild", f"{a.image_build!r} is no directory of the repo with a Dockerfile"
            )
        )
    if not c.is_local and not a.image_repository:
        problems.append(
            Problem(
                "imageRepository",
                "`appImageBuild` needs a repository to push to, e.g. 'ghcr.io/acme/mailstack'",
            )
        )
    if not c.is_local and not c.secrets.has("imageRegistryPassword"):
        problems.append(
            Problem(
                "imageRegistryPassword",
                "`appImageBuild` pushes and the server pulls: set the registry's token",
            )
        )
    return problems


def _mailwizz_archive(c: StackConfig) -> list[Problem]:
    """MailWizz's source archive: its preset only, and the (secret) URL with the checksum."""
    a = c.app
    problems = []
    if a.mailwizz_archive_sha256 and a.preset is not AppPreset.MAILWIZZ:
        problems.append(
            Problem("mailwizzArchiveSha256", "only `app: mailwizz` takes a source archive")
        )
    if a.mailwizz_archive_sha256 and not c.secrets.has("mailwizzArchiveUrl"):
        problems.append(
            Problem(
                "mailwizzArchiveUrl", "`mailwizzArchiveSha256` needs the archive's URL (a secret)"
            )
        )
    return problems


def app_images(c: StackConfig) -> list[Problem]:
    """A built image, the registry login, MailWizz's archive."""
    problems = _image_build(c) + _mailwizz_archive(c)
    registry = c.app.image_registry or c.app.image_repository
    if registry and not c.is_local and not c.app.image_registry_username:
        problems.append(
            Problem(
                "imageRegistryUsername",
                f"`docker login` at {registry.split('/', 1)[0]} needs the user name "
                "(GHCR: your GitHub user or organisation bot)",
            )
        )
    return problems
