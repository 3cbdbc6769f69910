"""Render the shell steps that build a Swarm and deploy a stack on it (pure).

Each is the `create` of one `run_step` (components/swarm_cluster.py) and is
checked by shellcheck. Join tokens only ever travel on stdin and stdout: the
init step prints them (its stdout is a Pulumi secret), each join step reads
its token on stdin and hands it to the engine's API in the request body, so it
is never in a process's arguments, the user data or a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.encode import heredoc_body, shell
from common.topology import NODE_LABEL, Role

HEREDOC_END = "MAILSTACK_EOF"
SWARM_PORT = 2377
TOKEN_RE = r"SWMTKN-1-[0-9a-z]+-[0-9a-z]+"  # noqa: S105 (the shape of one, not a token)
DAEMON_JSON = (
    Path(__file__).resolve().parents[1] / "assets" / "cloud-init" / "files" / "daemon.json"
)
DEPLOY_TIMEOUT_S = 900
STATE = "docker info --format '{{.Swarm.LocalNodeState}}'"
NODE_ID = "docker info --format '{{.Swarm.NodeID}}'"
CONTROL = "docker info --format '{{.Swarm.ControlAvailable}}'"
"""`true` on a manager."""


def _addresses(ip: str) -> str:
    """Swarm traffic (management, gossip, overlay data) on the private address only."""
    ip = shell(ip)
    return f"--advertise-addr {ip} --listen-addr {ip}:{SWARM_PORT} --data-path-addr {ip}"


def swarm_daemon_json() -> str:
    """The engine settings of a Swarm node: the single server's, but Swarm refuses
    `live-restore`, and it ignores services' `security_opt`, so the engine sets
    `no-new-privileges` for every container instead."""
    settings = json.loads(DAEMON_JSON.read_text())
    settings["live-restore"] = False
    settings["no-new-privileges"] = True
    return json.dumps(settings, indent=2, sort_keys=True)


def render_engine_step() -> str:
    """Give the engine the Swarm settings, restarting it only when they change."""
    body = heredoc_body(swarm_daemon_json() + "\n", HEREDOC_END)
    return (
        "set -eu\n"
        f"want=$(cat <<'{HEREDOC_END}'\n{body}{HEREDOC_END}\n)\n"
        'if [ "$(sudo -n cat /etc/docker/daemon.json 2>/dev/null || true)" != "$want" ]; then\n'
        "  printf '%s\\n' \"$want\" | sudo -n tee /etc/docker/daemon.json >/dev/null\n"
        "  sudo -n systemctl restart docker\n"
        "fi\n"
    )


def render_init_step(private_ip: str) -> str:
    """Initialise the Swarm on the first manager (once) and print both join tokens:
    the worker's on the first line, the manager's on the second.

    A node that is a worker of a Swarm (the manager role moved to it: turning
    backups on moves it to the db node) leaves it and initialises a new one;
    every other node then joins the new Swarm with its new token (the join
    step leaves an old Swarm first), and the stack is deployed again.
    """
    return (
        "set -eu\n"
        f'if [ "$({STATE})" = active ] && [ "$({CONTROL})" != true ]; then\n'
        "  docker swarm leave --force >/dev/null\n"
        "fi\n"
        f'if [ "$({STATE})" != active ]; then\n'
        f"  docker swarm init {_addresses(private_ip)} >/dev/null\n"
        "fi\n"
        "docker swarm join-token -q worker\n"
        "docker swarm join-token -q manager\n"
    )


def join_token(tokens: str, manager: bool) -> str:
    """The token a node joins with, from the init step's stdout."""
    lines = tokens.split()
    if len(lines) != 2 or not all(re.fullmatch(TOKEN_RE, t) for t in lines):
        raise ValueError("the Swarm init step printed no join tokens")
    return lines[1] if manager else lines[0]


def render_join_step(private_ip: str, manager_ip: str) -> str:
    """Join the Swarm with the token on stdin; print the node's Swarm id.

    It runs for a new server or a new token (a new Swarm, after the first
    manager was replaced): an engine still in another Swarm leaves it first.
    The CLI takes the token only as an argument, visible in `ps`, so the join
    goes to the engine's API with the token in the request body instead.
    """
    body = json.dumps(
        {
            "ListenAddr": f"{private_ip}:{SWARM_PORT}",
            "AdvertiseAddr": private_ip,
            "DataPathAddr": private_ip,
            "RemoteAddrs": [f"{manager_ip}:{SWARM_PORT}"],
            "JoinToken": "TOKEN",
        },
        sort_keys=True,
    )
    before, after = body.split('"TOKEN"')
    return (
        "set -eu\n"
        "token=$(cat)\n"
        f"printf '%s\\n' \"$token\" | grep -Eqx '{TOKEN_RE}' || "
        "{ echo 'no Swarm join token on stdin' >&2; exit 1; }\n"
        f'if [ "$({STATE})" = active ]; then\n'
        "  docker swarm leave --force >/dev/null\n"
        "fi\n"
        f'printf \'%s"%s"%s\' {shell(before)} "$token" {shell(after)} |\n'
        "  curl -fsS --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \\\n"
        "    --data-binary @- http://localhost/swarm/join >/dev/null\n"
        f"{NODE_ID}\n"
    )


