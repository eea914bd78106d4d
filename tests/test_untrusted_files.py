"""Uploads are untrusted: a "voice note" may be a playlist or manifest naming the network or another user's
recording, and a "CV" may be a PDF built to keep a parser busy. Real ffmpeg, real pypdf, no internet."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.chat import setup
from engine import FIELD_LIMITS
from engine.errors import AudioInvalid
from engine.speech import AudioConverter, sniff_container
from engine.speech import audio as audio_module
from engine.types import AudioInput
from tests.audio_fixtures import FFMPEG, KO_PHRASE, encode, speech_wav, wav_duration
from tests.documents import pdf_pages

# ----- a listener that sees whoever reaches it ------------------------------------------------------------------


class Listener:
    """A TCP and a UDP socket on one loopback port (the OS picks it), noting every connection or datagram."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self._stop = threading.Event()
        for _ in range(50):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind(("127.0.0.1", 0))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(("127.0.0.1", tcp.getsockname()[1]))
            except OSError:
                tcp.close()
                udp.close()
                continue
            break
        else:
            raise RuntimeError("no loopback port free for both TCP and UDP")
        tcp.listen(8)
        tcp.settimeout(0.05)
        udp.settimeout(0.05)
        self.tcp, self.udp, self.port = tcp, udp, tcp.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept), threading.Thread(target=self._receive)]
        for thread in self._threads:
            thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = self.tcp.accept()
            except TimeoutError:
                continue
            self.hits.append(f"tcp from {peer}")
            connection.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                _, peer = self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            self.hits.append(f"udp from {peer}")

    def wait_for_hit(self, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while not self.hits and time.monotonic() < deadline:
            time.sleep(0.02)
        return bool(self.hits)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# ----- an AudioConverter whose ffmpeg runs are written down -----------------------------------------------------


@dataclass
class Watched:
    converter: AudioConverter
    log: Path
    errors: Path

    def conversions(self) -> list[str]:
        """The command lines of every run that opened an input (the start-up `-protocols` check opens none)."""
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if " -i " in line]

    def stderr(self) -> str:
        return self.errors.read_text() if self.errors.exists() else ""


def watched_converter(folder: Path) -> Watched:
    log, errors, wrapper = folder / "ffmpeg-runs.log", folder / "ffmpeg-stderr.log", folder / "ffmpeg"
    # Not `exec`: the shell keeps ffmpeg's stderr for the test (inherited descriptors still reach ffmpeg).
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n"{FFMPEG}" "$@" 2>> "{errors}"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return Watched(AudioConverter(str(wrapper)), log, errors)


@pytest.fixture
def watched(tmp_path: Path) -> Watched:
    return watched_converter(tmp_path)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """Another candidate's answer on the server's disk, as the engine keeps it (a real recording of speech)."""
    folder = tmp_path / "audio" / "4f0c2b9e1d7a5c3e8b6a9d2f"
    folder.mkdir(parents=True)
    path = folder / "a1b2c3.m4a"
    path.write_bytes(encode(speech_wav(KO_PHRASE), "m4a_aac"))
    return path


# ----- the hostile files ----------------------------------------------------------------------------------------


def hls(target: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:3.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def dash(target: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3S" '
        'minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">\n'
        '<Period><AdaptationSet contentType="audio">'
        '<Representation id="a" bandwidth="64000" mimeType="audio/mp4" codecs="mp4a.40.2">'
        f"<BaseURL>{target}</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
    ).encode()


def sdp(port: int) -> bytes:
    return (
        f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=answer\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    ).encode()


# kind -> (build from a target, the extension ffmpeg wants to see it as, options it needs to follow a local path)
MANIFESTS: dict[str, tuple[Callable[[str], bytes], str, tuple[str, ...]]] = {
    "hls": (hls, ".m3u8", ()),
    "ffconcat": (ffconcat, ".ffconcat", ("-safe", "0")),  # only its `safe` default refuses absolute paths and URLs
    "dash": (dash, ".mpd", ()),
}


def unrestricted_ffmpeg(folder: Path, name: str, data: bytes, *options: str) -> subprocess.CompletedProcess[bytes]:
    """ffmpeg left to probe the file by itself (under its usual name): what the manifest is built to do."""
    path = folder / name
    path.write_bytes(data)
    return subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", *options, "-i", str(path),
         "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_a_manifest_naming_another_recording_on_disk_is_refused_before_ffmpeg_runs(
    kind: str, watched: Watched, recording: Path, tmp_path: Path
) -> None:
    build, extension, options = MANIFESTS[kind]
    manifest = build(str(recording))
    # The file is a real attack: ffmpeg, given it under its usual name, reads the other recording through it.
    control = unrestricted_ffmpeg(tmp_path, f"control{extension}", manifest, *options)
    assert control.returncode == 0 and len(control.stdout) > 16000, control.stderr

    with pytest.raises(AudioInvalid):
        watched.converter.to_pcm(AudioInput(manifest, mime_type="audio/ogg", filename="voice.oga"))
    assert watched.conversions() == []


