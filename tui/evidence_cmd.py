"""``sickbay evidence verify DIR``: check an incident's evidence directory against its manifest.

Every file collected is listed in ``DIR/manifest.jsonl`` with its sha256 and size
(``backends.evidence_store``). Exit 0: all there and unchanged; 1: files missing, changed or not
in the manifest (each listed); 2: DIR is not an evidence directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backends.evidence_store import MANIFEST, EvidenceStore, verify
from domain.sanitize import visible


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evidence",
        help="verify collected evidence against its manifest",
        description=(
            "Check that every file of an evidence directory is unchanged since it was collected "
            "(sha256 and size from manifest.jsonl) and that no file was added."
        ),
    )
    commands = parser.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser("verify", help="check the files against the manifest")
    check.add_argument("dir", metavar="DIR", help="an evidence directory (holds manifest.jsonl)")


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir).expanduser()
    if not (root / MANIFEST).is_file():
        print(f"sickbay evidence: {root} has no {MANIFEST}", file=sys.stderr)
        return 2
    problems = verify(root)
    if problems:
        print(f"{root}: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {visible(problem)}", file=sys.stderr)
        return 1
    count = len(EvidenceStore(root).entries())
    print(f"ok: {count} file(s) match the manifest ({root})")
    return 0
