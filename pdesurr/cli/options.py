"""Command-line options shared by several subcommands."""

from __future__ import annotations


def add_set_option(parser, what: str = "preset") -> None:
    """``--set SECTION.KEY=VALUE`` (repeatable): override a key of a TOML file."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override a {what} key (TOML literal); repeatable",
    )


PLOT_SUFFIXES = (".png", ".pdf", ".svg")  # what the plots are written as (matplotlib)


def check_output(path, what: str, suffixes: tuple[str, ...] | None = None):
    """Before any work starts: ``path`` (to be created or replaced) can be written.

    Raises PermissionError naming ``what`` and the directory when the nearest existing
    ancestor (or ``path`` itself) is read-only, and InputError for a suffix not in
    ``suffixes``; so a command never computes for minutes and then fails to save, nor
    leaves half its outputs behind."""
    import errno
    import os
    from pathlib import Path

    from pdesurr.cli.simulate import InputError

    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{what} {path}: unsupported file type {path.suffix!r}; use {suffixes}")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_file() and probe != path:
        raise InputError(f"{what} {path}: {probe} is a file, not a directory")
    target = probe if probe.is_dir() else probe.parent
    if not os.access(target, os.W_OK | os.X_OK) or (probe == path and not os.access(path, os.W_OK)):
        raise PermissionError(
            errno.EACCES,
            f"{what} {path}: cannot write in {target} (read-only or no permission)",
            str(path),
        )
    return path


def progress_mode(quiet: bool = False, stream=None) -> str | None:
    """How to show progress: a bar on a terminal, plain lines in a log file (a Slurm log,
    ``make demo > log``: no carriage returns, one line per log interval), nothing when
    ``quiet``. Only the CLI looks at the terminal; the library takes the mode."""
    import sys

    if quiet:
        return None
    stream = stream or sys.stderr  # where tqdm draws
    return "bar" if stream.isatty() else "lines"
