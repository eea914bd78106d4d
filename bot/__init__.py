"""voice-interview-bot: configuration, wiring and the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("voice-interview-bot")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.1.0"
