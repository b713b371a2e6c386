"""The `vsil` command line (typer). Each command mirrors a Python API function."""

from vsil.cli.app import app, main

__all__ = ["app", "main"]
