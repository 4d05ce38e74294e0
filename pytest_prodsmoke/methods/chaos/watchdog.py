"""The watchdog of one injected fault: a process of its own (its own session, so a cancelled
CI job's signal to pytest's process group does not reach it), which sleeps until the fault's
time to live ends and then rolls it back from the ledger — unless pytest rolled it back first
and removed the entry (then it finds nothing, or is told to stop).

    python -m pytest_prodsmoke.methods.chaos.watchdog LEDGER_ENTRY
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from pytest_prodsmoke.methods.chaos.ledger import WATCHDOG_DONE, claim, roll_back

LOG_SUFFIX = ".watchdog.log"  # beside its ledger entry; removed with it after a rollback


def start(entry: Path) -> subprocess.Popen[bytes]:
    log = entry.with_suffix(LOG_SUFFIX)
    with open(log, "ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "pytest_prodsmoke.methods.chaos.watchdog",
                                 str(entry)], stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    entry = Path(argv[0])
    try:
        expires_at = float(json.loads(entry.read_text(encoding="utf-8"))["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # already rolled back (and removed), or not ours to judge
    while time.time() < expires_at:
        if not entry.exists():
            return 0  # pytest rolled it back
        time.sleep(min(0.5, max(0.05, expires_at - time.time())))
    claimed = claim(entry)
    if claimed is None:
        return 0
    data = json.loads(claimed.read_text(encoding="utf-8"))
    problem = roll_back(data)
    print(f"prodsmoke chaos watchdog: {data.get('fault')}: "
          + (f"ROLLBACK FAILED: {problem}" if problem else "rolled back after its time to live"),
          flush=True)
    if problem:
        claimed.replace(entry)  # still in production: the next run or recover tries again
        return 1
    data["state"] = "rolled_back_by_watchdog"
    done = entry.with_suffix(WATCHDOG_DONE)  # the next run reports it
    done.write_text(json.dumps(data), encoding="utf-8")
    claimed.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
