"""The Slack adapter: config.py, parse.py (payloads to events), files.py, send.py + blocks.py (replies), app.py."""

from adapters.slack.app import EVENTS_PATH, SlackAdapter
from adapters.slack.config import SlackConfig

__all__ = ["EVENTS_PATH", "SlackAdapter", "SlackConfig"]
