"""``pdesurr export STORE --format the_well|pdebench --out DIR``: a store in another layout.

The output is what that ecosystem's own loader reads: The Well's ``WellDataset(path=DIR,
well_split_name=split)``, PDEBench's HDF5 readers (see :mod:`pdesurr.data.export_well`
and :mod:`pdesurr.data.export_pdebench` for the exact layouts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pdesurr.config import ConfigError

FORMATS = ("the_well", "pdebench")


def cmd_export(args: argparse.Namespace) -> int:
    from pdesurr.data.export_pdebench import export_pdebench
    from pdesurr.data.export_well import export_well

    if args.format not in FORMATS:
        raise ConfigError(f"--format must be one of {list(FORMATS)}, got {args.format!r}")
    out = Path(args.out)
    if args.overwrite and out.exists():
        import shutil

        shutil.rmtree(out)
    writer = export_well if args.format == "the_well" else export_pdebench
    files = writer(args.store, out, args.name)
    print(f"{args.store} -> {out} ({args.format}, {len(files)} file(s))")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a store in The Well's or PDEBench's layout")
    p.add_argument("store", help="a dataset store (zarr, HDF5, or a Well / PDEBench file)")
    p.add_argument("--format", required=True, help="the_well or pdebench")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", help="dataset_name to write (default: the store's name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_export)