def test_a_dash_manifest_naming_a_file_url_is_refused_too(watched: Watched, recording: Path) -> None:
    with pytest.raises(AudioInvalid):
        watched.converter.to_pcm(AudioInput(dash(recording.as_uri()), mime_type="audio/ogg"))
    assert watched.conversions() == []


@pytest.mark.parametrize("kind", [*sorted(MANIFESTS), "sdp"])
def test_a_manifest_naming_a_network_address_is_refused_without_any_connection(
    kind: str, watched: Watched, listener: Listener, tmp_path: Path
) -> None:
    if kind == "sdp":
        manifest = sdp(listener.port)
    else:
        build, extension, options = MANIFESTS[kind]
        manifest = build(f"http://127.0.0.1:{listener.port}/answer.m4a")
        # The listener does see ffmpeg when ffmpeg is allowed out.
        allow = ("-protocol_whitelist", "file,http,tcp", *options)
        unrestricted_ffmpeg(tmp_path, f"control{extension}", manifest, *allow)
        assert listener.wait_for_hit(), f"the {kind} control never reached the listener"
        listener.hits.clear()

    with pytest.raises(AudioInvalid):
        watched.converter.to_pcm(AudioInput(manifest, mime_type="audio/ogg", filename="voice.oga"))
    assert watched.conversions() == []
    time.sleep(0.2)  # anything still on its way would arrive by now
    assert listener.hits == []


# ----- the second wall: even a demuxer that follows references, let through, opens nothing but its input --------


@pytest.mark.parametrize("kind", ["hls", "dash"])
@pytest.mark.parametrize("where", ["disk", "network"])
def test_if_a_manifest_reached_ffmpeg_it_could_open_neither_a_file_nor_a_socket(
    kind: str, where: str, watched: Watched, recording: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the sniffer let the manifest through, read by the demuxer that follows its references.
    monkeypatch.setitem(audio_module.CONTAINERS, "", kind)
    target = recording.as_uri() if where == "disk" else f"http://127.0.0.1:{listener.port}/answer.m4a"
    manifest = hls(target) if kind == "hls" else dash(target)
    with pytest.raises(AudioInvalid):
        watched.converter.to_pcm(AudioInput(manifest, mime_type="audio/ogg"))
    assert len(watched.conversions()) == 1  # ffmpeg did run on it this time
    protocol = "file" if where == "disk" else "http"
    assert f"Protocol '{protocol}' not on whitelist 'fd'" in watched.stderr()
    time.sleep(0.2)
    assert listener.hits == []


def test_ffmpeg_is_told_which_demuxer_and_protocol_to_use(watched: Watched, voice_ogg: bytes) -> None:
    watched.converter.to_pcm(AudioInput(voice_ogg, mime_type="audio/ogg"))
    (run,) = watched.conversions()
    assert "-protocol_whitelist fd -format_whitelist ogg -f ogg -fd " in run and " -i fd: " in run


def test_a_quicktime_file_is_read_with_external_references_off(watched: Watched) -> None:
    wav = speech_wav(KO_PHRASE)
    assert watched.converter.to_pcm(AudioInput(encode(wav, "mp4_aac"))).duration == pytest.approx(
        wav_duration(wav), abs=0.1
    )
    (run,) = watched.conversions()
    assert "-f mov -enable_drefs 0 -use_absolute_path 0 " in run


def test_every_allowed_container_names_a_demuxer_of_the_bundled_ffmpeg() -> None:
    listing = subprocess.run([FFMPEG, "-hide_banner", "-demuxers"], capture_output=True, check=True).stdout.decode()
    rows = [line.split() for line in listing.splitlines() if line.startswith(" D")]
    demuxers = {name for row in rows for name in row[1].split(",")}
    assert set(audio_module.CONTAINERS.values()) <= demuxers
    assert not {"hls", "dash", "sdp", "concat", "rtsp", "rtp", "image2", "tee", "data"} & set(
        audio_module.CONTAINERS.values()
    )


# ----- what candidates really send still converts ---------------------------------------------------------------


def _encode_with(wav: bytes, folder: Path, *options: str) -> bytes:
    source, out = folder / "source.wav", folder / "out"
    source.write_bytes(wav)
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *options, str(out)], check=True)
    return out.read_bytes()


