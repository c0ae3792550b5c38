"""The role builders: importing this package registers every role's builder (`@builder(role)` in
node/components.py's BUILDERS); build_components imports it."""

from node.roles import network, proving

__all__ = ["network", "proving"]
