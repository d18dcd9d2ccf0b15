"""`tasktrail`: the one command for everything a user types. The local cloud (`up`, `outputs`, `emulator`) and the
operators' commands for any stack (`history`, `list`, `redrive`, `ui`: the local stack by default, a deployed one
with --stack NAME). Every failure ends with a non-zero exit status and a one-line reason on stderr."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import textwrap
import threading
from typing import Any, NoReturn

from local.cloud import state

PROG = "tasktrail"
DEBUG_ENV = "TASKTRAIL_DEBUG"
OVERVIEW = """\
tasktrail runs a serverless task pipeline: the Pulumi program in this project deploys it to AWS (`pulumi up`),
and `tasktrail up` runs the very same program on this machine, against an embedded AWS emulator.

local cloud:
  up          deploy the program into the embedded AWS emulator and serve it until Ctrl-C
  outputs     print the running local stack's outputs as JSON
  emulator    run only the AWS emulator, for `up --endpoint-url`

operating a stack (the running local stack by default, --stack NAME for a deployed one):
  history     show a task's events as a timeline
  list        list tasks by their current status, newest first
  redrive     start dead-lettered tasks again from their original message
  verify      check the audit trail against its signed digests (exit status 1 on any finding)
  ui          serve the timeline page for a stack

  completion  print a shell completion script (bash or zsh)

Run `tasktrail <command> --help` for a command's options."""
EPILOG = """\
examples:
  tasktrail up --port 3000
  tasktrail history order-42
  tasktrail list --status DEAD_LETTERED --since 1h --stack prod
  tasktrail redrive --status DEAD_LETTERED --since 1h --dry-run
  tasktrail verify --stack prod --since 2d"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples keep their lines (lists, commands); a line too long for the terminal is wrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        # Prose (unindented lines, not a heading) is one paragraph, filled to the terminal's width.
        prose = re.sub(r"(?m)^(\S.*[^:\n])\n(?=\S)", r"\1 ", text)
        for line in prose.splitlines():
            # A wrapped command line continues under its description, as in `aws help` and `pulumi --help`.
            column = re.match(r"\s+\S+\s{2,}", line) or re.match(r"\s*", line)
            hanging = indent + " " * (column.end() if column else 0)
            lines.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=hanging) or indent)
        return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error that says where to look, and examples kept as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--config expects KEY=VALUE, got {pair!r}")
        overrides[key] = value
    return overrides


class UsageError(Exception):
    """A command line that parses but cannot be run as given."""


def parser(listed: bool = False) -> argparse.ArgumentParser:
    """The whole command tree; `listed` keeps argparse's own list of the commands, which shell completion reads."""
    from local.ops.commands import add_commands as add_operator_commands

    root = _Parser(prog=PROG, usage=f"{PROG} <command> [options]", description=OVERVIEW, epilog=EPILOG)
    root.add_argument("--debug", action="store_true", help=f"show tracebacks on errors (or set {DEBUG_ENV}=1)")
    # The overview above lists the commands, grouped; argparse's own list would repeat it ungrouped.
    commands = root.add_subparsers(
        dest="command",
        metavar="<command>",
        parser_class=_Parser,
        required=True,
        help=None if listed else argparse.SUPPRESS,
        prog=PROG,
    )

    up = commands.add_parser(
        "up",
        help="deploy the program into the embedded AWS emulator and serve it until Ctrl-C",
        description="Run the project's Pulumi program as stack `local` against the embedded AWS emulator (or the "
        "one at --endpoint-url), serve the API, run the functions behind their event sources, and print the stack "
        "outputs once ready. Ctrl-C lets in-flight invocations finish, then stops.",
        epilog="examples:\n  tasktrail up\n  tasktrail up --port 0 --aws-port 0 --config maxReceiveCount=3\n"
        "  tasktrail emulator --aws-port 4566 & tasktrail up --endpoint-url http://127.0.0.1:4566",
    )
    up.add_argument("--port", type=int, default=3000, help="port of the API (default 3000; 0: any free port)")
    up.add_argument("--aws-port", type=int, default=4566, help="port of the AWS emulator (default 4566; 0: any)")
    up.add_argument("--endpoint-url", metavar="URL", help="use the AWS emulator at URL instead of starting one")
    up.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value of the local stack, as `pulumi config set` would (repeatable)",
    )
    up.add_argument("--metrics", action="store_true", help="also show the functions' EMF metrics")
    up.add_argument(
        "--no-iam",
        action="store_true",
        help="do not enforce IAM: every call is allowed (by default each function may do only what its role allows)",
    )
    up.add_argument(
        "--state-dir",
        metavar="DIR",
        help=f"where outputs and function code go (default .tasktrail-local, or ${state.STATE_DIR_ENV})",
    )

    outputs = commands.add_parser(
        "outputs",
        help="print the running local stack's outputs as JSON",
        description="Print the outputs of the running local stack (`tasktrail up`) as JSON, as "
        "`pulumi stack output --json` prints a deployed stack's.",
    )
    outputs.add_argument("--state-dir", metavar="DIR", help="the state directory of the `up` to ask")
    outputs.add_argument(
        "--aws-env",
        action="store_true",
        help="print shell exports for the AWS CLI and SDKs instead: the emulator's endpoint, region and "
        'administrator (eval "$(tasktrail outputs --aws-env)")',
    )

    emulator = commands.add_parser(
        "emulator",
        help="run only the AWS emulator, for `up --endpoint-url`",
        description="Run only the embedded AWS emulator (moto, made safe for concurrent clients), so that `tasktrail "
        "up --endpoint-url` can be restarted without losing the stack's state. Its state lives in memory.",
    )
    emulator.add_argument("--aws-port", type=int, default=4566, help="port to listen on (default 4566)")
    emulator.add_argument("--no-iam", action="store_true", help="do not enforce IAM (any credentials do anything)")

    add_operator_commands(commands)

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script for your shell, e.g.\n"
        "  tasktrail completion bash > ~/.local/share/bash-completion/completions/tasktrail\n"
        '  tasktrail completion zsh > "${fpath[1]}/_tasktrail"',
    )
    completion.add_argument("shell", choices=["bash", "zsh"])
    return root


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    args = parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV) == "1"
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends in one line (with --debug, the traceback too)
        if debug:
            raise
        print(f"{PROG}: error: {_reason(error)}", file=sys.stderr)
        return 1


