"""The HTTP adapter: the interview API that bot/server.py mounts, its OpenAPI document, the [http] settings."""

from adapters.http.api import HttpApi, create_api
from adapters.http.config import HttpConfig
from adapters.http.context import REQUEST_ID, REQUEST_ID_HEADER
from adapters.http.openapi import build_openapi

__all__ = ["REQUEST_ID", "REQUEST_ID_HEADER", "HttpApi", "HttpConfig", "build_openapi", "create_api"]
