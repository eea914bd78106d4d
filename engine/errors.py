"""The engine's domain errors: each adapter maps these to its own words once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.views import SessionView


def megabytes(size_bytes: int) -> str:
    """A size in the one unit our messages call "MB": MiB, so 20 * 1024 * 1024 bytes reads "20 MB"."""
    return f"{round(size_bytes / 1024 / 1024, 2):g} MB"


def about(seconds: float) -> str:
    """A wait as people say it: "a minute", "about 20 minutes", "about 3 hours"."""
    minutes = max(1, round(seconds / 60))
    if minutes == 1:
        return "a minute"
    if minutes < 90:
        return f"about {minutes} minutes"
    return f"about {round(minutes / 60)} hours"


class EngineError(Exception):
    """Base of every error a user can cause; `message` is safe to show to that user."""

    code = "engine_error"
    default_message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class SessionNotFound(EngineError):
    code = "session_not_found"
    default_message = "No interview in progress."


class SessionInProgress(EngineError):
    """Starting while an interview is active: the caller may resume it or end it."""

    code = "session_in_progress"
    default_message = "You already have an interview in progress. Resume it or end it first."

    def __init__(self, session: SessionView | None, message: str | None = None) -> None:
        self.session = session
        super().__init__(message)


class SessionConflict(EngineError):
    code = "session_conflict"
    default_message = "A session with this id already exists with different parameters."


class SessionCompleted(EngineError):
    code = "session_completed"
    default_message = "This interview is already finished. Ask for the report or start a new one."

    def __init__(self, session: SessionView | None = None, message: str | None = None) -> None:
        self.session = session
        super().__init__(message)


class NoAnswerYet(EngineError):
    """A retake or a transcript correction before any answer exists to retake or correct."""

    code = "no_answer_yet"
    default_message = "There is no answer to work on yet: answer a question first."


class QuestionNotFound(EngineError):
    """A question index that this session has not asked (out of range, or not reached yet)."""

    code = "question_not_found"
    default_message = "That question has not been asked in this interview."


class NotAllowed(EngineError):
    """Someone in a team interview asked for what their part does not allow; `reason` says which rule:
    not_candidate, not_interviewer, not_runner (interviewer or candidate), own_answer (the candidate rating
    themselves), no_answer (a rating of an answer not given), not_accepted (before the candidate accepted), accepted
    (declining an invitation the candidate has already accepted)."""

    code = "not_allowed"
    default_message = "That is not yours to do in this interview."

    def __init__(self, reason: str = "", message: str | None = None) -> None:
        self.reason = reason
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
    """More bytes than the limit; `size_bytes` and `limit_bytes` are None where the raiser did not know them."""

    code = "audio_too_large"
    default_message = "The audio file is too large."

    def __init__(
        self, size_bytes: int | None = None, limit_bytes: int | None = None, *, message: str | None = None
    ) -> None:
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes
        if message is None and size_bytes is not None:
            message = f"The audio file is {megabytes(size_bytes)}"
            message += f"; the limit is {megabytes(limit_bytes)}." if limit_bytes is not None else "."
        elif message is None and limit_bytes is not None:
            message = f"The audio file is over the {megabytes(limit_bytes)} limit."
        super().__init__(message)


class AudioTooLong(AudioError):
    """More seconds than the limit; `seconds` (as far as decoded) and `limit_seconds` are None if unknown."""

    code = "audio_too_long"
    default_message = "The audio is too long."

    def __init__(
        self, seconds: float | None = None, limit_seconds: float | None = None, *, message: str | None = None
    ) -> None:
        self.seconds = seconds
        self.limit_seconds = limit_seconds
        if message is None and limit_seconds is not None:
            message = f"The audio is too long: the limit is {limit_seconds:g} seconds."
        elif message is None and seconds is not None:
            message = f"The audio is too long ({seconds:.0f} seconds)."
        super().__init__(message)


class AudioSilent(AudioError):
    code = "audio_silent"
    default_message = "I couldn't hear anything, check your microphone and try again."


class SpeechUnavailable(EngineError):
    """No speech model for the language (`language`, empty if unknown); typed answers still work."""

    code = "speech_unavailable"
    default_message = "No speech model is installed."

    def __init__(self, language: str = "", message: str | None = None) -> None:
        self.language = language
        if message is None and language:
            message = f"No speech model is installed for '{language}'."
        super().__init__(message)


class TranscriptionFailed(EngineError):
    """The recogniser crashed or ran past its time limit; the saved audio can be retried."""

    code = "transcription_failed"
    default_message = "Speech recognition failed. Please try again in a moment."


class ShuttingDown(EngineError):
    """The bot is restarting: the voice answer is saved and will be transcribed, and replied to, once it is back.

    `saved` is False when it is a NEW answer that was refused, because an earlier one still waits its turn.
    """

    code = "shutting_down"
    default_message = "I'm restarting. Your answer is saved and I'll reply as soon as I'm back."

    def __init__(self, message: str | None = None, *, saved: bool = True) -> None:
        self.saved = saved
        super().__init__(message)


class TooManySessions(EngineError):
    """The user started `limit` sessions in the last 24 hours; the next may start in `retry_after` seconds.

    Either is None where the raiser did not know it.
    """

    code = "too_many_sessions"
    default_message = "Too many interviews were started in the last 24 hours. Please try again later."

    def __init__(
        self, limit: int | None = None, retry_after: float | None = None, *, message: str | None = None
    ) -> None:
        self.limit = limit
        self.retry_after = None if retry_after is None else max(0.0, retry_after)
        if message is None and limit is not None:
            message = f"You have started {limit} interviews in the last 24 hours, the most allowed in a day."
            if self.retry_after is not None:
                message += f" You can start another in {about(self.retry_after)}."
        super().__init__(message)


class SessionChanged(EngineError):
    """A session was saved by another process (or deleted) since this one read it: the write is refused, not merged.

    Shared stores only; the per-user lease makes it rare (a process paused past its lease)."""

    code = "session_changed"
    default_message = "The interview changed elsewhere at the same moment; please send that again."


class StoreLocked(EngineError):
    code = "store_locked"
    default_message = "The session database is already open in another process."
