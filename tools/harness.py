"""Run the Pulumi program under Pulumi's mock engine, recording everything.

This is the one runner behind `make synth` and the tests. It needs no cloud
credentials and no Pulumi CLI: the stack's config is read from Pulumi.yaml and
Pulumi.<stack>.yaml, every resource registration is recorded with the options
the stock mocks drop (parent, protect, ignore_changes, dependencies, ...), and
the artifacts components publish are collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import runpy
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config

from common import artifacts
from mailstack.config import PROJECT, ConfigError, Problem
from mailstack.config.run_mode import set_offline_synth
from tools.fakes import fake_call, fake_id, fake_outputs

ROOT = Path(__file__).resolve().parent.parent
# Pulumi's wire marker for a secret value (sdk/go/common/resource/sig).
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105


def secret_placeholder(full_key: str) -> str:
    """The stand-in value synth gives a secret config key it cannot decrypt."""
    return f"<secret:{full_key}>"


@dataclass
class Registration:
    """One `RegisterResource` call, with the options the stock mocks do not keep."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    ignore_changes: list[str]
    delete_before_replace: bool
    retain_on_delete: bool
    additional_secret_outputs: list[str]
    replace_on_changes: list[str]
    provider: str
    alias_types: list[str] = field(default_factory=list)
    """Type tokens this resource was known by before (its `aliases`)."""
    alias_names: list[str] = field(default_factory=list)
    """Names this resource was known by before (its `aliases`)."""


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request it sees."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.loops: set[asyncio.AbstractEventLoop] = set()
        self._loops_lock = threading.Lock()

    def _remember_loop(self) -> None:
        """Keep the event loop the mock engine made for this worker thread.

        MockMonitor's methods run in the engine's executor threads and give
        each thread its own loop (`_ensure_event_loop`), which nothing closes.
        Left to the garbage collector, a loop can be finalised after its
        self-pipe socket at interpreter exit: "Exception ignored in
        BaseEventLoop.__del__ ... ValueError: Invalid file descriptor: -1".
        """
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # this call made none
            return
        with self._loops_lock:
            self.loops.add(loop)

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        response = super().Invoke(request)  # type: ignore[no-untyped-call]
        self._remember_loop()
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._remember_loop()
        return response

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self._remember_loop()
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=_plain(request.object),
                    dependencies=sorted(request.dependencies),
                    property_dependencies={
                        k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())
                    },
                    protect=bool(request.protect),
                    ignore_changes=sorted(request.ignoreChanges),
                    delete_before_replace=request.deleteBeforeReplace,
                    retain_on_delete=bool(request.retainOnDelete),
                    additional_secret_outputs=sorted(request.additionalSecretOutputs),
                    replace_on_changes=sorted(request.replaceOnChanges),
                    provider=request.provider,
                    alias_types=sorted(a.spec.type for a in request.aliases if a.spec.type),
                    alias_names=sorted(a.spec.name for a in request.aliases if a.spec.name),
                )
            )
        return response


def _plain(struct: Any) -> dict[str, Any]:
    """Protobuf Struct -> plain dict, keeping the secret wrappers recognisable."""
    from google.protobuf import json_format  # type: ignore[import-untyped]

    result: dict[str, Any] = json_format.MessageToDict(struct)
    return result