def _id3_tag(padding: int = 40) -> bytes:
    size = padding  # below 128, so one syncsafe byte holds it
    return b"ID3\x04\x00\x00\x00\x00\x00" + bytes([size]) + b"\x00" * size


# name -> (ffmpeg output options, the container sniff_container should name)
MORE_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "adts_aac": (("-c:a", "aac", "-b:a", "64k", "-f", "adts"), "aac"),
    "3gp_amr": (("-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb", "-b:a", "12.2k", "-f", "3gp"), "mp4"),
    "raw_amr": (("-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb", "-b:a", "12.2k", "-f", "amr"), "amr"),
    "caf_alac": (("-c:a", "alac", "-f", "caf"), "caf"),
    "aiff": (("-f", "aiff"), "aiff"),
    "au": (("-f", "au"), "au"),
    "wma": (("-c:a", "wmav2", "-b:a", "64k", "-f", "asf"), "wma"),
    "rf64_wav": (("-rf64", "always", "-f", "wav"), "wav"),
    "mka_opus": (("-c:a", "libopus", "-f", "matroska"), "webm"),
    "mp3_no_tag": (("-c:a", "libmp3lame", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3"), "mp3"),
}


@pytest.mark.parametrize("fmt", sorted(MORE_FORMATS))
def test_other_recorders_formats_still_convert(fmt: str, tmp_path: Path) -> None:
    options, container = MORE_FORMATS[fmt]
    wav = speech_wav(KO_PHRASE)
    data = _encode_with(wav, tmp_path, *options)
    assert sniff_container(data) == container
    pcm = AudioConverter().to_pcm(AudioInput(data))
    assert pcm.duration == pytest.approx(wav_duration(wav), abs=0.15)


@pytest.mark.parametrize(("options", "container"), [(("-c:a", "aac", "-f", "adts"), "aac"), (("-f", "flac"), "flac")])
def test_aac_and_flac_behind_an_id3_tag_are_read_as_what_they_are(options, container, tmp_path: Path) -> None:
    wav = speech_wav(KO_PHRASE)
    data = _id3_tag() + _encode_with(wav, tmp_path, *options)
    assert sniff_container(data) == container
    assert sniff_container(data[:16]) == "mp3"  # only the first bytes: the tag is all it sees
    assert AudioConverter().to_pcm(AudioInput(data)).duration == pytest.approx(wav_duration(wav), abs=0.15)


@pytest.mark.parametrize("fmt", ["ogg_opus", "mp4_video_note", "mp4_aac"])
def test_an_ffmpeg_without_the_fd_protocol_reads_the_temporary_file_instead(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watched = watched_converter(tmp_path)
    monkeypatch.setattr(watched.converter, "_fd_input", False)
    wav = speech_wav(KO_PHRASE)
    assert watched.converter.to_pcm(AudioInput(encode(wav, fmt))).duration == pytest.approx(wav_duration(wav), abs=0.1)
    (run,) = watched.conversions()
    assert "-protocol_whitelist file " in run and " -i file:/" in run


# ----- PDF CVs and job descriptions -----------------------------------------------------------------------------


def test_a_pdf_cv_is_read() -> None:
    cv = pdf_pages(["Python developer with Django and PostgreSQL experience"])
    assert setup.document_text(cv, "pdf") == "Python developer with Django and PostgreSQL experience"


def test_only_the_first_pages_of_a_long_pdf_are_read() -> None:
    text = setup.document_text(pdf_pages([f"Page {n} of the CV" for n in range(1, 81)]), "pdf")
    assert "Page 1 of the CV" in text and f"Page {setup.MAX_PDF_PAGES} of the CV" in text
    assert f"Page {setup.MAX_PDF_PAGES + 1} of the CV" not in text


async def test_a_pdf_with_more_text_than_a_cv_keeps_is_cut_at_the_field_limit() -> None:
    assert setup.MAX_DOCUMENT_CHARS == FIELD_LIMITS["cv"] == FIELD_LIMITS["jd"] == 50_000
    pages = [f"{n:02d}" + "x" * 2_998 for n in range(30)]  # 90,000 characters on 30 pages
    text = await setup.read_document(pdf_pages(pages), "pdf")
    assert len(text) == setup.MAX_DOCUMENT_CHARS and text.startswith("00xxx")
    assert "16x" in text and "17x" not in text  # the reader stopped once it had enough


def test_a_text_file_is_cut_at_the_field_limit_too() -> None:
    text = setup.document_text("é".encode() * 200_000, "text")
    assert text == "é" * setup.MAX_DOCUMENT_CHARS


def _hostile_reader(monkeypatch: pytest.MonkeyPatch, body: str, pid_file: Path) -> None:
    """Replace what the PDF reader process does once its limits are set, noting its pid."""
    monkeypatch.setattr(
        setup, "_PDF_EXTRACT", f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n{body}"
    )


def _gone(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_pdf_that_keeps_the_parser_busy_is_given_up_without_blocking_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "reader.pid"
    _hostile_reader(monkeypatch, "while True:\n    pass\n", pid_file)  # a crafted file's endless loop
    monkeypatch.setattr(setup, "PDF_TIMEOUT_SECONDS", 1.5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="adapters.chat.setup"):
        text = await setup.read_document(pdf_pages(["Python developer"]), "pdf")
    elapsed = time.monotonic() - started
    ticker.cancel()
    assert text == ""  # so the candidate is asked to paste the text
    assert 1.4 < elapsed < 3.0
    assert ticks > 50  # the loop kept running: 1.5 s of 10 ms ticks, allowing for a slow machine
    assert _gone(pid_file)  # killed, not abandoned
    assert "gave up reading a" in caplog.text


async def test_pdfs_wait_on_their_own_threads_not_the_default_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = setup._pdf_text

    def spy(data: bytes, deadline: float) -> str:
        seen.append(threading.current_thread().name)
        return real(data, deadline)

    monkeypatch.setattr(setup, "_pdf_text", spy)
    assert await setup.read_document(pdf_pages(["Go developer"]), "pdf") == "Go developer"
    assert seen and seen[0].startswith("document-reader")


def test_the_blocking_reader_gives_up_in_time_as_well(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pid_file = tmp_path / "reader.pid"
    _hostile_reader(monkeypatch, "import time\ntime.sleep(60)\n", pid_file)
    monkeypatch.setattr(setup, "PDF_TIMEOUT_SECONDS", 1.0)
    started = time.monotonic()
    assert setup.document_text(pdf_pages(["Python developer"]), "pdf") == ""
    assert time.monotonic() - started < 2.5
    assert _gone(pid_file)


def test_a_pdf_that_wants_too_much_memory_is_stopped_by_the_memory_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 2 GiB, twice the limit: without it this would succeed on the test machines (24 GiB).
    _hostile_reader(monkeypatch, "hoard = bytearray(2 * 1024**3)\nsys.stdout.write('read')\n", tmp_path / "pid")
    started = time.monotonic()
    assert setup.document_text(pdf_pages(["Python developer"]), "pdf") == ""
    assert time.monotonic() - started < 5.0  # refused at once, not timed out


def test_a_pdf_that_is_not_a_pdf_gives_no_text() -> None:
    assert setup.document_text(b"%PDF-1.4\n" + os.urandom(5_000), "pdf") == ""


async def test_a_pdf_still_queued_when_its_time_is_up_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup, "PDF_TIMEOUT_SECONDS", 0.3)
    readers = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(setup, "_DOCUMENT_READERS", readers)
    busy = threading.Event()
    blocker = readers.submit(busy.wait, 30.0)  # the only reader is busy with someone else's file
    started = time.monotonic()
    assert await setup.read_document(pdf_pages(["Python developer"]), "pdf") == ""
    assert time.monotonic() - started < 2.5
    busy.set()
    blocker.result()
    readers.shutdown()
