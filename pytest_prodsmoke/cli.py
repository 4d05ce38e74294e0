"""The ``prodsmoke`` command: helpers for the pipeline steps around a gate run.

    prodsmoke rollback-needed gate.json    exit 0: roll back now; 1: no rollback needed
    prodsmoke monitor [options] -- SUITE   the suite as a continuous monitor (monitor/command.py)
    prodsmoke chaos recover [--state-dir D] roll back the faults a killed run left
    prodsmoke chaos halt | resume           stop every experiment on the host / allow again

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
    chaos = commands.add_parser("chaos", help="chaos experiments: roll back what a killed run "
                                "left in the chaos ledger")
    chaos.add_argument("action", choices=["recover", "halt", "resume"],
                       help="recover: roll back what the ledger holds; halt: stop every "
                       "running experiment on this host within one probe interval (rolled "
                       "back) and start none; resume: allow them again")
    chaos.add_argument("--state-dir", type=Path, help="recover: the ledger of the runs with "
                       "this --prodsmoke-state-dir (default: the host's); halt and resume are "
                       "always host-wide")
    chaos.add_argument("--all", action="store_true", help="also faults whose process still "
                       "runs (when you know it is stuck)")
    args = parser.parse_args(argv)
    if args.command == "chaos":
        if args.action == "recover":
            return _chaos_recover(args.state_dir, args.all)
        return _chaos_halt(args.action == "halt")
    needed, why = rollback_needed(read_report(args.report))
    print(f"prodsmoke: rollback {'needed' if needed else 'not needed'}: {why}")
    return EXIT_ROLLBACK if needed else EXIT_NO_ROLLBACK


def _chaos_halt(halt: bool) -> int:
    """The host's emergency stop for chaos experiments (a file every experiment watches)."""
    import tempfile

    from pytest_prodsmoke.methods.chaos.ledger import HALT_FILE, host_chaos_directory

    # Host-wide, whatever --state-dir says: a halt must reach every run on the host.
    path = host_chaos_directory(Path(tempfile.gettempdir())) / HALT_FILE
    if halt:
        path.write_text("halted by prodsmoke chaos halt\n")
        print(f"prodsmoke chaos: halted ({path}): running experiments stop within one probe "
              "interval, rolled back; none starts until prodsmoke chaos resume")
    else:
        path.unlink(missing_ok=True)
        print(f"prodsmoke chaos: resumed ({path} removed)")
    return 0


def _chaos_recover(state_dir: Path | None, everything: bool) -> int:
    """Roll back the faults in the chaos ledger; exit 0 when none is left, 1 when one stays."""
    import tempfile

    from pytest_prodsmoke.methods.chaos.ledger import ledger_directory, recover

    directory = ledger_directory(state_dir, Path(tempfile.gettempdir()))
    results = recover(directory, only_gone=not everything)
    for result in results:
        state = ("STILL IN PRODUCTION: " + result["error"] + "; " + result["manual"]
                 if result["outcome"] == "rollback_failed" else result["outcome"])
        print(f"prodsmoke chaos: {result['fault']} ({result['check'] or 'unknown check'}): "
              f"{state}")
    if not results:
        print(f"prodsmoke chaos: nothing to roll back in {directory}")
    return 1 if any(r["outcome"] == "rollback_failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
