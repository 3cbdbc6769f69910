"""One Docker Swarm over a stack's nodes, and its stack deployed from the first manager.

Steps, all through `run_step` (so a replaced server gets its steps again):
`engine` on every node (Swarm's engine settings), `swarm-init` on the first
manager (its stdout, the join tokens, is a Pulumi secret), `swarm-join-<node>`
on every other node (the token on stdin: a new token, i.e. a new Swarm after
the first manager was replaced, changes the input and re-runs the join),
`swarm-members` on the first manager (labels by role, removes nodes that left),
`volume-dirs` on the db node, and `stack` (`docker stack deploy`).

Deletes: none of these steps has a delete command. A node that leaves the
pools is removed from the Swarm by `swarm-members` on the next `up` (while it
still runs), and its server is deleted with it; a destroyed stack takes its
servers and with them the Swarm. So no delete dials a host that may be gone.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from common.topology import Role
from components.host import Host, Step, run_step
from components.swarm_steps import (
    join_token,
    render_engine_step,
    render_init_step,
    render_join_step,
    render_members_step,
    render_stack_deploy_step,
    render_volume_dirs_step,
)

COMPONENT_TYPE = "mailstack:swarm:Swarm"


@dataclass(frozen=True)
class SwarmNode:
    name: str
    host: Host
    private_ip: str
    roles: tuple[Role, ...]
    attached: pulumi.Resource
    """Its private network attachment: Swarm's addresses exist only after it."""


@dataclass(frozen=True)
class StackFiles:
    """What `docker stack deploy` reads on the first manager."""

    project: str
    directory: str
    stack_file: str
    """Its path relative to `directory`."""
    files: Mapping[str, str]
    """Every non-secret file by relative path (the stack file included)."""
    env_files: Mapping[str, pulumi.Output[str]]
    """Secret env files by relative path (`env/<service>.env`)."""
    jobs: Sequence[str]
    """Services that run once and exit: not waited for."""
    volume_dirs: Mapping[Role, Mapping[str, str]]
    """By the node role whose services use them: volume folders (on that node's data
    volume) -> the `uid:gid` that owns them ('' for root)."""


@dataclass(frozen=True)
class SwarmArgs:
    nodes: Sequence[SwarmNode]
    """The first manager first."""
    stack: StackFiles
    after: Sequence[pulumi.Resource] = ()
    """What the stack deploy waits for besides the Swarm (the backup's metrics
    folder, which the exporter binds: Swarm refuses a missing bind source)."""


def env_bundle(env_files: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
    """The env files as the stack step's stdin: one `<path> <base64>` line each."""
    paths = sorted(env_files)
    return pulumi.Output.secret(
        pulumi.Output.all(*(env_files[p] for p in paths)).apply(
            lambda texts: "".join(
                f"{p} {base64.b64encode(t.encode()).decode()}\n"
                for p, t in zip(paths, texts, strict=True)
            )
        )
    )


def _token(tokens: pulumi.Output[str], manager: bool) -> pulumi.Output[str]:
    return pulumi.Output.secret(tokens.apply(lambda out: join_token(out, manager)))


class Swarm(pulumi.ComponentResource):
    init: Step
    joins: dict[str, Step]
    deploy: Step

    def __init__(self, name: str, args: SwarmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(COMPONENT_TYPE, name, None, opts)
        first, others = args.nodes[0], args.nodes[1:]
        if Role.MANAGER not in first.roles:
            raise ValueError("the first Swarm node must be a manager")
        engine_script = render_engine_step()
        engines = {
            node.name: run_step(node.host, f"{name}-{node.name}-engine", engine_script, parent=self)
            for node in args.nodes
        }
        self.init = run_step(
            first.host,
            f"{name}-init",
            render_init_step(first.private_ip),
            after=[engines[first.name], first.attached],
            secret_stdout=True,
            parent=self,
        )
        join_script = {n.name: render_join_step(n.private_ip, first.private_ip) for n in others}
        self.joins = {
            node.name: run_step(
                node.host,
                f"{name}-join-{node.name}",
                join_script[node.name],
                # A property dependency on the init step: a new Swarm (new
                # tokens) changes this input and runs the join again.
                stdin=_token(self.init.stdout, Role.MANAGER in node.roles),
                secret_stdin=True,
                after=[engines[node.name], node.attached],
                parent=self,
            )
            for node in others
        }
        members = pulumi.Output.all(*(self.joins[n.name].stdout for n in others)).apply(
            lambda ids: render_members_step(
                first.roles,
                {i.strip(): n.roles for i, n in zip(ids, others, strict=True)},
            )
        )
        members_step = run_step(first.host, f"{name}-members", members, parent=self)
        self.deploy = self._stack(name, args, first, members_step)
        self.register_outputs({})

    def _stack(self, name: str, args: SwarmArgs, first: SwarmNode, members: Step) -> Step:
        stack = args.stack
        after: list[pulumi.Resource] = [members, *args.after]
        for node in args.nodes:
            dirs = {
                folder: owner
                for role in node.roles
                for folder, owner in stack.volume_dirs.get(role, {}).items()
            }
            if dirs:
                after.append(
                    run_step(
                        node.host,
                        f"{name}-{node.name}-volume-dirs",
                        render_volume_dirs_step(dirs),
                        parent=self,
                    )
                )
        script = render_stack_deploy_step(
            stack.project, stack.directory, stack.files, stack.stack_file, stack.jobs
        )
        bundle = env_bundle(stack.env_files)
        return run_step(
            first.host,
            f"{name}-stack",
            script,
            stdin=bundle,
            # A changed secret changes this input: the step deploys again.
            secret_stdin=True,
            after=after,
            parent=self,
        )