def mask_secrets(value: Any) -> Any:
    """Replace every Pulumi secret wrapper in wire-format inputs by a placeholder."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return SECRET_PLACEHOLDER
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


class MailstackMocks(pulumi_mocks.Mocks):
    """Deterministic fake provider results (ids, IPs, keys) for every resource type."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = {**args.inputs, **fake_outputs(args.typ, args.name, args.inputs)}
        return fake_id(args.typ, args.name), outputs

    def call(
        self, args: pulumi_mocks.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # No failures: an empty list (the mock monitor iterates over it).
        return fake_call(args.token, dict(args.args)), []


@dataclass
class Run:
    """The result of evaluating the program for one stack under mocks."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    artifacts: dict[str, ResolvedArtifact] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        (match,) = [r for r in self.registrations if r.name == name]
        return match

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a reviewer
    reading the first would see a value that is not the one used.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(
                    Problem(
                        str(key).removeprefix(f"{PROJECT}:"),
                        f"set twice in {Path(self.name).name} (lines {seen[key]} and {line}); "
                        "keep one: YAML readers disagree on which one wins",
                    )
                )
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep)

    duplicates: list[Problem]


def load_yaml_strict(path: Path) -> Any:
    """A YAML file's data; a ConfigError naming every key written twice in a mapping."""
    loader = _StrictLoader(path.read_text())
    loader.name = str(path)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    if loader.duplicates:
        raise ConfigError(loader.duplicates)
    return data


def read_stack_config(
    stack: str, root: Path = ROOT, stack_file: Path | None = None
) -> tuple[dict[str, str], set[str]]:
    """Config as the Pulumi CLI would give it: project defaults, then the stack file
    (`root/Pulumi.<stack>.yaml`, or `stack_file`, e.g. one of examples/).

    Secure (encrypted) values cannot be decrypted offline; they become placeholders
    and stay marked secret.
    """
    project = load_yaml_strict(root / "Pulumi.yaml")
    values: dict[str, Any] = {}
    for name, decl in (project.get("config") or {}).items():
        full = name if ":" in name else f"{PROJECT}:{name}"
        if isinstance(decl, dict) and "default" in decl:
            values[full] = decl["default"]
    stack_file = stack_file or root / f"Pulumi.{stack}.yaml"
    stack_doc = load_yaml_strict(stack_file) if stack_file.exists() else {}
    secret_keys: set[str] = set()
    for name, value in ((stack_doc or {}).get("config") or {}).items():
        full = name if ":" in name else f"{PROJECT}:{name}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full] = secret_placeholder(full)
            secret_keys.add(full)
        elif isinstance(value, dict) and any(_is_secure(v) for v in value.values()):
            # `pulumi config set --secret --path 'KEY.NAME'`: an object whose
            # members are encrypted one by one; the whole key is a secret.
            values[full] = {
                k: secret_placeholder(f"{full}.{k}") if _is_secure(v) else v
                for k, v in value.items()
            }
            secret_keys.add(full)
        else:
            values[full] = value
    return {k: _wire(v) for k, v in values.items()}, secret_keys


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _wire(value: Any) -> str:
    """Pulumi passes config to programs as strings; arrays and objects as JSON."""
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: set[str] | None = None,
    program: Callable[[], None] | None = None,
    root: Path = ROOT,
    monitor: RecordingMonitor | None = None,
    real_up: bool = False,
) -> Run:
    """Evaluate `program` (default: the project's __main__.py) for `stack` under mocks.

    Every call starts from a fresh monitor (pass your own to inspect what was
    registered when the program fails), root stack and config, so runs in one
    process do not see each other's registrations. `real_up` makes the program
    behave as in a real `pulumi up` (placeholder values are errors).
    """
    monitor = monitor or RecordingMonitor(MailstackMocks())
    # Mocks run with preview=False, so say that this is no real `up`.
    set_offline_synth(not real_up)
    # set_mocks registers the root stack on the main thread's loop (a new one
    # when an earlier CLI run closed it; tests may hold Outputs on the current one).
    try:
        if asyncio.get_event_loop().is_closed():
            asyncio.set_event_loop(asyncio.new_event_loop())
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    # The engine calls the monitor from the loop's default executor: one per
    # run, so the run can join its threads and close their loops at the end.
    executor = ThreadPoolExecutor(thread_name_prefix="mock-engine")
    asyncio.get_event_loop().set_default_executor(executor)
    pulumi_settings.ROOT.set(None)
    artifacts.reset()
    pulumi_mocks.set_mocks(
        monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor
    )
    set_all_config(dict(config), sorted(secret_keys or ()))

    def main() -> None:
        if program is not None:
            program()
            return
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    exports: dict[str, Any] = {}
    files: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> pulumi.Output[Any]:
        main()
        stack_resource = pulumi_settings.get_root_resource()
        pending = {f"export:{k}": v for k, v in getattr(stack_resource, "outputs", {}).items()}
        pending.update({f"file:{k}": a.content for k, a in artifacts.collected().items()})
        return pulumi.Output.from_input(_resolve_all(pending, exports, files))

    try:
        evaluate()
    finally:
        _close_event_loops(monitor, executor)
    return Run(
        stack=stack,
        registrations=monitor.registrations,
        outputs={k: v for k, (v, _) in exports.items()},
        secret_outputs={k for k, (_, secret) in exports.items() if secret},
        artifacts={
            path: ResolvedArtifact(files[path][0], art.mode, files[path][1])
            for path, art in artifacts.collected().items()
        },
    )


def _close_event_loops(monitor: RecordingMonitor, executor: ThreadPoolExecutor) -> None:
    """Close the loops the engine's worker threads made, instead of leaving them to GC.

    The worker threads are joined first (their loops are idle then). The main
    thread's loop stays for the next run in this process; a CLI closes it
    with `close_main_loop` before it exits.
    """
    executor.shutdown(wait=True)
    main_loop = asyncio.get_event_loop()
    for worker_loop in monitor.loops - {main_loop}:
        worker_loop.close()
    monitor.loops.clear()


def close_main_loop() -> None:
    """Close the main thread's event loop (at the end of a command-line run)."""
    with contextlib.suppress(RuntimeError):
        asyncio.get_event_loop().close()


@dataclass(frozen=True)
class ResolvedArtifact:
    """A published file with its text known."""

    text: str
    mode: int
    secret: bool


async def _resolve_all(
    pending: dict[str, Any], exports: dict[str, Any], files: dict[str, Any]
) -> None:
    """Await every export and artifact, remembering which ones are secret."""
    for name, value in pending.items():
        out = pulumi.Output.from_input(value)
        kind, _, key = name.partition(":")
        resolved = (await out.future(), await out.is_secret())
        (exports if kind == "export" else files)[key] = resolved
