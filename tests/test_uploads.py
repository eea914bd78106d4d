"""Memory bounded under load: recordings go to disk as they arrive, speech jobs hold paths, receives are bounded."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.chat import FileSource
from adapters.slack.files import CHUNK, Files
from adapters.telegram import TelegramAdapter, TelegramConfig
from bot.config import HttpConfig
from bot.server import create_app
from engine import AudioInput, InterviewEngine, InterviewSpec, Transcript, User, errors
from engine.service import INCOMING_DIR, INCOMING_STALE_SECONDS
from engine.speech import AudioConverter, AudioLimits, SpeechPipeline
from engine.speech.audio import sniff_container, sniff_file
from tests.audio_fixtures import long_wav
from tests.engine_support import build_memory_engine
from tests.fake_slack import BOT_TOKEN, FakeSlack
from tests.fake_telegram import FakeTelegram

MIB = 1024 * 1024
SPEC = InterviewSpec("Backend Engineer", "TechCorp", "Technology")
HTTP_USER = User("http", "candidate-1")
BOUNDARY = "----upload-test-boundary"


class FileSpeech:
    """Hears the text a recording file holds, reading it a piece at a time; writes down what each job was given."""

    def __init__(self) -> None:
        self.given: list[AudioInput] = []
        self.digests: list[str] = []
        self.modes: list[int] = []

    async def transcribe(self, audio: AudioInput, language: str) -> Transcript:
        self.given.append(audio)
        assert audio.path is not None, "the engine must hand over the recording as a file"
        self.modes.append(audio.path.stat().st_mode & 0o777)
        digest = hashlib.sha256()
        head = b""
        with audio.open() as recording:
            while piece := recording.read(64 * 1024):
                head = head or piece[:64]
                digest.update(piece)
        self.digests.append(digest.hexdigest())
        words = head.decode(errors="replace").split("|", 1)[0]
        return Transcript(words, duration=3.0, language=language)

    @property
    def queue_depth(self) -> int:
        return 0

    def has_language(self, language: str) -> bool:
        return True

    def health(self) -> dict[str, Any]:
        return {}


def recording_bytes(size: int, said: str = "I led the migration") -> bytes:
    """`size` bytes that FileSpeech hears as `said`."""
    head = f"{said}|".encode()
    return head + bytes(range(256)) * ((size - len(head)) // 256) + b"\0" * ((size - len(head)) % 256)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def multipart(
    data: bytes, *, user_id: str = HTTP_USER.user_id, hold: asyncio.Event | None = None
) -> AsyncIterator[bytes]:
    """An /answer body sent in 64 KiB pieces (chunked, as a phone streams it); with `hold`, half of the recording
    goes, then the rest once `hold` is set."""
    for name, value in (("user_id", user_id), ("session_id", "s1")):
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio_file"; filename="answer.ogg"\r\n'
        "Content-Type: audio/ogg\r\n\r\n"
    ).encode()
    step = 64 * 1024
    for offset in range(0, len(data), step):
        if hold is not None and offset >= len(data) // 2:
            await hold.wait()
            hold = None
        yield data[offset : offset + step]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[tuple[TestClient, InterviewEngine, FileSpeech]]:
    speech = FileSpeech()
    engine, _ = build_memory_engine(speech, audio_dir=tmp_path / "audio", max_receiving=1)
    client = TestClient(TestServer(create_app(engine, HttpConfig(), version="test")))
    await client.start_server()
    await engine.start(HTTP_USER, SPEC, session_id="s1")
    yield client, engine, speech
    await client.close()


async def post_answer(
    client: TestClient, data: bytes, *, user_id: str = HTTP_USER.user_id, hold: asyncio.Event | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/api/interview/answer",
        data=multipart(data, user_id=user_id, hold=hold),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    body = await response.json()
    assert response.status == 200, body
    return body


# ----- HTTP uploads ----------------------------------------------------------------------------------------------


async def test_an_upload_is_written_to_disk_in_chunks_and_reaches_speech_as_a_file(http, tmp_path: Path) -> None:
    client, _, speech = http
    data = recording_bytes(16 * MIB)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        body = await post_answer(client, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body["transcript"] == "I led the migration"
    # About 1.4 MiB whatever the size (2 to 18 MiB measured): the server's own overhead. Read whole, the upload alone
    # would be 16 MiB, and was three times that counting its copies.
    assert peak < 3 * MIB, f"the upload path allocated {peak / MIB:.1f} MiB at its peak for a 16 MiB recording"
    [given] = speech.given
    assert given.data == b"" and speech.digests == [hashlib.sha256(data).hexdigest()]
    [kept] = files_in(tmp_path / "audio")
    assert given.path == kept and kept.parent.parent == tmp_path / "audio" and kept.parent.name != INCOMING_DIR
    assert speech.modes == [0o600] and kept.parent.stat().st_mode & 0o077 == 0


async def test_an_upload_beyond_the_bound_waits_its_turn_and_is_not_refused(http, tmp_path: Path) -> None:
    client, engine, _ = http  # max_receiving=1
    await engine.start(User("http", "candidate-2"), SPEC, session_id="s1")
    hold = asyncio.Event()
    first = asyncio.create_task(post_answer(client, recording_bytes(2 * MIB, "first answer"), hold=hold))
    incoming = tmp_path / "audio" / INCOMING_DIR
    async with asyncio.timeout(10):
        while not files_in(incoming):
            await asyncio.sleep(0.01)

    second = asyncio.create_task(post_answer(client, recording_bytes(MIB, "second answer"), user_id="candidate-2"))
    await asyncio.sleep(0.5)
    assert len(files_in(incoming)) == 1 and not second.done(), "the second upload must wait for the first's turn"
    hold.set()
    results = await asyncio.gather(first, second)
    assert [r["transcript"] for r in results] == ["first answer", "second answer"]
    assert files_in(incoming) == []


async def test_an_upload_over_the_engine_limit_is_refused_while_it_streams(tmp_path: Path) -> None:
    speech = FileSpeech()
    engine, _ = build_memory_engine(speech, audio_dir=tmp_path / "audio", max_audio_bytes=MIB)
    client = TestClient(TestServer(create_app(engine, HttpConfig(), version="test")))
    await client.start_server()
    try:
        await engine.start(HTTP_USER, SPEC, session_id="s1")
        response = await client.post(
            "/api/interview/answer",
            data=multipart(recording_bytes(3 * MIB)),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert response.status == 413 and (await response.json())["code"] == "audio_too_large"
    finally:
        await client.close()
    assert speech.given == [] and files_in(tmp_path / "audio") == []


# ----- the engine ----------------------------------------------------------------------------------------------------


async def test_a_received_recording_is_moved_into_the_users_folder_not_copied(tmp_path: Path) -> None:
    speech = FileSpeech()
    engine, _ = build_memory_engine(speech, audio_dir=tmp_path / "audio")
    user = User("telegram", "1001")
    await engine.start(user, SPEC)
    async with engine.receive_audio() as upload:
        for piece in (b"my answer|", b"x" * 300_000, b"y" * 10):
            await upload.write(piece)
        incoming = upload.path
        assert incoming.parent == tmp_path / "audio" / INCOMING_DIR and incoming.stat().st_mode & 0o777 == 0o600
        inode = incoming.stat().st_ino
        audio = await upload.finish("audio/ogg", "voice.ogg")
        result = await engine.answer_audio(user, audio)
    assert result.answer.text == "my answer"
    [kept] = files_in(tmp_path / "audio")
    assert kept.suffix == ".ogg" and kept.stat().st_ino == inode and kept.stat().st_size == 300_020
    assert not incoming.exists()


async def test_a_recording_the_engine_does_not_keep_is_deleted(tmp_path: Path) -> None:
    engine, _ = build_memory_engine(FileSpeech(), audio_dir=tmp_path / "audio")
    user = User("telegram", "1001")
    await engine.start(user, SPEC)
    with pytest.raises(errors.AudioEmpty):
        async with engine.receive_audio() as upload:
            await engine.answer_audio(user, await upload.finish("audio/ogg"))
    with pytest.raises(errors.AudioTooLarge):
        async with engine.receive_audio() as upload:
            await upload.write(b"\0" * (engine.max_audio_bytes + 1))
    assert files_in(tmp_path / "audio") == []
    assert (await engine.get_session(user)).pending_count == 0


async def test_no_more_recordings_than_the_bound_are_received_at_once(tmp_path: Path) -> None:
    engine, _ = build_memory_engine(FileSpeech(), audio_dir=tmp_path / "audio", max_receiving=2)
    done = [asyncio.Event() for _ in range(4)]
    receiving: set[int] = set()
    most = 0

    async def receive(number: int) -> None:
        nonlocal most
        async with engine.receive_audio() as upload:
            receiving.add(number)
            most = max(most, len(receiving))
            await upload.write(b"data")
            await done[number].wait()
            receiving.discard(number)
            await upload.finish()
            await asyncio.sleep(0.05)  # finish() freed the turn: the next one starts while this one is still open

    tasks = [asyncio.create_task(receive(n)) for n in range(4)]
    await asyncio.sleep(0.1)
    assert receiving == {0, 1}, "two at once; the others wait"
    done[0].set()
    await asyncio.sleep(0.02)
    assert receiving == {1, 2}
    for event in done:
        event.set()
    await asyncio.gather(*tasks)
    assert most == 2 and files_in(tmp_path / "audio") == []


async def test_a_half_received_recording_left_by_a_crash_is_purged(tmp_path: Path) -> None:
    now = [time.time()]
    engine, _ = build_memory_engine(FileSpeech(), audio_dir=tmp_path / "audio", clock=lambda: now[0])
    user = User("telegram", "1001")
    await engine.start(user, SPEC)
    async with engine.receive_audio() as upload:
        await upload.write(b"kept answer|")
        await engine.answer_audio(user, await upload.finish("audio/ogg"))
    incoming = tmp_path / "audio" / INCOMING_DIR
    left = incoming / "upload-left-by-a-crash.part"
    left.write_bytes(b"half a recording")
    fresh = incoming / "upload-still-arriving.part"
    fresh.write_bytes(b"arriving")
    old = now[0] - INCOMING_STALE_SECONDS - 60
    os.utime(left, (old, old))
    assert await engine.housekeeping() == (1, 0)
    assert not left.exists() and fresh.exists() and len(files_in(tmp_path / "audio")) == 2


# ----- speech ----------------------------------------------------------------------------------------------------


class GatedTranscriber:
    """Hears one word; while the gate is closed, a job hangs in its worker."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    def transcribe(self, pcm: Any, language: str, **kwargs: Any) -> Transcript:
        self.entered.set()
        assert self.gate.wait(30)
        return Transcript("안녕하세요", duration=pcm.duration, language=language)

    def languages(self) -> list[str]:
        return ["ko"]

    def has_language(self, language: str) -> bool:
        return language == "ko"


