"""Command line: ``sweeper run | worker | report | export | dashboard | proxy``.

A thin client of the Python API (:mod:`sweeper.api`): it parses arguments, calls the API,
prints, and turns errors into exit codes (:data:`EPILOG`). Every error prints one line,
``sweeper: error: ...``, to stderr: a bad argument or input exits 2, a run that failed for
another reason (a worker died, the database stayed away) 1, an interrupt 130. Anything else is
a bug and keeps its traceback. What the sweeper does is logged (:mod:`sweeper.logs`,
``--log-level``). TensorFlow is imported only by the commands that train, so ``report`` and
``export`` start in a second.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from sweeper import __version__, holds, interrupts, logs
from sweeper.config import EXPORT_RULES, StudyConfig, argument_type, constraint_argument
from sweeper.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    StorageError,
    SweeperError,
)
from sweeper.files import write_text_atomic
from sweeper.fleet import SLIM_IMAGE, WORKER_IMAGE

__all__ = ["EPILOG", "build_parser", "entry", "main"]

logger = logging.getLogger(__name__)

EPILOG = f"""\
exit codes:
  0    done
  {EXIT_USAGE}    a bad argument, study file, data set, model factory, storage URL or rule
  {EXIT_FAILED}    the run failed otherwise: a worker died, the database stayed unreachable
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C, SIGTERM); finished trials are kept, run again to resume

