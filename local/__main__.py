"""`python -m local up` runs the stack here; `outputs` prints its outputs; `emulator` runs the emulator alone;
`history`, `list` and `redrive` are the operators' commands, against the local stack or a deployed one (--stack)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from local.cloud import OUTPUTS_FILE, RUN_FILE, LocalCloud, Options
from local.emulator import Emulator
from local.logs import LogPrinter
from local.ops.commands import COMMANDS as OPERATOR_COMMANDS
from local.ops.commands import add_commands as operator_commands
from local.ops.commands import run as run_operator_command

PROJECT_DIR = Path(__file__).absolute().parent.parent
# Tests and a second local cloud point this elsewhere, so that they do not overwrite `make local`'s outputs.
STATE_DIR_ENV = "TASKTRAIL_LOCAL_STATE_DIR"


def _state_dir(value: str | None) -> Path:
    return Path(value or os.environ.get(STATE_DIR_ENV) or PROJECT_DIR / ".tasktrail-local").resolve()


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--config expects key=value, got {pair!r}")
        overrides[key] = value
    return overrides


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the stack locally until Ctrl-C")
    up.add_argument("--port", type=int, default=3000, help="port of the API (0: any free port)")
    up.add_argument("--aws-port", type=int, default=4566, help="port of the embedded AWS emulator (0: any free port)")
    up.add_argument("--endpoint-url", help="use the AWS emulator at this URL instead of starting one")
    up.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value of the local stack (e.g. maxReceiveCount=3), as `pulumi config set` would",
    )
    up.add_argument("--metrics", action="store_true", help="also show the functions' EMF metrics")
    up.add_argument(
        "--state-dir", help=f"where outputs and function code go (default .tasktrail-local, or ${STATE_DIR_ENV})"
    )
    emulator = commands.add_parser(
        "emulator", help="run only the AWS emulator (safe for concurrent clients), for `up --endpoint-url`"
    )
    emulator.add_argument("--aws-port", type=int, default=4566)
    outputs = commands.add_parser("outputs", help="print the running local stack's outputs as JSON")
    outputs.add_argument("--state-dir", help="the state directory of the `up` to ask")
    operator_commands(commands)
    return parser


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def outputs_command(state_dir: Path) -> int:
    try:
        run = json.loads((state_dir / RUN_FILE).read_text(encoding="utf-8"))
        outputs = json.loads((state_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print("no local stack is running (start one with `make local` or `python -m local up`)", file=sys.stderr)
        return 1
    if not _pid_alive(int(run["pid"])):
        print(f"the local stack's process {run['pid']} is gone; start it again", file=sys.stderr)
        return 1
    print(json.dumps(outputs, indent=2))
    return 0


def up_command(args: argparse.Namespace) -> int:
    printer = LogPrinter(metrics=args.metrics)
    options = Options(
        project_dir=PROJECT_DIR,
        state_dir=_state_dir(args.state_dir),
        port=args.port,
        aws_port=args.aws_port,
        endpoint_url=args.endpoint_url,
        overrides=_overrides(args.config),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cloud = LocalCloud(options, printer)
    try:
        outputs = cloud.start()
    except OSError as error:
        # Almost always a port already taken (another `make local`?): say so without a traceback.
        printer.line("local", "ERROR", f"the local stack failed to start: {error} (try other --port/--aws-port)")
        cloud.stop()
        return 1
    except Exception as error:
        printer.line("local", "ERROR", f"the local stack failed to start: {type(error).__name__}: {error}")
        cloud.stop()
        raise
    printer.raw("\nOutputs:\n" + "\n".join(f"    {k:<24}{v}" for k, v in outputs.items()))
    printer.raw("\nTry:\n" + "\n".join(f"    {line}" for line in cloud.curl_lines()) + "\n")
    printer.info("serving; Ctrl-C drains in-flight batches and stops")
    while not stop.wait(1):
        pass
    printer.info("stopping: draining in-flight batches")
    drained = cloud.stop()
    printer.info("stopped" if drained else "stopped; some batches did not finish and will be redelivered")
    return 0


def emulator_command(port: int) -> int:
    emulator = Emulator(port)
    emulator.start()
    print(f"AWS emulator at {emulator.endpoint}; Ctrl-C stops it (its state is in memory only)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    emulator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outputs":
        return outputs_command(_state_dir(args.state_dir))
    if args.command == "emulator":
        return emulator_command(args.aws_port)
    if args.command in OPERATOR_COMMANDS:
        return run_operator_command(args, _state_dir(args.state_dir))
    return up_command(args)


if __name__ == "__main__":
    sys.exit(main())
