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