environment:
  SWEEPER_STORAGE       storage URL when --storage is not given (else the study file's)
  SWEEPER_STORAGE_FILE  a file holding that URL (a Docker or Kubernetes secret)
  SWEEPER_HEALTH_FILE   a file a worker touches on each heartbeat (python -m sweeper.health)
  SWEEPER_LOG_LEVEL     debug, info (default), warning or error; --log-level overrides it
  SWEEPER_TF_LOGS=1     keep TensorFlow's native start-up messages

example:
  sweeper run studies/seed-multilabel.toml && sweeper export studies/seed-multilabel.toml -o w.json
"""


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line, ``sweeper: error: ...`` and exit code 2, as every other
    error (argparse prints its usage block first)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("sweeper").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"sweeper: error: {where}{message} (see --help)\n")


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[minimum, maximum]``."""
    expected = (f"an integer >= {minimum}" if maximum is None
                else f"an integer from {minimum} to {maximum}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive = _integer(1)
_port = _integer(1, 65535)


def _gpu_list(text: str) -> list[str]:
    devices = [part.strip() for part in text.split(",")]
    if not devices or any(not (device.isascii() and device.isdigit()) for device in devices):
        raise argparse.ArgumentTypeError(f"expected GPU ids such as 0,1,2, got {text!r}")
    if len(set(devices)) != len(devices):
        raise argparse.ArgumentTypeError(
            f"each GPU id once (one worker per GPU), got {text!r}"
        )
    return devices


def _storage(args: argparse.Namespace) -> str | None:
    """``--storage``, else ``$SWEEPER_STORAGE``, else the URL in the file
    ``$SWEEPER_STORAGE_FILE`` names (a Docker or Kubernetes secret: the password stays out of
    the environment and the configuration), else (``None``) the study file's."""
    if args.storage or os.environ.get("SWEEPER_STORAGE"):
        return args.storage or os.environ["SWEEPER_STORAGE"]
    path = os.environ.get("SWEEPER_STORAGE_FILE")
    if not path:
        return None
    try:
        url = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SweeperError(f"$SWEEPER_STORAGE_FILE {path}: cannot read: {error}.",
                           key="storage") from None
    if not url:
        raise SweeperError(f"$SWEEPER_STORAGE_FILE {path}: the file is empty.", key="storage")
    return url


_raise_interrupt = interrupts.interrupt


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar on a terminal; elsewhere (a fleet's logs) the per-batch log lines."""
    return not args.quiet and sys.stderr.isatty()


def _check_port_free(host: str, port: int) -> None:
    """Refuse a busy or unbindable address in one line, before a server prints its own."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise SweeperError(
            f"cannot serve on {host}:{port}: {error.strerror or error}.", key="port"
        ) from None


def _sweep(args: argparse.Namespace, *, show_front: bool) -> int:
    """``run`` and ``worker``. SIGTERM stops like Ctrl-C (:func:`main` handles both): the batch
    in flight is failed and queued again, finished trials stay."""
    from sweeper.api import prepare_study_file, run_study_file
    from sweeper.report import format_table

    storage = _storage(args)
    workers, gpus = getattr(args, "workers", None), getattr(args, "gpus", None)
    if workers in (None, 1) and gpus is None:
        prepared = prepare_study_file(args.study, storage=storage, trials=args.trials)
        result = prepared.run(progress=_progress(args))
    else:  # the workers handle the signals; this process shows their progress
        result = run_study_file(args.study, storage=storage, trials=args.trials,
                                progress=_progress(args), workers=workers, gpus=gpus)
    if show_front:
        print(format_table(result.report()))
        _publish(result)
    return 0


def _publish(result) -> None:
    """Save the report for the dashboard. A side effect of ``run`` and ``report``: a storage
    that refuses it (a read-only database file, a user without write rights) costs the
    dashboard's copy, not the command's result, so it is a warning."""
    try:
        result.publish()
    except Exception as error:  # the storage's (SQLAlchemy, gRPC, Optuna), the file system's
        cause = error.__cause__ or error
        text = str(getattr(cause, "orig", None) or cause).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        logger.warning("the dashboard's figures were not updated: %s", first)
        return
    logger.info("the dashboard shows this report (study %r: its note and figures)",
                result.study_name)


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
    _check_port_free(args.host, args.port)
    logger.info(
        "gRPC storage proxy for %s on %s:%d; point workers at --storage grpc://HOST:%d "
        "(Ctrl-C to stop)", redact(study.url), args.host, args.port, args.port,
    )
    try:  # SIGTERM and Ctrl-C raise KeyboardInterrupt (main's handler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            interrupts.serve_until_interrupted(
                lambda: run_grpc_proxy_server(storage, host=args.host, port=args.port)
            )
    except KeyboardInterrupt:
        # gRPC's worker threads would keep the interpreter alive; the proxy keeps no state of
        # its own (the database does), so it leaves at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return 0


def _report(args: argparse.Namespace) -> int:
    from sweeper.api import open_study_file
    from sweeper.report import format_table

    result = open_study_file(args.study, storage=_storage(args))
    print(format_table(result.report()))
    result.report(html=args.html, json=args.json)
    _publish(result)
    if args.json:
        logger.info("wrote %s", args.json)
    if args.html:
        logger.info("wrote %s", args.html)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sweeper.api import open_study_file

    result = open_study_file(args.study, storage=_storage(args))
    rule = {spec.name: getattr(args, spec.name) for spec in EXPORT_RULES
            if getattr(args, spec.name) is not None}
    exported = result.export(args.output, **rule)
    if not rule:
        default = ", ".join(f"{key}={value}" for key, value in result.export_rule.items())
        chosen = (
            f"by [study] export = {default}" if default else
            "the recommended point (the verdict's: the best validation F1, a baseline unless a "
            "searched trial beats it)"
        )
        logger.info("no rule given: exporting %s", chosen)
    logger.info("wrote %s: %s", args.output, exported.summary())
    return 0


def _study_name(text: str) -> str:
    if "/" in text or "\\" in text or not text.endswith(".toml") or text.startswith("."):
        raise argparse.ArgumentTypeError(
            f"expected a file name under ./studies such as seed-multilabel.toml, got {text!r}"
        )
    return text


def _kubernetes_name(text: str) -> str:
    """A DNS-1123 label, as Kubernetes requires of a namespace."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", text):
        raise argparse.ArgumentTypeError(
            f"expected a Kubernetes name (lower-case letters, digits, '-'), got {text!r}"
        )
    return text


def _write_configuration(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        write_text_atomic(output, text)
    except OSError as error:
        raise SweeperError(f"{output}: cannot write: {error}.", key="output") from None
    logger.info("wrote %s", output)


def _fleet_compose(args: argparse.Namespace) -> int:
    """``sweeper fleet compose``: docker-compose.yml for this host's GPUs."""
    from sweeper.fleet import compose_config, to_yaml

    if not (Path("studies") / args.study).is_file():
        logger.warning("studies/%s does not exist here; the services mount ./studies",
                       args.study)
    header = COMPOSE_HEADER.format(
        command=" ".join(["sweeper fleet compose", "--gpus", ",".join(args.gpus),
                          "--study", args.study, *(["--proxy"] if args.proxy else [])]),
    )
    text = to_yaml(compose_config(args.gpus, study=args.study, proxy=args.proxy), header)
    _write_configuration(text, args.output)
    return 0


def _fleet_kubernetes(args: argparse.Namespace) -> int:
    """``sweeper fleet kubernetes``: manifests for a cluster with GPU nodes."""
    from sweeper.config import load_study_file
    from sweeper.fleet import kubernetes_manifests, to_yaml

    study = load_study_file(args.study)  # a broken file fails here, not in every pod
    source = study.config.data.source or ""
    if source and not source.startswith("builtin:"):
        logger.warning(
            "[data] source %r is a file the ConfigMap does not carry: inside the pods a "
            "relative path resolves from /study (the study file's mount); give an absolute path "
            "to a file in the image or on a mounted volume", source,
        )
    assert study.config.study.name is not None  # a study file must set [study] name
    manifests = kubernetes_manifests(
        args.workers, study_name=study.config.study.name,
        study_text=args.study.read_text(encoding="utf-8"), namespace=args.namespace,
        worker_image=args.worker_image, slim_image=args.slim_image,
    )
    header = KUBERNETES_HEADER.format(
        workers=args.workers, namespace=f" -n {args.namespace}" if args.namespace else ""
    )
    _write_configuration(to_yaml(manifests, header), args.output)
    return 0


COMPOSE_HEADER = """\
A GPU fleet on one study: PostgreSQL, optuna-dashboard, one worker per GPU.
Written by `{command}`:
run it again for other GPUs or study files.

  mkdir -p secrets && printf %s 'a-password' > secrets/db_password
  printf %s 'postgresql+psycopg://sweeper:a-password@db:5432/sweeper' > secrets/storage_url
  chmod 644 secrets/*     # secret files keep their mode: the containers' users must read them
  docker compose up -d

Each worker service reserves its own GPU (device_ids; Compose's `count` with `--scale` would
give every replica the same one). The database password reaches only `db`; the storage URL
only the services that open the database. The dashboard is on 127.0.0.1:8080 only. Workers
stop cleanly on `docker compose stop` (SIGTERM: the batch in flight is requeued). Docker
marks a worker whose heartbeat stopped unhealthy but does not restart it; a crashed one is."""

KUBERNETES_HEADER = """\
classweight-sweeper on Kubernetes: {workers} GPU worker pods (an indexed Job), the dashboard.
Written by `sweeper fleet kubernetes`. First store the database URL as a Secret:
  kubectl create secret generic sweeper-storage{namespace} --from-literal=url='postgresql+psycopg://...'
then `kubectl apply -f` this file; `kubectl port-forward service/sweeper-dashboard 8080`.
The images must be in a registry the cluster pulls from (--worker-image, --slim-image)."""


def _dashboard(args: argparse.Namespace) -> int:
    """Serve optuna-dashboard on the study file's storage, whether or not the study exists yet:
    a fleet's dashboard starts with the database, before the first worker creates the study,
    and shows it once it is there. A server database gets Optuna's tables if it has none yet
    (what every worker does first); a SQLite file is never created."""
    import optuna_dashboard

    from sweeper.config import load_study_file
    from sweeper.report import artifact_store
    from sweeper.study import is_sqlite, load_study, open_storage

    config = load_study_file(args.study).config.with_overrides(storage=_storage(args)).study
    storage = open_storage(config.url, reconnect_timeout=config.reconnect_timeout,
                           read_only=is_sqlite(config.url))
    assert config.name is not None  # a study file must set [study] name
    try:
        load_study(config.name, storage, config.url)
        waiting = ""
    except StorageError as error:
        if error.key != "study_name" or "no study named" not in str(error):
            raise
        waiting = " (not created yet: it appears when the first worker starts)"
    _check_port_free(args.host, args.port)
    logger.info(
        "optuna-dashboard for study %r%s: http://%s:%d/ (Ctrl-C to stop)", config.name, waiting,
        args.host, args.port,
    )
    try:
        interrupts.serve_until_interrupted(lambda: optuna_dashboard.run_server(
            storage, host=args.host, port=args.port,
            artifact_store=artifact_store(config.artifacts),
        ))
    except OSError as error:
        raise SweeperError(
            f"cannot serve on {args.host}:{args.port}: {error.strerror or error}.", key="port"
        ) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sweeper",
        description="Search class weights, normalisation and decision threshold for imbalanced "
        "classifiers with a multi-objective Optuna study.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    def command(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("study", type=Path, metavar="STUDY.toml", help="the study file")
        sub.add_argument(
            "--log-level", choices=logs.LEVELS, type=str.lower, metavar="LEVEL",
            help="debug, info, warning or error (default: $SWEEPER_LOG_LEVEL, else info)",
        )
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
    for spec in EXPORT_RULES:
        rule.add_argument(spec.flag, dest=spec.name, metavar=spec.metavar, help=spec.help,
                          type=constraint_argument(spec.constraint, spec.flag))
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.json")

    proxy = command(
        "proxy", "serve Optuna's gRPC storage proxy in front of the study's database", _proxy
    )
    proxy.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    proxy.add_argument("--port", type=_port, default=13000, help="default 13000")

    dashboard = command("dashboard", "serve optuna-dashboard on the study's storage", _dashboard)
    dashboard.add_argument("--port", type=_port, default=8080, help="default 8080")
    dashboard.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (default 127.0.0.1; a container publishes 0.0.0.0 on 127.0.0.1)",
    )

    fleet = commands.add_parser(
        "fleet", help="write a GPU fleet's configuration (Docker Compose or Kubernetes)",
        description="Write a GPU fleet's configuration: one worker per GPU, a dashboard, "
        "credentials only where they are needed.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fleet.add_argument("--log-level", choices=logs.LEVELS, type=str.lower, metavar="LEVEL",
                       help=argparse.SUPPRESS)
    kinds = fleet.add_subparsers(dest="kind", required=True, metavar="KIND",
                                 parser_class=_Parser)
    compose_help = "docker-compose.yml: PostgreSQL, the dashboard, one worker per GPU"
    compose = kinds.add_parser("compose", help=compose_help, description=compose_help)
    compose.add_argument("--gpus", type=_gpu_list, required=True, metavar="0,1,...",
                         help="the host's GPU ids: one worker service each")
    compose.add_argument("--study", type=_study_name, default="seed-multilabel.toml",
                         metavar="FILE.toml", help="a study file under ./studies "
                         "(default seed-multilabel.toml)")
    compose.add_argument("--proxy", action="store_true",
                         help="workers reach the database through the gRPC proxy, with no "
                         "credentials of their own")
    compose.add_argument("-o", "--output", type=Path, metavar="FILE",
                         help="write there (default: standard output)")
    compose.set_defaults(handler=_fleet_compose)
    kubernetes_help = ("manifests: the study as a ConfigMap, an indexed Job of GPU workers, "
                       "the dashboard's Deployment and Service")
    kubernetes = kinds.add_parser("kubernetes", help=kubernetes_help,
                                  description=kubernetes_help)
    kubernetes.add_argument("study", type=Path, metavar="STUDY.toml", help="the study file")
    kubernetes.add_argument("--workers", type=_positive, required=True, metavar="N",
                            help="worker pods, one nvidia.com/gpu each")
    kubernetes.add_argument("--namespace", type=_kubernetes_name, metavar="NAME",
                            help="namespace of every object")
    kubernetes.add_argument("--worker-image", default=WORKER_IMAGE, metavar="IMAGE",
                            help=f"default {WORKER_IMAGE}")
    kubernetes.add_argument("--slim-image", default=SLIM_IMAGE, metavar="IMAGE",
                            help=f"the dashboard's (default {SLIM_IMAGE})")
    kubernetes.add_argument("-o", "--output", type=Path, metavar="FILE",
                            help="write there (default: standard output)")
    kubernetes.set_defaults(handler=_fleet_kubernetes)
    return parser


def _interrupted() -> int:
    print("sweeper: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweeper`` console script; returns the exit code (see
    :data:`EPILOG`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    previous = {}
    interrupts.clear()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (docker stop, kill) is an interrupt from the first moment, as Ctrl-C is;
        # both are recorded too, so one swallowed by a library still stops the run.
        previous = {signum: signal.signal(signum, _raise_interrupt)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with interrupts.quiet_unraisable():
            holds.reach("started")
            args = build_parser().parse_args(argv)
            logs.set_level(args.log_level or logs.level_from_environment())
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            code = args.handler(args)
            interrupts.check()  # an interrupt a library swallowed
        return code
    except SweeperError as error:
        print(f"sweeper: error: {error}", file=sys.stderr)
        return error.exit_code
    except ValueError as error:  # $SWEEPER_LOG_LEVEL
        if logs.LEVEL_VARIABLE not in str(error):
            if interrupts.requested():
                return _interrupted()
            raise
        print(f"sweeper: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:
        # An interrupt that lands inside native code (TensorFlow tracing a function, say) can
        # surface as another error (a SystemError); it is the interrupt all the same.
        if interrupts.requested():
            return _interrupted()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def entry() -> NoReturn:
    """The ``sweeper`` console script: :func:`main`'s exit code as the process's.

    An interrupted command leaves at once (``os._exit``) once its message is out: the trials
    are already failed and queued again, and the interpreter's own shutdown would run
    TensorFlow's finalisers on a half-finished step (tracebacks ``Exception ignored in ...``)
    and, after an interrupt inside some native code, end by SIGINT instead of exit code 130."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