async def test_a_queued_speech_job_holds_the_recordings_path_not_its_bytes(tmp_path: Path, voice_ogg: bytes) -> None:
    transcriber = GatedTranscriber()
    pipeline = SpeechPipeline(transcriber, AudioConverter(), workers=1)
    submitted: list[tuple[Any, ...]] = []
    real_submit = pipeline._executor.submit

    def submit(fn: Any, *args: Any) -> Any:
        submitted.append(args)
        return real_submit(fn, *args)

    pipeline._executor.submit = submit  # type: ignore[method-assign]
    engine, _ = build_memory_engine(pipeline, audio_dir=tmp_path / "audio", default_language="ko")
    users = [User("telegram", "1001"), User("telegram", "1002")]
    try:
        for user in users:
            await engine.start(user, SPEC)
        answers = [asyncio.create_task(engine.answer_audio(u, AudioInput(voice_ogg, "audio/ogg"))) for u in users]
        async with asyncio.timeout(30):
            while not (transcriber.entered.is_set() and pipeline.queue_depth == 1):
                await asyncio.sleep(0.01)
        assert len(submitted) == 2
        for audio, language in submitted:
            assert isinstance(audio, AudioInput) and audio.data == b"" and language == "ko"
            assert audio.path is not None and audio.path.is_relative_to(tmp_path / "audio")
            assert audio.path.read_bytes() == voice_ogg
        transcriber.gate.set()
        results = await asyncio.gather(*answers)
    finally:
        transcriber.gate.set()
        await pipeline.close()
    assert [r.answer.text for r in results] == ["안녕하세요", "안녕하세요"]


