"""Helpers shared by the CLI commands."""

from __future__ import annotations

import sys

import click


def show_progress(ctx: click.Context) -> bool:
    """Progress bars only on a terminal and never with ``--quiet``."""
    quiet = bool((ctx.find_root().obj or {}).get("quiet"))
    return not quiet and sys.stderr.isatty()