def _reason(error: Exception) -> str:
    from local.ops.target import TargetError

    known = (UsageError, TargetError, state.NoLocalStackError)
    if isinstance(error, known) or type(error).__module__.startswith("handlers."):
        return str(error)
    if isinstance(error, OSError) and error.errno is not None:
        return f"{error.strerror}: {error.filename or ''} (a port in use? try other --port/--aws-port)".rstrip()
    return f"{type(error).__name__}: {error} (run with --debug for the traceback)"


def _run(args: argparse.Namespace) -> int:
    from local.ops.commands import COMMANDS as OPERATOR_COMMANDS

    if args.command == "outputs":
        outputs = state.read_outputs(state.state_dir(args.state_dir))
        print(_aws_exports(outputs) if args.aws_env else json.dumps(outputs, indent=2))
        return 0
    if args.command == "emulator":
        return _emulator(args.aws_port, enforce_iam=not args.no_iam)
    if args.command == "completion":
        return _completion(args.shell)
    if args.command in OPERATOR_COMMANDS:
        from local.ops.commands import run

        return run(args, state.state_dir(args.state_dir))
    return _up(args)


def _aws_exports(outputs: dict[str, Any]) -> str:
    """Shell exports that point the AWS CLI (v2.13+) and the SDKs at the local stack, as its administrator."""
    values = {
        "AWS_ENDPOINT_URL": outputs["awsEndpoint"],
        "AWS_DEFAULT_REGION": outputs["region"],
        "AWS_ACCESS_KEY_ID": outputs.get("awsAccessKeyId", "testing"),
        "AWS_SECRET_ACCESS_KEY": outputs.get("awsSecretAccessKey", "testing"),
    }
    return "\n".join(f"export {name}={shlex.quote(str(value))}" for name, value in values.items())


def _until_signalled() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass


def _up(args: argparse.Namespace) -> int:
    from local.cloud.lifecycle import LocalCloud, Options
    from local.services.logs import LogPrinter

    printer = LogPrinter(metrics=args.metrics)
    options = Options(
        project_dir=state.PROJECT_DIR,
        state_dir=state.state_dir(args.state_dir),
        port=args.port,
        aws_port=args.aws_port,
        endpoint_url=args.endpoint_url,
        overrides=_overrides(args.config),
        enforce_iam=not args.no_iam,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cloud = LocalCloud(options, printer)
    try:
        outputs = cloud.start()
    except BaseException:
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


def _emulator(port: int, enforce_iam: bool) -> int:
    from local.emulator.server import Emulator

    emulator = Emulator(port, enforce_iam=enforce_iam)
    emulator.start()
    print(f"AWS emulator at {emulator.endpoint}; Ctrl-C stops it (its state is in memory only)")
    if emulator.admin is not None:
        print(
            f"IAM enforced; administrator: AWS_ACCESS_KEY_ID={emulator.admin.access_key_id} "
            f"AWS_SECRET_ACCESS_KEY={emulator.admin.secret_access_key}"
        )
    print("", end="", flush=True)
    _until_signalled()
    emulator.stop()
    return 0


def _completion(shell: str) -> int:
    try:
        import shtab
    except ImportError as error:
        raise UsageError("shell completion needs the shtab package (pip install shtab)") from error
    print(shtab.complete(parser(listed=True), shell=shell))
    return 0


def entry_point() -> None:
    """The `tasktrail` console script."""
    sys.exit(main())
