"""Chaos experiments: inject a fault in production, prove the system holds, always roll back.

``experiment`` (the lifecycle: steady state before, inject, probe during, rollback, steady state
after; pure, with its clock passed in), ``faults`` (what can be injected, each with its
rollback), ``ledger`` (every fault on disk before it is injected; replayed by the next run or
``prodsmoke chaos recover``), ``watchdog`` (a process of its own that rolls a fault back when its
time to live ends, should pytest die) and ``runs`` (the pytest shell: ``--chaos``, the marker,
the experiment in place of the check's body).
"""

MARKER = "chaos"  # @pytest.mark.chaos: the one name every part of the package uses