def test_the_converter_hands_ffmpeg_the_recording_file_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recording = tmp_path / "answer.wav"
    recording.write_bytes(long_wav(300.0))  # 9.6 MB
    converter = AudioConverter(limits=AudioLimits(max_seconds=5.0))

    def no_copies(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the recording must not be copied to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_copies)
    tracemalloc.start()
    try:
        with pytest.raises(errors.AudioTooLong):  # ffmpeg read the file, and stopped a second past the limit
            converter.to_pcm(AudioInput(mime_type="audio/wav", path=recording))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB, f"converting a 9.6 MB file took {peak / MIB:.1f} MiB"


def test_a_saved_recording_converts_with_an_older_ffmpeg_too_and_a_manifest_file_is_refused(
    tmp_path: Path, voice_ogg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = tmp_path / "answer.ogg"
    recording.write_bytes(voice_ogg)
    converter = AudioConverter()
    monkeypatch.setattr(converter, "_fd_input", False)  # the file protocol, on a copy made a piece at a time
    assert converter.to_pcm(AudioInput(path=recording)).duration > 1.0
    manifest = tmp_path / "answer.oga"
    manifest.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{recording}\n#EXT-X-ENDLIST\n")
    with pytest.raises(errors.AudioInvalid):
        AudioConverter().to_pcm(AudioInput(mime_type="audio/ogg", path=manifest))


@pytest.mark.parametrize("padding", [40, 100_000])
def test_a_recording_file_is_sniffed_past_an_id3_tag_of_any_length(tmp_path: Path, padding: int) -> None:
    body = b"\xff\xf1" + b"\0" * 30  # an ADTS frame header
    size = bytes([padding >> 21 & 0x7F, padding >> 14 & 0x7F, padding >> 7 & 0x7F, padding & 0x7F])
    data = b"ID3\x04\x00\x00" + size + b"\0" * padding + body
    path = tmp_path / "tagged.aac"
    path.write_bytes(data)
    with path.open("rb") as source:
        container, head = sniff_file(source)
    assert container == sniff_container(data) == "aac" and head == data[:16]


# ----- chat downloads ------------------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.chunks: list[int] = []
        self.data = bytearray()

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.chunks.append(len(chunk))
        self.data += chunk


async def test_a_slack_voice_file_is_saved_chunk_by_chunk() -> None:
    fake = FakeSlack()
    await fake.start()
    files = Files(BOT_TOKEN, 4 * MIB, api_base_url=fake.api_url)
    try:
        data = recording_bytes(3 * MIB)
        file = fake.add_file("F0000001", data, "audio/webm", "audio_message.webm")
        sink = Sink()

        async def read() -> bytes:
            return await files.fetch(file)

        await FileSource(read).save(sink)
        assert bytes(sink.data) == data and len(sink.chunks) > 1 and max(sink.chunks) <= CHUNK
        assert await files.fetch(file) == data  # outside a save (a CV, a job description): the bytes
        big = fake.add_file("F0000002", recording_bytes(5 * MIB), "audio/webm", "long.webm", size=100)

        async def read_big() -> bytes:
            return await files.fetch(big)

        with pytest.raises(errors.AudioTooLarge):
            await FileSource(read_big).save(Sink())
    finally:
        await files.close()
        await fake.close()


async def test_a_telegram_voice_note_reaches_the_engine_as_a_downloaded_file(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    speech = FileSpeech()
    engine, _ = build_memory_engine(speech, audio_dir=tmp_path / "audio", default_language="en-us")
    answered: list[AudioInput] = []
    real_answer_audio = engine.answer_audio

    async def answer_audio(user: User, audio: AudioInput, **kwargs: Any) -> Any:
        answered.append(audio)
        return await real_answer_audio(user, audio, **kwargs)

    engine.answer_audio = answer_audio  # type: ignore[method-assign]
    settings = TelegramConfig(token=fake.token, api_base_url=fake.base_url, file_base_url=fake.file_base_url)
    adapter = TelegramAdapter(engine, settings)
    await adapter.open()
    await adapter.start()
    try:
        await engine.start(User("telegram", "5001"), SPEC)
        data = recording_bytes(MIB, "answered by voice")
        await fake.push(fake.voice_update(5001, data))
        await fake.wait_until(lambda: any("answered by voice" in text for text in fake.texts(5001)))
    finally:
        await adapter.stop()
        await fake.close()
    [audio] = answered
    assert audio.data == b"" and audio.path is not None and audio.path.parent.name == INCOMING_DIR
    assert speech.digests == [hashlib.sha256(data).hexdigest()]
    [kept] = files_in(tmp_path / "audio")
    assert kept.parent.name != INCOMING_DIR
