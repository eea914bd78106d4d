"""The `interview-bot` command: run the bot, inspect sessions, manage speech models."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

from bot import __version__
from bot.config import Config, ConfigError, load_config, resolve_config_path
from bot.speech_cli import register as register_speech_commands
from bot.store import open_store
from engine.errors import EngineError
from engine.service import InterviewEngine
from engine.session import STATUSES
from engine.types import PLATFORMS, SessionSummary

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `interview-bot` and `python -m bot`; returns the exit code."""
    # --config may stand before or after the command name (`interview-bot run --config x.toml`).
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, rest = pre.parse_known_args(argv)
    parser = build_parser()
    args = parser.parse_args(rest)
    args.config = known.config
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        config = load_config(resolve_config_path(args.config, os.environ))
    except ConfigError as exc:
        print(f"interview-bot: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    try:
        return args.func(args, config)
    except ConfigError as exc:
        print(f"interview-bot: {exc}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"interview-bot: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def configure_logging(level: str) -> None:
    """One line per event, `name: message` with key=value fields, so one answer can be followed by its ids."""
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every Bot API request at INFO with the URL, and that URL carries the Telegram bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    """Every command and its --help."""
    parser = argparse.ArgumentParser(
        prog="interview-bot",
        description="Mock-interview coach: voice answers on Telegram, Slack and HTTP, transcribed offline with Vosk.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: $INTERVIEW_BOT_CONFIG, else ./config.toml if present)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot: HTTP API plus every configured chat adapter")
    run.set_defaults(func=cmd_run)

    sessions = commands.add_parser("sessions", help="print the admin table of interview sessions")
    sessions.add_argument("--status", choices=STATUSES, help="only sessions with this status")
    sessions.add_argument("--platform", choices=PLATFORMS, help="only sessions on this platform")
    sessions.add_argument("--user", metavar="USER_ID", help="only this user's sessions")
    sessions.add_argument("--stale", action="store_true", help="only active sessions silent for too long")
    sessions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sessions.set_defaults(func=cmd_sessions)

    worker = commands.add_parser(
        "worker", help='transcribe voice answers from the Redis speech queue ([store] backend = "redis")'
    )
    worker.add_argument(
        "--concurrency", type=int, metavar="N", help="transcriptions at once (default: [speech] workers, at least 1)"
    )
    worker.set_defaults(func=cmd_worker)

    register_speech_commands(commands)
    return parser


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """`run`: serve until SIGINT or SIGTERM."""
    from bot.app import run

    asyncio.run(run(config))
    return 0


def cmd_worker(args: argparse.Namespace, config: Config) -> int:
    """`worker`: take speech jobs from Redis until SIGINT or SIGTERM."""
    from bot.worker import run_worker

    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    asyncio.run(run_worker(config, concurrency=args.concurrency))
    return 0


def cmd_sessions(args: argparse.Namespace, config: Config) -> int:
    """Reads a snapshot of the store (or Redis, shared with the running bots), so it works while the bot runs."""
    store = open_store(config, read_only=True)
    engine = InterviewEngine(store, None, stale_after_hours=config.store.stale_after_hours)
    try:
        rows = asyncio.run(
            engine.list_sessions(status=args.status, platform=args.platform, user_id=args.user, stale_only=args.stale)
        )
    finally:
        store.close()
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No sessions.")
        return 0
    now = time.time()
    header = ("PLATFORM", "USER", "SESSION", "ROLE", "STATUS", "PROGRESS", "LAST ACTIVITY")
    table = [header] + [
        (
            r.platform,
            _who(r),
            r.session_id,
            f"{r.role_title} at {r.company_name}"[:40],
            r.status + (" (stale)" if r.stale else ""),
            f"{r.answered}/{r.total}",
            _ago(now - r.updated_at),
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _who(row: SessionSummary) -> str:
    """The person interviewed: for a team interview the candidate, and where it runs."""
    if row.candidate:
        return f"{row.candidate_name or row.candidate} (team, {row.place or 'shared space'})"
    return row.name or row.user_id


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"
