"""Regenerates the Python code of the event contracts in ``proto/`` (``make proto``).

``--check`` regenerates into a scratch folder and fails when the committed code differs, so that a
change to a ``.proto`` file cannot land without its generated code.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = Path(__file__).resolve().parent


def generate(out_dir: Path) -> list[str]:
    protos = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p.name for p in out_dir.glob("*_pb2.py*"))


def drift() -> list[str]:
    """Names of generated files that differ from (or are missing in) the committed ones."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = generate(Path(scratch))
        committed = sorted(p.name for p in OUT_DIR.glob("*_pb2.py*"))
        differing = [
            n
            for n in fresh
            if (OUT_DIR / n).exists() and not filecmp.cmp(Path(scratch) / n, OUT_DIR / n, shallow=False)
        ]
        return sorted(set(fresh) ^ set(committed)) + differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    options = parser.parse_args()
    if options.check:
        stale = drift()
        if stale:
            print("generated event code is stale; run `make proto`:", ", ".join(stale))
            sys.exit(1)
        print("generated event code matches proto/")
        return
    print("generated:", ", ".join(generate(OUT_DIR)))


if __name__ == "__main__":
    main()