def render_members_step(own_roles: Sequence[Role], others: Mapping[str, Sequence[Role]]) -> str:
    """On the first manager: label each member node with its roles and its own id
    (`NODE_LABEL`, what the app spreads over) and remove every node that is no
    longer a member (a replaced or dropped server), so placement follows the
    pools and no dead node lingers.

    `own_roles`: the first manager's; `others`: Swarm node id -> roles.
    """
    lines = ["set -eu", f"self=$({NODE_ID})", 'keep=" $self "']
    lines += [f'keep="$keep"{shell(node_id + " ")}' for node_id in others]
    lines += [
        "label() {",
        "  node=$1",
        "  shift",
        "  have=$(docker node inspect --format "
        "'{{range $k, $v := .Spec.Labels}}{{$k}} {{end}}' \"$node\")",
        f'  args="--label-add {NODE_LABEL}=$node"',
        f"  for role in {' '.join(r.value for r in Role)}; do",
        '    case " $* " in',
        '      *" $role "*) args="$args --label-add mailstack.role.$role=true" ;;',
        '      *) case " $have " in *" mailstack.role.$role "*) '
        'args="$args --label-rm mailstack.role.$role" ;; esac ;;',
        "    esac",
        "  done",
        "  # shellcheck disable=SC2086 # one word per option",
        '  docker node update $args "$node" >/dev/null',
        "}",
        f'label "$self" {" ".join(r.value for r in own_roles)}',
    ]
    lines += [
        f"label {shell(node_id)} {' '.join(r.value for r in roles)}"
        for node_id, roles in others.items()
    ]
    lines += [
        "for node in $(docker node ls -q); do",
        '  case "$keep" in *" $node "*) continue ;; esac',
        '  docker node demote "$node" >/dev/null 2>&1 || true',
        '  docker node rm --force "$node" >/dev/null',
        "done",
    ]
    return "\n".join(lines) + "\n"


def render_volume_dirs_step(dirs: Mapping[str, str]) -> str:
    """On the db node: the named volumes' folders on the data volume, each owned by
    the user its service runs as (`dirs`: folder -> `uid:gid`, or '' for root)."""
    lines = ["set -eu"]
    for folder, owner in sorted(dirs.items()):
        lines.append(f"mkdir -p {shell(folder)}")
        if owner:
            lines.append(
                f'[ "$(stat -c %u:%g {shell(folder)})" = {shell(owner)} ] || '
                f"sudo -n chown {shell(owner)} {shell(folder)}"
            )
    return "\n".join(lines) + "\n"


def render_stack_deploy_step(
    project: str, directory: str, files: Mapping[str, str], stack_file: str, jobs: Sequence[str]
) -> str:
    """On the first manager: write the stack file and the files it ships as configs,
    the secret env files from stdin (lines `<path> <base64>`), then
    `docker stack deploy` and wait until every service (jobs aside) has all its
    tasks running and no update is in progress; fail if an update rolled back.
    """
    lines = ["set -eu", "umask 077", f"mkdir -p {shell(directory)}", f"cd {shell(directory)}"]
    for path, text in sorted(files.items()):
        if "/" in path:
            lines.append(f"mkdir -p {shell(str(Path(path).parent))}")
        body = heredoc_body(text, HEREDOC_END)
        lines.append(f"cat > {shell(path)} <<'{HEREDOC_END}'\n{body}{HEREDOC_END}")
    lines += [
        "mkdir -p env",
        "while read -r path data; do",
        '  case "$path" in env/*.env) ;; *) echo "unexpected env file $path" >&2; exit 1 ;; esac',
        '  printf \'%s\' "$data" | base64 -d > "$path.new"',
        '  mv "$path.new" "$path"',
        "done",
        # Tags are pinned: the nodes pull them as named, no registry lookup here.
        f"docker stack deploy --prune --resolve-image never -c {shell(stack_file)} "
        f"{shell(project)} >&2",
        f"jobs={shell(' ' + ' '.join(f'{project}_{j}' for j in jobs) + ' ')}",
        f"deadline=$(( $(date +%s) + {DEPLOY_TIMEOUT_S} ))",
        "while :; do",
        '  pending=""',
        f"  for svc in $(docker stack services -q {shell(project)}); do",
        "    name=$(docker service inspect --format '{{.Spec.Name}}' \"$svc\")",
        '    case "$jobs" in *" $name "*) continue ;; esac',
        "    state=$(docker service inspect --format "
        "'{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' \"$svc\")",
        '    case "$state" in rollback_*|paused)',
        '      echo "$name: update $state" >&2; exit 1 ;; esac',
        f"    replicas=$(docker stack services {shell(project)} "
        "--filter \"id=$svc\" --format '{{.Replicas}}')",
        "    running=${replicas%%/*}",
        "    wanted=${replicas#*/}",
        "    wanted=${wanted%% *}",
        '    if [ "$state" = updating ] || [ "$running" != "$wanted" ]; then',
        '      pending="$pending $name"',
        "    fi",
        "  done",
        '  [ -z "$pending" ] && break',
        '  if [ "$(date +%s)" -gt "$deadline" ]; then',
        '    echo "not converged:$pending" >&2; exit 1',
        "  fi",
        "  sleep 2",
        "done",
    ]
    return "\n".join(lines) + "\n"
