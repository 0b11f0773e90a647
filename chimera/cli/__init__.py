"""`chimera`: the command line for people (one module per command group)."""

from chimera.cli.main import app, main

__all__ = ["app", "main"]
