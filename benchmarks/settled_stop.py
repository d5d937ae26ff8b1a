"""``[study] stop = "settled"`` against ``"budget"`` on the project's real sets: wall time,
trials run, and whether the default export changed.

Run ``python benchmarks/settled_stop.py --json OUT.json [--trials 40]``. For each real set of
``benchmarks/real_sets.py`` (scikit-learn's bundled sets made long-tailed), a newcomer's sweep
(``sweeper.prepare(X, y, trials=...)``, every other setting at its default) is run twice in one
process, each in its own SQLite file, with the same seeds: once with ``stop = "settled"`` (the
default) and once with ``stop = "budget"``. The default export (``export`` without a rule) of
each is compared: the same point (the same baseline, or the same trial at the same decision) or
not, and their validation and test F1. It prints a table and writes JSON. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sweeper
from sweeper.config import Split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stamp import write_json
from real_sets import REAL_SETS, load_real_set


def one_run(name: str, stop: str, trials: int, folder: Path) -> dict[str, object]:
    X, y, labels = load_real_set(name)
    started = time.perf_counter()
    prepared = sweeper.prepare(X, y, labels=labels, trials=trials, study_name=f"{name}-{stop}",
                               storage=f"sqlite:///{folder / f'{name}-{stop}.db'}", stop=stop)
    result = prepared.run(progress=False)
    seconds = time.perf_counter() - started
    report = result.report()
    point = report.recommendation.point
    comparison = report.recommendation.comparison
    return {
        "stop": stop,
        "seconds": round(seconds, 1),
        "trials": report.trial_states.get("COMPLETE", 0),
        "settled": report.settled,
        "recommended": point.baseline or f"trial {point.record.number}",
        "decision": point.decision_summary(),
        "validation_f1": point.f1(),
        "test_f1": point.f1(Split.TEST),
        "comparison": None if comparison is None else comparison.to_dict(),
        "verdict": report.verdict.message,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--sets", nargs="*", default=list(REAL_SETS))
    arguments = parser.parse_args()
    rows = []
    print(f"{'set':<20} {'stop':<8} {'seconds':>8} {'trials':>6}  recommended (val / test F1)")
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.sets:
            runs = [one_run(name, stop, arguments.trials, Path(folder))
                    for stop in ("settled", "budget")]
            for run in runs:
                print(f"{name:<20} {run['stop']:<8} {run['seconds']:>8.1f} {run['trials']:>6}  "
                      f"{run['recommended']} at {run['decision']} ({run['validation_f1']:.3f} / "
                      f"{run['test_f1']:.3f})", flush=True)
            same = all(runs[0][key] == runs[1][key] for key in ("recommended", "decision"))
            rows.append({"set": name, "runs": runs, "same_export": same,
                         "time_ratio": runs[0]["seconds"] / runs[1]["seconds"]})
    write_json(arguments.json, "settled_stop", {"trials": arguments.trials, "sets": rows})


if __name__ == "__main__":
    main()
