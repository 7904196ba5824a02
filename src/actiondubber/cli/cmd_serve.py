"""``actiondubber serve``: the local web editor for reviewing and correcting events (the ``web`` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from actiondubber.errors import BackendUnavailableError, InputError
from actiondubber.fileio import OVERWRITE


def is_loopback(host: str) -> bool:
    """Whether *host* (a name or an address) stays on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.argument("folder", type=click.Path(path_type=Path), default=".")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="TCP port.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Anything but a loopback address shares the folder with the network.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
@click.option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=4096, show_default=True,
              help="Largest video the page may upload, MB.")
def serve_cmd(folder: Path, port: int, host: str, no_browser: bool, max_upload_mb: int):
    """Open a web editor on the videos in FOLDER: detect, review, correct, audition, save and export.

    Reads and writes only inside FOLDER. Stop it with Ctrl+C.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    try:
        from actiondubber.web.app import run_server
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the web editor needs FastAPI and uvicorn ({exc.name} is missing): pip install 'actiondubber[web]'"
        ) from None
    if not is_loopback(host):
        click.secho(
            f"actiondubber: WARNING: listening on {host}: anyone who can reach this machine on port {port} can "
            f"read, upload and write files in {folder.resolve()}. There is no password. Use --host 127.0.0.1 "
            "unless you mean it.", err=True, fg="red", bold=True)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"actiondubber: serving {folder.resolve()} at http://{shown}:{port}/  (Ctrl+C stops)", err=True)
    # The page has its own rule for existing files (it asks, then replaces or picks a new name); the
    # command line's "no overwrite without --force" must not refuse a replacement the user confirmed.
    OVERWRITE.set(True)
    run_server(folder, host=host, port=port, open_browser=not no_browser, max_upload=max_upload_mb * 1024 * 1024)


COMMANDS = [serve_cmd]
