"""The step-by-step set-up (surfaces without forms): one field per message, the answers so far kept as a draft.

The draft lives in the engine's store, so a restart in the middle of setting up carries on from the same step,
and a button sent before the restart still works while its set-up does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from adapters.chat import setup
from adapters.chat.parse import DEFAULT_INDUSTRY, round_type
from adapters.chat.replies import Edit, Kind, Option, Reply
from adapters.chat.setup import CONFIRM, STEPS, Draft
from adapters.chat.text import round_label
from adapters.chat.words import Words
from engine import FIELD_LIMITS, ROUND_TYPES, InterviewEngine, InterviewSpec, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one set-up message did: replies to show and, once the last field is in, the interview to start."""

    replies: tuple[Reply, ...] = ()
    spec: InterviewSpec | None = None


class Wizard:
    """Asks the set-up fields one at a time and keeps the draft with the engine."""

    def __init__(self, engine: InterviewEngine, words: Words, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._words = words
        self._clock = clock

    async def load(self, user: User, steps: tuple[str, ...] = STEPS) -> Draft | None:
        """The user's set-up in progress (or, with steps=(CONFIRM,), a spec waiting for a button).

        Loaded afresh for each event; a surface runs one user's events one at a time, so nothing else changes
        the draft between this load and the save that follows it.
        """
        data = await self._engine.get_draft(user)
        if data is None:
            return None
        try:
            draft: Draft | None = Draft.from_dict(data)
        except (TypeError, ValueError):
            logger.warning("dropping an unreadable set-up draft platform=%s user=%s", user.platform, user.user_id)
            draft = None
        if draft is None or self._clock() - draft.touched > setup.DRAFT_TTL_SECONDS:
            await self._engine.clear_draft(user)
            return None
        return draft if draft.step in steps else None

    async def save(self, user: User, draft: Draft) -> None:
        """Keep the set-up's latest state with the engine, so a restart carries on from this step."""
        draft.touched = self._clock()
        await self._engine.save_draft(user, draft.to_dict())

    async def begin(self, user: User, *, replacing: bool = False) -> Reply:
        await self.save(user, Draft(step="role", touched=self._clock()))
        return Reply(Kind.PROMPT, f"{self._words.setup_intro(replacing=replacing)}\n\n{self._words.setup_step('role')}")

    async def hold(self, user: User, spec: InterviewSpec) -> None:
        """Keep a start request that waits for "End it and start new" (it survives a restart too)."""
        await self.save(user, Draft(step=CONFIRM, touched=self._clock(), spec=spec))

    def prompt(self, step: str, *, lead: str = "") -> Reply:
        """The question for one step, with its buttons."""
        options: tuple[Option, ...] = ()
        if step == "industry":
            options = (Option(DEFAULT_INDUSTRY, "w:industry:general"),)
        elif step == "round":
            options = setup.round_options_for_steps()
        elif step in ("cv", "jd"):
            options = (Option("Skip ⏭", f"w:skip:{step}"),)
        return Reply(Kind.PROMPT, lead + self._words.setup_step(step), options)

    async def text(self, user: User, draft: Draft, text: str) -> Step:
        """A typed (or read from a file) answer to the current step."""
        words = self._words
        text = text.strip()
        step = draft.step
        if step == "round":
            choice = round_type(text)
            if choice is None:
                return Step((Reply(Kind.PROMPT, words.pick_round(), setup.round_options_for_steps()),))
            draft.round_type, draft.step = choice, "cv"
            await self.save(user, draft)
            return Step((self.prompt("cv"),))
        limit = FIELD_LIMITS[setup.SPEC_FIELDS[step]]
        if step in ("cv", "jd"):
            text = text[:limit]  # the rest of a long CV adds little to question planning
        elif len(text) > limit:
            return Step((Reply(Kind.NOTE, words.too_long_field(limit)),))
        if not text:
            return Step((self.prompt(step),))
        if step == "jd":
            await self._engine.clear_draft(user)  # also when the engine refuses the spec: the set-up is over
            return Step(spec=draft.finished_spec(jd=text))
        if step == "role":
            draft.role = text
        elif step == "company":
            draft.company = text
        elif step == "industry":
            draft.industry = text
        else:
            draft.cv = text
        draft.step = STEPS[STEPS.index(step) + 1]
        await self.save(user, draft)
        lead = f"{words.got_cv(len(text))}\n\n" if step == "cv" else ""
        return Step((self.prompt(draft.step, lead=lead),))

    async def choose(self, user: User, value: str) -> Step:
        """A set-up button: the default industry, a round type, or skipping the CV or job description."""
        action, _, choice = value.partition(":")
        draft = await self.load(user)
        expected = {"industry": "industry", "round": "round", "skip": choice}.get(action)
        if draft is None or draft.step != expected:
            return Step((Reply(Kind.NOTE, self._words.setup_gone()),))
        if action == "industry":
            chosen = DEFAULT_INDUSTRY
            draft.industry, draft.step = DEFAULT_INDUSTRY, "round"
        elif action == "round":
            if choice not in ROUND_TYPES:
                return Step((Reply(Kind.PROMPT, self._words.pick_round(), setup.round_options_for_steps()),))
            chosen = round_label(choice)
            draft.round_type, draft.step = choice, "cv"
        else:
            chosen = "Skipped"
            if choice == "jd":
                await self._engine.clear_draft(user)
                return Step((Reply(Kind.NOTE, f"✓ {chosen}", edit=Edit.CHOSEN),), draft.finished_spec(jd=""))
            draft.step = "jd"
        await self.save(user, draft)
        return Step((Reply(Kind.NOTE, f"✓ {chosen}", edit=Edit.CHOSEN), self.prompt(draft.step)))
