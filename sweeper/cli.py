"""Command line: ``sweeper run | worker | report | export | dashboard | proxy``.

A thin client of the Python API (:mod:`sweeper.api`): it parses arguments, calls the API,
prints, and turns errors into exit codes. Errors a user can cause print one line,
``sweeper: error: ...``, to stderr and exit with code 2; anything else is a bug and keeps its
traceback. TensorFlow is imported only by the commands that train, so ``report`` and ``export``
start in a second.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweeper import __version__
from sweeper.config import StudyConfig, argument_type
from sweeper.errors import SweeperError

__all__ = ["build_parser", "main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _gpu_list(text: str) -> list[str]:
    devices = [part.strip() for part in text.split(",")]
    if not devices or any(not device.isdigit() for device in devices):
        raise argparse.ArgumentTypeError(f"expected GPU ids such as 0,1,2, got {text!r}")
    return devices


def _storage(args: argparse.Namespace) -> str | None:
    """``--storage``, else ``$SWEEPER_STORAGE``, else (``None``) the study file's."""
    return args.storage or os.environ.get("SWEEPER_STORAGE") or None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _sweep(args: argparse.Namespace, *, show_front: bool) -> int:
    """``run`` and ``worker``. While trials train, SIGTERM stops like Ctrl-C: the batch in
    flight is failed and queued again, finished trials stay."""
    from sweeper.api import prepare_study_file, run_study_file
    from sweeper.report import format_table

    storage = _storage(args)
    workers, gpus = getattr(args, "workers", None), getattr(args, "gpus", None)
    if workers in (None, 1) and gpus is None:
        prepared = prepare_study_file(args.study, storage=storage, trials=args.trials)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            result = prepared.run(progress=not args.quiet)
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
    else:  # the workers handle the signals; this process shows their progress
        result = run_study_file(args.study, storage=storage, trials=args.trials,
                                progress=not args.quiet, workers=workers, gpus=gpus)
    if show_front:
        print(format_table(result.report()))
    return 0


def _run(args: argparse.Namespace) -> int:
    return _sweep(args, show_front=True)


def _worker(args: argparse.Namespace) -> int:
    return _sweep(args, show_front=False)


def _proxy(args: argparse.Namespace) -> int:
    import optuna
    from optuna.storages import run_grpc_proxy_server

    from sweeper.config import load_study_file
    from sweeper.study import open_storage, redact

    study = load_study_file(args.study).config.with_overrides(storage=_storage(args)).study
    if study.url.startswith("grpc://"):
        raise SweeperError("proxy: the storage is already a gRPC proxy; give the database URL.")
    storage = open_storage(study.url, reconnect_timeout=study.reconnect_timeout)
    print(
        f"gRPC storage proxy for {redact(study.url)} on {args.host}:{args.port}; "
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
    from sweeper.api import open_study_file
    from sweeper.report import format_table

    result = open_study_file(args.study, storage=_storage(args))
    print(format_table(result.report()))
    result.report(html=args.html, json=args.json)
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        print(f"wrote {args.html} (attached to the study: the dashboard opens it)",
              file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sweeper.api import open_study_file

    result = open_study_file(args.study, storage=_storage(args))
    rule = {key: getattr(args, key) for key in (
        "trial", "baseline", "min_precision", "min_recall", "best_fbeta"
    ) if getattr(args, key) is not None}
    exported = result.export(args.output, **rule)
    if not rule:
        default = ", ".join(f"{key}={value}" for key, value in result.export_rule.items())
        chosen = (
            f"by [study] export = {default}" if default else
            "the recommended point (the verdict's: the best validation F1, a baseline unless a "
            "searched trial beats it)"
        )
        print(f"no rule given: exporting {chosen}", file=sys.stderr)
    print(f"wrote {args.output}: {exported.summary()}", file=sys.stderr)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import optuna_dashboard

    from sweeper.api import open_study_file
    from sweeper.report import artifact_store

    result = open_study_file(args.study, storage=_storage(args))
    print(
        f"optuna-dashboard for study {result.study_name!r}: http://{args.host}:{args.port}/ "
        "(Ctrl-C to stop)",
        file=sys.stderr,
    )
    try:
        optuna_dashboard.run_server(
            result.optuna_storage, host=args.host, port=args.port,
            artifact_store=artifact_store(result.artifacts),
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
            "--storage", metavar="URL", type=argument_type(StudyConfig, "storage", "--storage"),
            help="SQLAlchemy URL or grpc://HOST:PORT; overrides the file's (and $SWEEPER_STORAGE)",
        )
        sub.set_defaults(handler=handler)
        return sub

    def sweeping(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--trials", type=argument_type(StudyConfig, "trials", "--trials"), metavar="N",
            help="override the budget",
        )
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

    export = command(
        "export", "write one operating point's weights and threshold as JSON (no rule: the "
        "recommended one)", _export,
    )
    rule = export.add_mutually_exclusive_group()
    rule.add_argument("--trial", type=int, metavar="N", help="this trial number")
    rule.add_argument(
        "--baseline", metavar="NAME",
        help="a baseline (unweighted, neg_pos, sklearn_balanced) at its best validation F1",
    )
    rule.add_argument(
        "--min-precision", metavar="P",
        type=argument_type(StudyConfig, "min_precision", "--min-precision"),
        help="the best recall among trials with validation precision >= P",
    )
    rule.add_argument(
        "--min-recall", metavar="R",
        type=argument_type(StudyConfig, "min_recall", "--min-recall"),
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
