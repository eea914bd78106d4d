"""Audio conversion with real ffmpeg: every container a platform sends, and each way audio can be unusable."""

from __future__ import annotations

import random
import stat
import subprocess

import imageio_ffmpeg
import pytest

from engine.errors import AudioEmpty, AudioInvalid, AudioSilent, AudioTooLarge, AudioTooLong
from engine.speech import AudioConverter, AudioLimits, find_ffmpeg, sniff_container
from engine.types import AudioInput
from tests.audio_fixtures import FORMATS, KO_PHRASE, encode, silence_wav, speech_wav, tone_wav, wav_duration

# Each format as the platform labels it; the label is only a hint and is sometimes wrong.
MIME = {
    "ogg_opus": "audio/ogg",
    "mp4_video_note": "video/mp4",
    "mp4_aac": "audio/mp4",
    "m4a_aac": "audio/x-m4a",
    "mp3": "audio/mpeg",
    "webm_opus": "audio/webm",
    "flac": "audio/flac",
    "wav_44k_stereo": "audio/wav",
}


@pytest.fixture(scope="module")
def converter() -> AudioConverter:
    return AudioConverter()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_speech_in_every_container_becomes_16k_mono_16bit_of_the_same_length(converter, fmt):
    source = speech_wav(KO_PHRASE)
    pcm = converter.to_pcm(AudioInput(encode(source, fmt), mime_type=MIME[fmt]))
    assert pcm.sample_rate == 16000
    # One 16-bit channel: the byte count is exactly 2 per sample of the reported duration; a stereo or
    # 32-bit result would double it and no longer match the source's length.
    assert len(pcm.data) == round(pcm.duration * 16000) * 2
    assert pcm.duration == pytest.approx(wav_duration(source), abs=0.1)
    assert pcm.peak_dbfs > -20


@pytest.mark.parametrize("fmt", ["mp3", "wav_44k_stereo", "ogg_opus"])
def test_a_tone_keeps_its_length_at_any_source_rate(converter, fmt):
    pcm = converter.to_pcm(AudioInput(encode(tone_wav(4.0, 300.0), fmt)))
    assert pcm.duration == pytest.approx(4.0, abs=0.1)
    # A -6 dBFS tone stays about that loud (ffmpeg's stereo downmix takes 3 dB off two identical channels).
    assert -10.0 < pcm.peak_dbfs < -5.0


@pytest.mark.parametrize(("fmt", "wrong_label"), [("ogg_opus", "audio/mp4"), ("mp4_video_note", "audio/ogg")])
def test_a_wrong_mime_label_does_not_matter(converter, fmt, wrong_label):
    pcm = converter.to_pcm(AudioInput(encode(speech_wav(KO_PHRASE), fmt), mime_type=wrong_label))
    assert pcm.duration == pytest.approx(wav_duration(speech_wav(KO_PHRASE)), abs=0.1)


def test_containers_are_recognised_by_their_leading_bytes():
    wav = speech_wav(KO_PHRASE)
    expected = {"ogg_opus": "ogg", "mp4_video_note": "mp4", "m4a_aac": "mp4", "webm_opus": "webm", "flac": "flac"}
    for fmt, container in expected.items():
        assert sniff_container(encode(wav, fmt)[:16]) == container
    assert sniff_container(wav[:16]) == "wav"
    assert sniff_container(b"<!DOCTYPE html>") == ""


def test_random_bytes_labelled_as_a_voice_note_are_invalid(converter):
    garbage = random.Random(7).randbytes(20_000)
    with pytest.raises(AudioInvalid):
        converter.to_pcm(AudioInput(garbage, mime_type="audio/ogg", filename="voice.oga"))


def test_an_html_error_page_instead_of_audio_is_invalid(converter):
    page = b"<!DOCTYPE html><html><body>403 Forbidden</body></html>" * 20
    with pytest.raises(AudioInvalid):
        converter.to_pcm(AudioInput(page, mime_type="audio/ogg"))


def test_a_voice_note_cut_off_after_its_headers_is_invalid(converter, voice_ogg):
    with pytest.raises(AudioInvalid):
        converter.to_pcm(AudioInput(voice_ogg[:120], mime_type="audio/ogg"))


