"""The ``actiondubber`` command line: argument parsing and printing only.

Each sub-command lives in its own ``cmd_*.py`` module and is a thin call into
the library. Library errors (:class:`ActionDubberError`) become one line on
stderr and a non-zero exit code; nothing else prints a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from actiondubber import __version__
from actiondubber.errors import ActionDubberError

#: Modules that each define ``COMMANDS``: a list of click commands.
_COMMAND_MODULES = (
    "cmd_detect", "cmd_evaluate", "cmd_audio", "cmd_synth", "cmd_flow", "cmd_export", "cmd_preview", "cmd_dub",
    "cmd_train", "cmd_tal",
)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ActionDubberError as exc:
            click.echo(f"actiondubber: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("actiondubber: interrupted", err=True)
            sys.exit(130)
        except MemoryError:
            click.echo("actiondubber: error: out of memory", err=True)
            sys.exit(1)


class _WarningHandler(logging.Handler):
    def emit(self, record):
        click.echo(f"actiondubber: warning: {record.getMessage()}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="actiondubber")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no warnings.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Find when visible actions in a video make a sound, and put sound there."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    root = logging.getLogger("actiondubber")
    root.handlers[:] = [_WarningHandler()]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    root.propagate = False


for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"actiondubber.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a command module not written yet
        if _exc.name != f"actiondubber.cli.{_name}":
            raise
        continue
    for _cmd in _mod.COMMANDS:
        cli.add_command(_cmd)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
