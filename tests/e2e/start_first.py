"""The project's program with the listmonk app updated start-first, for the e2e
tests of that update path."""

from __future__ import annotations

import runpy
from dataclasses import replace
from unittest import mock

from components.services import presets
from components.services.model import Update
from mailstack.config import AppPreset
from tools.harness import ROOT


def start_first_listmonk() -> None:
    """__main__.py with the app started first: the stand-in, unlike listmonk,
    runs twice on one database safely, so it exercises the start-first path."""
    listmonk = presets.PRESETS[AppPreset.LISTMONK]

    def start_first(p: presets.AppParams) -> presets.App:
        app = listmonk(p)
        services = tuple(
            replace(s, update=Update.START_FIRST) if s.name == "app" else s for s in app.services
        )
        return replace(app, services=services)

    with mock.patch.dict(presets.PRESETS, {AppPreset.LISTMONK: start_first}):
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
