"""Command line: ``sweeper run | worker | report | export | dashboard``.

Errors a user can cause print one line, ``sweeper: error: ...``, to stderr and exit with code 2;
anything else is a bug and keeps its traceback. TensorFlow is imported only by the commands that
train, so ``report`` and ``export`` start in a second.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper import __version__
from sweeper.errors import SweeperError

if TYPE_CHECKING:
    from sweeper.studyfile import StudySpec

__all__ = ["build_parser", "main"]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _load_spec(args: argparse.Namespace):
    from sweeper.studyfile import load_study_file

    spec = load_study_file(args.study)
    storage = getattr(args, "storage", None) or os.environ.get("SWEEPER_STORAGE") or None
    return spec.with_overrides(storage=storage, trials=getattr(args, "trials", None))


def _open_existing(args: argparse.Namespace):
    from sweeper.storage import open_storage
    from sweeper.study import load_study

    spec = _load_spec(args)
    storage = open_storage(spec.study.storage)
    study, info = load_study(spec, storage)
    return spec, storage, study, info


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with the C++ stderr silenced.

    TensorFlow's native libraries print several lines (CUDA probing, oneDNN notices) before its
    logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them; they would bury the
    sweeper's own output. Python-level errors still surface: the descriptor is restored first.
    """
    if "tensorflow" in sys.modules or os.environ.get("SWEEPER_TF_LOGS"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _gpu_list(text: str) -> list[str]:
    devices = [part.strip() for part in text.split(",")]
    if not devices or any(not device.isdigit() for device in devices):
        raise argparse.ArgumentTypeError(f"expected GPU ids such as 0,1,2, got {text!r}")
    return devices


def _prepare_study(spec: StudySpec):
    """Validate the data, then create or resume the study: in this order, so that bad input
    leaves no study behind."""
    from sweeper.data import prepare_splits
    from sweeper.models import load_factory
    from sweeper.space import check_search
    from sweeper.storage import open_storage, redact
    from sweeper.study import create_or_resume, study_info

    splits = prepare_splits(spec.data, spec.path.parent)
    check_search(spec.search, spec.path, splits.train.task, splits.train.n_outputs)
    factory = load_factory(spec.model.factory, spec.path.parent) if spec.model.factory else None
    storage = open_storage(spec.study.storage, reconnect_timeout=spec.study.reconnect_timeout)
    info = study_info(spec, splits)
    study = create_or_resume(spec, info, storage)
    print(
        f"study {spec.study.name!r} in {redact(spec.study.storage)}: "
        f"{info.task}, {len(info.labels)} labels, {info.n_train} training rows",
        file=sys.stderr,
    )
    return spec, splits, factory, info, study


def _sweep_here(args: argparse.Namespace, *, show_front: bool) -> int:
    """Train in this process until the study's budget is reached."""
    from optuna.trial import TrialState

    _import_tensorflow_quietly()
    from sweeper.report import format_table
    from sweeper.runner import run_study

    spec, splits, factory, info, study = _prepare_study(_load_spec(args))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        run_study(spec, info, splits, study, factory=factory, progress=not args.quiet)
    except KeyboardInterrupt:
        complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        print(
            f"stopped: {complete} complete trials are kept in the study; "
            "run the same command to resume.",
            file=sys.stderr,
        )
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    if show_front:
        print(format_table(_front_report(spec, study, info)))
    return 0


def _front_report(spec: StudySpec, study, info):
    from sweeper.report import build_report

    return build_report(
        study, info, min_precision=spec.study.min_precision, min_recall=spec.study.min_recall
    )


def _sweep_with_workers(args: argparse.Namespace, environments: list[dict[str, str]]) -> int:
    """Create the study here, then let worker processes train it; show global progress."""
    from optuna.trial import TrialState
    from tqdm.auto import tqdm

    from sweeper.report import format_table
    from sweeper.workers import check_worker_storage, run_local_workers

    spec = _load_spec(args)
    option = "--gpus" if args.gpus else "--workers"
    check_worker_storage(spec.study.storage, len(environments), option)
    spec, _, _, info, study = _prepare_study(spec)
    budget = spec.study.trials
    with tqdm(total=budget, unit="trial", disable=args.quiet, file=sys.stderr,
              desc=f"{spec.study.name} ({len(environments)} workers)") as bar:

        def progress() -> None:
            bar.n = min(budget, len(study.get_trials(deepcopy=False,
                                                     states=(TrialState.COMPLETE,))))
            bar.refresh()

        code = run_local_workers(
            spec.path, spec.study.storage, environments, progress=progress,
            extra_arguments=["--trials", str(budget)],
        )
    if code != 0:
        raise SweeperError(f"a worker exited with code {code}; see its messages above.")
    print(format_table(_front_report(spec, study, info)))
    return 0


def _run(args: argparse.Namespace) -> int:
    from sweeper.workers import worker_environments

    if args.workers is not None and args.gpus is not None:
        raise SweeperError(
            "--workers and --gpus cannot both be given: --gpus starts one worker per GPU."
        )
    if args.workers in (None, 1) and args.gpus is None:
        return _sweep_here(args, show_front=True)
    return _sweep_with_workers(args, worker_environments(args.workers, args.gpus))


def _worker(args: argparse.Namespace) -> int:
    return _sweep_here(args, show_front=False)


def _proxy(args: argparse.Namespace) -> int:
    import optuna
    from optuna.storages import run_grpc_proxy_server

    from sweeper.storage import open_storage, redact

    spec = _load_spec(args)
    if spec.study.storage.startswith("grpc://"):
        raise SweeperError("proxy: the storage is already a gRPC proxy; give the database URL.")
    storage = open_storage(spec.study.storage, reconnect_timeout=spec.study.reconnect_timeout)
    print(
        f"gRPC storage proxy for {redact(spec.study.storage)} on {args.host}:{args.port}; "
        f"point workers at --storage grpc://HOST:{args.port} (Ctrl-C to stop)",
        file=sys.stderr,
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            run_grpc_proxy_server(storage, host=args.host, port=args.port)
    except KeyboardInterrupt:
        # gRPC's worker threads would keep the interpreter alive; the proxy keeps no state of
        # its own (the database does), so it leaves at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _report(args: argparse.Namespace) -> int:
    from sweeper.report import attach_report, build_report, format_table, write_html, write_json

    spec, _, study, info = _open_existing(args)
    report = build_report(
        study, info, min_precision=spec.study.min_precision, min_recall=spec.study.min_recall
    )
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        write_html(report, args.html)
        attach_report(study, args.html, spec.study.artifacts)
        print(f"wrote {args.html} (attached to the study: the dashboard opens it)",
              file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sweeper.export import export_document, select_point, write_export
    from sweeper.study import finished_records

    spec, _, study, info = _open_existing(args)
    point = select_point(
        finished_records(study),
        trial=args.trial,
        min_precision=args.min_precision,
        min_recall=args.min_recall,
        best_fbeta=args.best_fbeta,
    )
    document = export_document(
        point, info, study_name=spec.study.name, storage_url=spec.study.storage
    )
    write_export(document, args.output)
    (val_recall, val_precision), (test_recall, test_precision) = point.validation, point.test
    print(
        f"wrote {args.output}: trial {point.record.number} at decision "
        f"{point.decision_summary()}, validation recall {val_recall:.3f}, precision "
        f"{val_precision:.3f}; test recall {test_recall:.3f}, precision {test_precision:.3f}",
        file=sys.stderr,
    )
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import optuna_dashboard

    from sweeper.report import artifact_store

    spec, storage, _, _ = _open_existing(args)
    print(
        f"optuna-dashboard for study {spec.study.name!r}: http://{args.host}:{args.port}/ "
        "(Ctrl-C to stop)",
        file=sys.stderr,
    )
    try:
        optuna_dashboard.run_server(
            storage, host=args.host, port=args.port,
            artifact_store=artifact_store(spec.study.artifacts),
        )
    except KeyboardInterrupt:
        pass
    except OSError as error:
        raise SweeperError(f"cannot serve on {args.host}:{args.port}: {error.strerror}.") from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweeper",
        description="Search class weights, normalisation and decision threshold for imbalanced "
        "classifiers with a multi-objective Optuna study.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("study", type=Path, metavar="STUDY.toml", help="the study file")
        sub.add_argument(
            "--storage", metavar="URL",
            help="SQLAlchemy URL or grpc://HOST:PORT; overrides the file's (and $SWEEPER_STORAGE)",
        )
        sub.set_defaults(handler=handler)
        return sub

    def sweeping(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--trials", type=_positive, metavar="N", help="override the budget")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        return sub

    run = sweeping(command("run", "create or resume the study and run it to its budget", _run))
    run.add_argument(
        "--workers", type=_positive, metavar="N",
        help="start N local worker processes on the study's storage (not SQLite)",
    )
    run.add_argument(
        "--gpus", type=_gpu_list, metavar="0,1,...",
        help="start one worker per GPU, each seeing only its own device",
    )

    sweeping(command("worker", "join a running study from another process or machine", _worker))

    report = command("report", "print the Pareto front; write it as HTML or JSON", _report)
    report.add_argument("--html", type=Path, metavar="FILE", help="self-contained HTML page")
    report.add_argument("--json", type=Path, metavar="FILE", help="the report's facts as JSON")

    export = command("export", "write one trial's weights and threshold as JSON", _export)
    rule = export.add_mutually_exclusive_group(required=True)
    rule.add_argument("--trial", type=int, metavar="N", help="this trial number")
    rule.add_argument(
        "--min-precision", type=_fraction, metavar="P",
        help="the best recall among trials with validation precision >= P",
    )
    rule.add_argument(
        "--min-recall", type=_fraction, metavar="R",
        help="the best precision among trials with validation recall >= R",
    )
    rule.add_argument(
        "--best-fbeta", type=float, metavar="BETA",
        help="the best validation F-beta (BETA > 1 favours recall, < 1 precision)",
    )
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.json")

    proxy = command(
        "proxy", "serve Optuna's gRPC storage proxy in front of the study's database", _proxy
    )
    proxy.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    proxy.add_argument("--port", type=_positive, default=13000, help="default 13000")

    dashboard = command("dashboard", "serve optuna-dashboard on the study's storage", _dashboard)
    dashboard.add_argument("--port", type=_positive, default=8080, help="default 8080")
    dashboard.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (default 127.0.0.1; a container publishes 0.0.0.0 on 127.0.0.1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweeper`` console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    args = build_parser().parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return args.handler(args)
    except SweeperError as error:
        print(f"sweeper: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
