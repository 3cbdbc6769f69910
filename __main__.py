"""mailstack: load the stack's config, build the components, export what operators need."""

from mailstack.cluster_wiring import deploy_cluster
from mailstack.config import load_config
from mailstack.wiring import deploy

config = load_config()
# One server (nodePools empty), or a Swarm over the pools' servers.
(deploy_cluster if config.server.node_pools else deploy)(config)
