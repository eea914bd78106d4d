"""The engine's domain errors: each adapter maps these to its own words once."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error a user can cause; `message` is safe to show to that user."""

    code = "engine_error"
    default_message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class SessionNotFound(EngineError):
    code = "session_not_found"
    default_message = "No interview in progress; send /interview to start one."


class SessionInProgress(EngineError):
    """Starting while an interview is active: the caller may resume it or end it."""

    code = "session_in_progress"
    default_message = "You already have an interview in progress. Resume it or end it first."

    def __init__(self, session: Any, message: str | None = None) -> None:
        self.session = session
        super().__init__(message)


class SessionConflict(EngineError):
    code = "session_conflict"
    default_message = "A session with this id already exists with different parameters."


class SessionCompleted(EngineError):
    code = "session_completed"
    default_message = "This interview is already finished. Ask for the report or start a new one."

    def __init__(self, session: Any = None, message: str | None = None) -> None:
        self.session = session
        super().__init__(message)


class InvalidInput(EngineError):
    """Missing or bad fields; `fields` maps each field name to what is wrong with it."""

    code = "invalid_input"
    default_message = "Some fields are missing or invalid."

    def __init__(self, fields: dict[str, str], message: str | None = None) -> None:
        self.fields = dict(fields)
        if message is None:
            message = "; ".join(f"{name}: {problem}" for name, problem in self.fields.items())
        super().__init__(message)


class AudioError(EngineError):
    """The audio could not be used; the question stays pending."""

    code = "audio_error"
    default_message = "I couldn't use that audio. Please try again."


class AudioInvalid(AudioError):
    code = "audio_invalid"
    default_message = "That file isn't audio I can read (it may be corrupt). Please send a voice note."


class AudioEmpty(AudioError):
    code = "audio_empty"
    default_message = "That voice note was empty. Please record your answer again."


class AudioTooLarge(AudioError):
    code = "audio_too_large"
    default_message = "That file is too large. Please keep answers shorter."


class AudioTooLong(AudioError):
    code = "audio_too_long"
    default_message = "That answer is too long. Please keep answers shorter."


class AudioSilent(AudioError):
    code = "audio_silent"
    default_message = "I couldn't hear anything, check your microphone and try again."


class SpeechUnavailable(EngineError):
    """No speech model for the session's language; typed answers still work."""

    code = "speech_unavailable"
    default_message = (
        "Voice answers are not available right now (no speech model installed). "
        "Type your answer instead; an admin can run `interview-bot models fetch en-us`."
    )


class TranscriptionFailed(EngineError):
    """The recogniser crashed or ran past its time limit; the saved audio can be retried."""

    code = "transcription_failed"
    default_message = "Speech recognition failed. Please try again in a moment."


class ShuttingDown(EngineError):
    """The bot is restarting: the voice answer is saved and will be transcribed, and replied to, once it is back."""

    code = "shutting_down"
    default_message = "I'm restarting. Your answer is saved and I'll reply as soon as I'm back."


class StoreLocked(EngineError):
    code = "store_locked"
    default_message = "The session database is already open in another process."