def test_a_video_without_a_sound_track_is_invalid(converter, tmp_path):
    video = tmp_path / "mute.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=size=64x64:rate=5", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioInvalid):
        converter.to_pcm(AudioInput(video.read_bytes(), mime_type="video/mp4"))


def test_empty_bytes_are_empty_not_invalid(converter):
    with pytest.raises(AudioEmpty):
        converter.to_pcm(AudioInput(b"", mime_type="audio/ogg"))


def test_silence_is_reported_as_silent(converter):
    with pytest.raises(AudioSilent) as caught:
        converter.to_pcm(AudioInput(encode(silence_wav(3.0), "ogg_opus")))
    assert "microphone" in caught.value.message


def test_a_barely_audible_hum_is_silent_but_a_normal_tone_is_not(converter):
    with pytest.raises(AudioSilent):
        converter.to_pcm(AudioInput(tone_wav(3.0, 200.0, 0.003)))  # about -50 dBFS
    assert converter.to_pcm(AudioInput(tone_wav(3.0, 200.0, 0.1))).duration == pytest.approx(3.0, abs=0.05)


def test_audio_past_the_duration_limit_is_too_long(converter):
    short = AudioConverter(limits=AudioLimits(max_seconds=5.0))
    with pytest.raises(AudioTooLong) as caught:
        short.to_pcm(AudioInput(encode(tone_wav(8.0), "ogg_opus")))
    assert "5 seconds" in caught.value.message
    assert caught.value.limit_seconds == 5.0 and caught.value.seconds is not None and caught.value.seconds > 5.0
    assert short.to_pcm(AudioInput(encode(tone_wav(4.0), "ogg_opus"))).duration == pytest.approx(4.0, abs=0.1)


def test_size_is_checked_before_anything_is_decoded(voice_ogg, tmp_path):
    # An ffmpeg that always fails proves the size check never reached it.
    failing = tmp_path / "ffmpeg"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    small = AudioConverter(str(failing), AudioLimits(max_bytes=len(voice_ogg) - 1))
    with pytest.raises(AudioTooLarge) as caught:
        small.to_pcm(AudioInput(voice_ogg, mime_type="audio/ogg"))
    assert (caught.value.size_bytes, caught.value.limit_bytes) == (len(voice_ogg), len(voice_ogg) - 1)
    with pytest.raises(AudioInvalid):  # one byte less is allowed through, and that ffmpeg then fails
        AudioConverter(str(failing), AudioLimits(max_bytes=len(voice_ogg))).to_pcm(AudioInput(voice_ogg))


def test_a_configured_ffmpeg_is_the_one_that_runs(voice_ogg, tmp_path):
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "my-ffmpeg"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{imageio_ffmpeg.get_ffmpeg_exe()}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    converter = AudioConverter(str(wrapper))
    assert calls.read_text().splitlines() == ["-hide_banner -protocols"]  # asked once which protocols it has
    assert converter.to_pcm(AudioInput(voice_ogg)).sample_rate == 16000
    assert len(calls.read_text().splitlines()) == 2


def test_find_ffmpeg_defaults_to_the_bundled_binary_and_rejects_a_missing_one(tmp_path):
    assert find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()
    assert find_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe()) == imageio_ffmpeg.get_ffmpeg_exe()
    with pytest.raises(FileNotFoundError, match="no-such-ffmpeg"):
        find_ffmpeg(str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(FileNotFoundError):
        find_ffmpeg("ffmpeg-that-is-not-on-path")


def test_the_copy_ffmpeg_reads_has_no_name_so_a_crash_leaves_nothing_behind(
    converter, voice_ogg, tmp_path, monkeypatch
):
    """A kill -9 while ffmpeg runs cannot clean up; an unlinked copy needs no cleaning (old code leaked a folder)."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    seen_while_running: list[list[str]] = []
    real_run = subprocess.run

    def run(*args, **kwargs):
        seen_while_running.append(sorted(p.name for p in tmp_path.iterdir()))
        return real_run(*args, **kwargs)

    monkeypatch.setattr("engine.speech.audio.subprocess.run", run)
    pcm = converter.to_pcm(AudioInput(voice_ogg, "audio/ogg"))
    assert pcm.duration > 1
    assert seen_while_running == [[]]
