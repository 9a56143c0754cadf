"""The start-up time each job logs (``nerflow.stage.startup_seconds``): what
``bench/stage_costs.py`` reads to split a run's time into start-up and work."""

from __future__ import annotations

import subprocess
import sys
import time

CHILD = (
    "import time; time.sleep(0.3); from nerflow.stage import startup_seconds; "
    "print(startup_seconds())"
)


def test_startup_seconds_is_the_time_since_the_process_started() -> None:
    """At least the child's own sleep, and no more than the parent saw the child live
    (psutil's start time, with the boot time rounded to the second, failed this)."""
    before = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
    lived = time.perf_counter() - before
    assert done.returncode == 0, done.stderr
    startup = float(done.stdout)
    assert 0.3 <= startup <= lived + 0.02
