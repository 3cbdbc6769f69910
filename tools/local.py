"""`make local` helpers: real local-only passwords in place of synth's placeholders.

    python -m tools.local secrets build/local/compose
    python -m tools.local urls build/local

Offline synth writes `<secret:random:NAME>` where `pulumi up` would put a
generated password. For the local stack run with plain `docker compose`, each
placeholder becomes a random password kept in `.secrets/local.json` (mode 0600,
git-ignored), so the same value comes back on every `make local` (the database
volume was initialised with it) and nothing real is ever committed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from pathlib import Path

from tools.harness import ROOT
from tools.images import compose_images, is_standin

STORE = ROOT / ".secrets" / "local.json"
PLACEHOLDER = re.compile(r"<secret:random:([A-Za-z0-9_.-]+)>")
CONFIG_PLACEHOLDER = re.compile(r"<secret:mailstack:([A-Za-z0-9]+)>")


def _load(store: Path) -> dict[str, str]:
    return json.loads(store.read_text()) if store.exists() else {}


def _save(store: Path, values: dict[str, str]) -> None:
    store.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)
    tmp.replace(store)


def fill_secrets(compose_dir: Path, store: Path = STORE) -> list[Path]:
    """Replace every random-password placeholder in `compose_dir/env/*.env`."""
    values = _load(store)
    changed = []
    for env_file in sorted((compose_dir / "env").glob("*.env")):
        text = env_file.read_text()
        if missing := CONFIG_PLACEHOLDER.findall(text):
            raise SystemExit(
                f"{env_file}: needs secret config {sorted(set(missing))}; the local stack "
                "cannot invent those"
            )

        def value(match: re.Match[str]) -> str:
            return values.setdefault(match.group(1), secrets.token_urlsafe(24))

        filled = PLACEHOLDER.sub(value, text)
        if filled != text:
            env_file.write_text(filled)
            env_file.chmod(0o600)
            changed.append(env_file)
    _save(store, values)
    return changed


def standin_note(build_dir: Path) -> str:
    """A warning when the stack runs the test stand-ins instead of the real images."""
    standins = [i for i in compose_images(build_dir / "compose") if is_standin(i)]
    if not standins:
        return ""
    return (
        "  STAND-INS: these services run test fakes built from Debian packages, not the\n"
        "  real apps (fine for trying the stack, not for judging the apps):\n"
        + "".join(f"    {image}\n" for image in standins)
    )


def urls(build_dir: Path) -> str:
    outputs = json.loads((build_dir / "outputs.json").read_text())
    return standin_note(build_dir) + (
        f"  app        {outputs['appUrl']}\n"
        f"  mail sink  {outputs['mailSinkUrl']}\n"
        f"  passwords  {build_dir / 'compose' / 'env'}/*.env (the app's admin user is `admin`)\n"
    )


def main(argv: list[str]) -> int:
    match argv:
        case ["secrets", directory]:
            fill_secrets(Path(directory))
        case ["urls", directory]:
            print(f"The local stack is up:\n{urls(Path(directory))}", end="")
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
