"""Command line: ``python -m training.corpora fetch [NAME ...] [--dest DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.config import CORPORA_ROOT_ENV, DEFAULT_CORPORA_ROOTS
from training.corpora.download import FetchError
from training.corpora.fetch import DEFAULT_MIRROR, MANIFEST, MIRROR_ENV, fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.corpora", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("fetch", help="download, verify and prepare corpora")
    cmd.add_argument(
        "names",
        nargs="*",
        default=["all"],
        metavar="NAME",
        help="lovecraft, poems, names, fables or all (default: all)",
    )
    cmd.add_argument(
        "--dest",
        type=Path,
        default=Path(DEFAULT_CORPORA_ROOTS[-1]),
        help=f"corpora root to fill (default: ./{DEFAULT_CORPORA_ROOTS[-1]}/, where "
        "the configs look after ../shared/corpora/)",
    )
    cmd.add_argument("--mirror", help=f"base URL instead of {DEFAULT_MIRROR} (or ${MIRROR_ENV})")
    cmd.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    cmd.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    try:
        fetch(
            args.names,
            args.dest,
            manifest_path=args.manifest,
            mirror=args.mirror,
            progress=args.progress,
        )
    except FetchError as exc:
        print(f"fetch failed: {exc}", file=sys.stderr)
        return 1
    if any(args.dest.resolve() == Path(root).resolve() for root in DEFAULT_CORPORA_ROOTS):
        print(f"done: the configs find these corpora in {args.dest}")
    else:
        print(
            f"done: point the configs at {args.dest} with --corpora-root {args.dest} "
            f"or {CORPORA_ROOT_ENV}={args.dest}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
