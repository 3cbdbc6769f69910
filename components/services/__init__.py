"""Docker services: typed model, kinds, app presets, renderers and deploy steps."""
