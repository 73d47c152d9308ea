"""Ordinaut: a durable task scheduler for AI agents and the services around them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ordinaut")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
