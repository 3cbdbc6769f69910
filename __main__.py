"""mailstack: load the stack's config, build the components, export what operators need."""

from mailstack.config import load_config
from mailstack.wiring import deploy

deploy(load_config())
