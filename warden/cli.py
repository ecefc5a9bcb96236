"""The `warden` command: run, check, status, restart/stop/start, reload, sim, outbox.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from warden import __version__

DEFAULT_URL = "http://127.0.0.1:3001"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warden", description="Supervisor-tree runtime for headless-browser sessions.")
    parser.add_argument("--version", action="version", version=f"warden {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run in the foreground until SIGTERM/SIGINT")
    run.add_argument("-c", "--config", default="supervisor.yaml")
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--log-level", type=str.upper,
                     choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                     default=os.environ.get("WARDEN_LOG_LEVEL", "INFO").upper())

    check = commands.add_parser("check", help="validate a config file")
    check.add_argument("-c", "--config", default="supervisor.yaml")

    for name, text in (("status", "table of sessions from a running runtime"),
                       ("restart", "restart a session"), ("stop", "stop a session"),
                       ("start", "start a stopped or failed session"),
                       ("login", "show a session's login QR code until it is logged in")):
        sub = commands.add_parser(name, help=text)
        if name != "status":
            sub.add_argument("session")
        else:
            sub.add_argument("--json", action="store_true", help="print the raw JSON")
        sub.add_argument("--url", default=os.environ.get("WARDEN_URL", DEFAULT_URL))
        sub.add_argument("--token", default=os.environ.get("WARDEN_API_TOKEN", ""))

    reload = commands.add_parser(
        "reload", help="validate a config file, then have the running warden apply its own")
    reload.add_argument("-c", "--config", default="supervisor.yaml")
    reload.add_argument("--url", default=os.environ.get("WARDEN_URL"),
                        help="default: the config's http.listen")
    reload.add_argument("--token", default=os.environ.get("WARDEN_API_TOKEN"),
                        help="default: $WARDEN_API_TOKEN, else the config's http.token")

    sim = commands.add_parser("sim", help="run the chat simulator alone")
    sim.add_argument("--listen", default="127.0.0.1:3002")

    outbox = commands.add_parser("outbox", help="webhook outbox: pending, oldest, dead letters")
    outbox.add_argument("-c", "--config", default="supervisor.yaml")
    outbox_commands = outbox.add_subparsers(dest="outbox_command")
    requeue = outbox_commands.add_parser("requeue", help="queue dead letters again")
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="event id (evt_...)")
    which.add_argument("--all-dead", action="store_true")
    requeue.add_argument("--endpoint", help="only at this endpoint (default: every endpoint)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    match args.command:
        case "run":
            from warden.main import run

            return run(args.config, log_format=args.log_format, log_level=args.log_level)
        case "check":
            return check(args.config)
        case "login":
            from warden.login import login

            return login(args.session, args.url, args.token)
        case "status" | "restart" | "stop" | "start":
            from warden import control

            if args.command == "status":
                return control.status(args.url, args.token, as_json=args.json)
            return control.command(args.command, args.session, args.url, args.token)
        case "reload":
            return reload(args.config, args.url, args.token)
        case "sim":
            from httpkit import is_loopback, split_listen
            from simulator.app import serve

            try:
                host, port = split_listen(args.listen)
            except ValueError as exc:
                print(f"warden sim: --listen: {exc}", file=sys.stderr)
                return 2
            if not is_loopback(host):
                print(f"warden sim: --listen: the simulator's control API has no auth; it "
                      f"listens on loopback only, not {host}", file=sys.stderr)
                return 2
            return serve(host, port)
        case "outbox":
            from warden import outbox_cli

            return outbox_cli.main(args.config, args.outbox_command, getattr(args, "id", None),
                                   getattr(args, "all_dead", False),
                                   getattr(args, "endpoint", None))
    return 2


def check(path: str) -> int:
    from warden.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    print(f"{path}: ok ({len(config.sessions)} sessions, "
          f"policies: {', '.join(sorted(config.policies))})")
    return 0


def reload(path: str, url: str | None, token: str | None) -> int:
    """Validate `path` here (exit 2 with its errors), then ask the runtime to reload."""
    from warden import control
    from warden.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    return control.reload(url or control.url_of(config.http.host, config.http.port),
                          config.http.token if token is None else token, path)


if __name__ == "__main__":
    raise SystemExit(main())
