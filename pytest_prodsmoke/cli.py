"""The ``prodsmoke`` command: helpers for the pipeline steps around a gate run.

    prodsmoke rollback-needed gate.json    exit 0: roll back now; 1: no rollback needed
    prodsmoke monitor [options] -- SUITE   the suite as a continuous monitor (monitor/command.py)

One line on stdout says why. Meant for a pipeline's fallback step, which runs when the gate job
did not succeed: ``if prodsmoke rollback-needed gate.json; then ./rollback.sh; fi``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_prodsmoke.outputs.pipeline import read_report, rollback_needed

EXIT_ROLLBACK, EXIT_NO_ROLLBACK = 0, 1  # argparse's usage errors exit 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "monitor":  # its own parser: its usage errors exit 4, like pytest's
        from pytest_prodsmoke.monitor.command import main as monitor

        return monitor(argv[1:])
    parser = argparse.ArgumentParser(prog="prodsmoke", description="pytest-prodsmoke helpers "
                                     "for the pipeline steps around a gate run")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rollback = commands.add_parser(
        "rollback-needed", help="exit 0 when the candidate must still be rolled back (no gate "
        "report, or a failed gate that did not roll back itself), 1 when not")
    rollback.add_argument("report", type=Path, help="the --gate-report file")
    commands.add_parser("monitor", help="run the suite continuously as a monitor: "
                        "prodsmoke monitor --help")
    args = parser.parse_args(argv)
    needed, why = rollback_needed(read_report(args.report))
    print(f"prodsmoke: rollback {'needed' if needed else 'not needed'}: {why}")
    return EXIT_ROLLBACK if needed else EXIT_NO_ROLLBACK


if __name__ == "__main__":
    sys.exit(main())
