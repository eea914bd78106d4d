"""The engine's public face: everything an adapter may use, and nothing it must not (the store, the pipeline).

Adapters import from `engine` only; modules inside the package are free to move. Every engine call that returns
a session returns a frozen SessionView; `Session`, the engine's own mutable record, is exported for old type hints.
"""

from engine import errors
from engine.coaching.feedback import PART_MAX
from engine.coaching.questions import ROUND_TYPES
from engine.locks import Lease
from engine.practice import ProgressEntry
from engine.practice import compare as compare_attempts
from engine.service import (
    FIELD_LIMITS,
    ID_PATTERN,
    MAX_TEXT_ANSWER,
    AnswerResult,
    InterviewEngine,
    QuestionVoice,
    Recovered,
    Regraded,
    StartResult,
)
from engine.session import ABANDONED, ACTIVE, COMPLETED, ENDED, STATUSES, Answer, Session
from engine.speech.delivery import FAST_WPM, PAUSE_SECONDS, SLOW_WPM
from engine.speech.voices import SpokenQuestion
from engine.team import (
    CANDIDATE,
    INTERVIEWER,
    OWN_QUESTION,
    SCALE,
    TEAMMATE,
    Comment,
    Rating,
    Team,
    TeamLine,
    TeamReport,
    TeamScore,
    is_space,
    on_five,
    space_id,
)
from engine.types import (
    FOLLOW_UP,
    PLATFORMS,
    AudioInput,
    Feedback,
    InterviewSpec,
    Question,
    QuestionScore,
    Report,
    SessionSummary,
    Transcript,
    User,
    Word,
)
from engine.views import SessionView

__all__ = [
    "ABANDONED",
    "ACTIVE",
    "CANDIDATE",
    "COMPLETED",
    "ENDED",
    "FAST_WPM",
    "FIELD_LIMITS",
    "FOLLOW_UP",
    "ID_PATTERN",
    "INTERVIEWER",
    "MAX_TEXT_ANSWER",
    "OWN_QUESTION",
    "PART_MAX",
    "PAUSE_SECONDS",
    "PLATFORMS",
    "ROUND_TYPES",
    "SCALE",
    "SLOW_WPM",
    "STATUSES",
    "TEAMMATE",
    "Answer",
    "AnswerResult",
    "AudioInput",
    "Comment",
    "Feedback",
    "InterviewEngine",
    "InterviewSpec",
    "Lease",
    "ProgressEntry",
    "Question",
    "QuestionScore",
    "QuestionVoice",
    "Rating",
    "Recovered",
    "Regraded",
    "Report",
    "Session",
    "SessionSummary",
    "SessionView",
    "SpokenQuestion",
    "StartResult",
    "Team",
    "TeamLine",
    "TeamReport",
    "TeamScore",
    "Transcript",
    "User",
    "Word",
    "compare_attempts",
    "errors",
    "is_space",
    "on_five",
    "space_id",
]
