"""Team interviews: who plays which part in a shared space, teammates' ratings and comments, and the team report.

A team interview is an ordinary session held by a "space" (a Slack thread, a Telegram group) rather than by a
person: its user id is the space's key (see space_id), so the candidate's private practice stays separate and two
interviews in one channel never mix. `Team` records the people and what they said about each answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.session import Progress

CANDIDATE = "candidate"
INTERVIEWER = "interviewer"
TEAMMATE = "teammate"
SPACE_PREFIX = "team:"
OWN_QUESTION = "interviewer"  # the category of a question the interviewer asked in their own words
SCALE = (1, 5)  # teammates rate on 1..5
DISAGREE_POINTS = 2.0  # the bot and the team disagree when they are this far apart on the 5-point scale
MAX_COMMENT = 2000


def space_id(*parts: object) -> str:
    """The engine user id of the interview held in a shared space: "team:C123:1700000000.000100"."""
    return SPACE_PREFIX + ":".join(str(part) for part in parts)


def is_space(user_id: str) -> bool:
    return user_id.startswith(SPACE_PREFIX)


def on_five(score: int) -> float:
    """The bot's 0-100 score on the teammates' 1-5 scale (0 -> 1, 100 -> 5), so the two can be compared."""
    return round(1 + 4 * score / 100, 1)


def mean(values: Iterable[float]) -> float | None:
    numbers = list(values)
    return round(sum(numbers) / len(numbers), 1) if numbers else None


@dataclass(frozen=True)
class Rating:
    """One teammate's rating of one answer. Slack's form gives the three parts (overall is their mean); Telegram's
    buttons give the overall alone, and the parts stay None."""

    index: int  # the question (0-based) whose answer is rated
    rater: str  # the platform's user id
    overall: float
    content: int | None = None
    structure: int | None = None
    delivery: int | None = None
    comment: str = ""
    rater_name: str = ""
    at: float = 0.0
    delivery_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rating:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def public(self) -> dict[str, Any]:
        """What the HTTP API shows: {rater, content, structure, delivery, overall, comment}."""
        keys = ("rater", "content", "structure", "delivery", "overall", "comment")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class Comment:
    """Something a teammate (or the interviewer) said in the space about an answer."""

    index: int  # the answer it is about: the latest one when it was said (-1: before the first answer)
    author: str
    text: str
    author_name: str = ""
    at: float = 0.0
    delivery_id: str = ""
    voice: bool = False  # a voice note from someone other than the candidate: kept as a comment, not transcribed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comment:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Team:
    """The people of a team interview and what the team said; kept in the session (Session.team)."""

    candidate: str
    candidate_name: str = ""
    interviewer: str = ""  # who started it for someone else; empty when the candidate started it
    interviewer_name: str = ""
    place: str = ""  # where it runs, as people know it: "#backend", a group's title
    accepted: bool = False
    ratings: tuple[Rating, ...] = ()
    comments: tuple[Comment, ...] = ()

    def role_of(self, user_id: str) -> str:
        if user_id == self.candidate:
            return CANDIDATE
        if user_id == self.interviewer:
            return INTERVIEWER
        return TEAMMATE

    def runs_it(self, user_id: str) -> bool:
        """Whether this person may skip, end or steer: the interviewer, or the candidate."""
        return user_id in (self.candidate, self.interviewer)

    def ratings_for(self, index: int) -> tuple[Rating, ...]:
        return tuple(r for r in self.ratings if r.index == index)

    def comments_for(self, index: int) -> tuple[Comment, ...]:
        return tuple(c for c in self.comments if c.index == index)

    @property
    def raters(self) -> frozenset[str]:
        return frozenset(r.rater for r in self.ratings)

    def involves(self, user_id: str) -> bool:
        """Whether anything of this person is kept here: as candidate, interviewer, rater or author of a comment."""
        return (
            user_id in (self.candidate, self.interviewer)
            or user_id in self.raters
            or any(c.author == user_id for c in self.comments)
        )

    def without(self, user_id: str) -> Team:
        """The team with nothing left of someone other than the candidate who asked to be forgotten: their ratings and
        comments go, and as the interviewer their id and name (the candidate then runs the interview alone)."""
        ran_it = self.interviewer == user_id
        return replace(
            self,
            interviewer="" if ran_it else self.interviewer,
            interviewer_name="" if ran_it else self.interviewer_name,
            ratings=tuple(r for r in self.ratings if r.rater != user_id),
            comments=tuple(c for c in self.comments if c.author != user_id),
        )

    def seen(self, delivery_id: str) -> bool:
        """Whether a rating or comment came with this delivery id already (a platform's redelivery)."""
        if not delivery_id:
            return False
        return any(r.delivery_id == delivery_id for r in self.ratings) or any(
            c.delivery_id == delivery_id for c in self.comments
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "candidate_name": self.candidate_name,
            "interviewer": self.interviewer,
            "interviewer_name": self.interviewer_name,
            "place": self.place,
            "accepted": self.accepted,
            "ratings": [r.to_dict() for r in self.ratings],
            "comments": [c.to_dict() for c in self.comments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Team:
        return cls(
            candidate=data["candidate"],
            candidate_name=data.get("candidate_name", ""),
            interviewer=data.get("interviewer", ""),
            interviewer_name=data.get("interviewer_name", ""),
            place=data.get("place", ""),
            accepted=bool(data.get("accepted", False)),
            ratings=tuple(Rating.from_dict(r) for r in data.get("ratings", ())),
            comments=tuple(Comment.from_dict(c) for c in data.get("comments", ())),
        )


@dataclass(frozen=True)
class TeamScore:
    """One answer as the team saw it: the count and averages of its ratings, beside the bot's score."""

    count: int = 0
    overall: float | None = None
    content: float | None = None
    structure: float | None = None
    delivery: float | None = None

    @classmethod
    def of(cls, ratings: Sequence[Rating]) -> TeamScore:
        return cls(
            count=len(ratings),
            overall=mean(r.overall for r in ratings),
            content=mean(r.content for r in ratings if r.content is not None),
            structure=mean(r.structure for r in ratings if r.structure is not None),
            delivery=mean(r.delivery for r in ratings if r.delivery is not None),
        )


@dataclass(frozen=True)
class TeamLine:
    """One question of the team report."""

    index: int
    label: str
    question: str
    source: str  # voice, text, skipped
    bot_score: int | None  # 0-100; None when skipped
    team: TeamScore = field(default_factory=TeamScore)
    comments: tuple[Comment, ...] = ()
    rating_comments: tuple[Rating, ...] = ()  # ratings that came with a comment

    @property
    def bot_on_five(self) -> float | None:
        return on_five(self.bot_score) if self.bot_score is not None else None

    @property
    def gap(self) -> float | None:
        """The team's average less the bot's score, on the 5-point scale (positive: the team liked it more)."""
        if self.team.overall is None or self.bot_on_five is None:
            return None
        return round(self.team.overall - self.bot_on_five, 1)

    @property
    def disagree(self) -> bool:
        return self.gap is not None and abs(self.gap) >= DISAGREE_POINTS


@dataclass(frozen=True)
class TeamReport:
    """The team's side of a team interview's report: per answer the bot's score beside the team's, the comments,
    where the two disagree most, and the overall of each."""

    candidate: str
    candidate_name: str
    interviewer: str
    interviewer_name: str
    place: str
    lines: tuple[TeamLine, ...]
    bot_overall: int  # 0-100, as the bot's report says
    team_overall: float | None  # the mean of the answers' team averages, 1-5
    raters: int  # different teammates who rated

    @property
    def disagreements(self) -> tuple[TeamLine, ...]:
        """The answers where the team and the bot are two points or more apart, the widest first."""
        wide = [line for line in self.lines if line.disagree]
        return tuple(sorted(wide, key=lambda line: -abs(line.gap or 0.0)))


def build_team_report(progress: Progress, team: Team, bot_overall: int) -> TeamReport:
    """The team report of a session (`progress`: a Session or SessionView) whose report scored `bot_overall`."""
    lines = []
    for answer in progress.counted():
        ratings = team.ratings_for(answer.index)
        lines.append(
            TeamLine(
                index=answer.index,
                label=progress.label(answer.index),
                question=answer.question.text,
                source=answer.source,
                bot_score=answer.feedback.score if answer.feedback is not None and answer.source != "skipped" else None,
                team=TeamScore.of(ratings),
                comments=team.comments_for(answer.index),
                rating_comments=tuple(r for r in ratings if r.comment),
            )
        )
    averages = [line.team.overall for line in lines if line.team.overall is not None]
    return TeamReport(
        candidate=team.candidate,
        candidate_name=team.candidate_name,
        interviewer=team.interviewer,
        interviewer_name=team.interviewer_name,
        place=team.place,
        lines=tuple(lines),
        bot_overall=bot_overall,
        team_overall=mean(averages),
        raters=len(team.raters),
    )
