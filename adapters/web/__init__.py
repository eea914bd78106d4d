"""The web adapter: a candidate's whole interview as a private page (report, progress, recordings), the private links
that open it, and the admin overview; mounted on the bot's one server beside the API."""

from adapters.web.config import WebConfig
from adapters.web.links import LinkTarget, ReportLinks, load_secret
from adapters.web.pages import WebPages, is_web_path, loggable_path

__all__ = ["LinkTarget", "ReportLinks", "WebConfig", "WebPages", "is_web_path", "load_secret", "loggable_path"]
