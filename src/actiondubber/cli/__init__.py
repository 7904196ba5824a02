"""The ``actiondubber`` command line: argument parsing and printing only.

Each sub-command lives in its own ``cmd_*.py`` module and is a thin call into
the library. Library errors (:class:`ActionDubberError`) become one line on
stderr and a non-zero exit code; nothing else prints a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys

import click

from actiondubber import __version__
from actiondubber.errors import ActionDubberError, OutputError
from actiondubber.fileio import OVERWRITE

#: Modules that each define ``COMMANDS``: a list of click commands.
_COMMAND_MODULES = (
    "cmd_detect", "cmd_evaluate", "cmd_audio", "cmd_synth", "cmd_flow", "cmd_export", "cmd_preview", "cmd_dub",
    "cmd_train", "cmd_serve", "cmd_sync", "cmd_batch", "cmd_count", "cmd_mc3", "cmd_tal", "cmd_verifier",
)


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage errors too are one line on stderr (``actiondubber: error: ...``), exit code 2."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("actiondubber: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            msg = " ".join(exc.format_message().split())
            cmd = getattr(exc, "ctx", None)
            hint = f" (see '{cmd.command_path} --help')" if isinstance(exc, click.UsageError) and cmd else ""
            click.echo(f"actiondubber: error: {msg}{hint}", err=True)
            sys.exit(exc.exit_code)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        token = OVERWRITE.set(False)  # no command overwrites an existing file without --force
        try:
            return super().invoke(ctx)
        except ActionDubberError as exc:
            click.echo(f"actiondubber: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("actiondubber: interrupted", err=True)
            sys.exit(130)
        except OSError as exc:  # a write the library did not foresee: full disk, name too long, read-only ...
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"actiondubber: error: {where}{exc.strerror or exc}", err=True)
            sys.exit(OutputError.exit_code)
        except MemoryError:
            click.echo("actiondubber: error: out of memory", err=True)
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # FFmpeg write errors and anything unforeseen: still one line, no traceback
            if os.environ.get("ACTIONDUBBER_DEBUG"):
                raise
            import av

            if isinstance(exc, av.error.FFmpegError):
                where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
                click.echo(f"actiondubber: error: {where}{exc.strerror or exc}", err=True)
                sys.exit(OutputError.exit_code)
            click.echo(f"actiondubber: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                       "(please report it; ACTIONDUBBER_DEBUG=1 shows the traceback)", err=True)
            sys.exit(70)
        finally:
            OVERWRITE.reset(token)


def _set_force(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    OVERWRITE.set(bool(value))


def _force_option() -> click.Option:
    return click.Option(["--force"], is_flag=True, expose_value=False, callback=_set_force,
                        help="Replace output files that already exist (an input is never overwritten).")


def _warning_handler() -> logging.Handler:
    """Warnings as ``actiondubber: warning: ...`` lines on stderr; a StreamHandler, so that
    :func:`actiondubber.progress.progress_bar` can route it around a live progress bar."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("actiondubber: warning: %(message)s"))
    return handler


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="actiondubber")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no warnings.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Find when visible actions in a video make a sound, and put sound there."""
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    root = logging.getLogger("actiondubber")
    root.handlers[:] = [_warning_handler()]
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
        if not any(p.name == "force" for p in _cmd.params):
            _cmd.params.append(_force_option())
        cli.add_command(_cmd)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` runs and no temporary file is left."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main() -> None:
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (temp files removed), exit 143."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli(obj={})
    except Terminated:
        click.echo("actiondubber: terminated", err=True)
        sys.exit(143)
    finally:
        signal.signal(signal.SIGTERM, previous)
