"""Every word the bot says in a chat, in one place, with the platform's command spelling passed in.

Plain text with light emphasis (emoji, bullets) that every platform shows as is: no Markdown, no HTML. A
renderer escapes it for its platform and may lay it out richer (Slack blocks), but never rewords it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.chat.text import (
    STAR_LABELS,
    STAR_PARTS,
    STATE_LABELS,
    UNSURE_MARK,
    ago,
    category_label,
    counts,
    duration,
    limit_megabytes,
    mark_unsure,
    megabytes,
    round_label,
    shorten,
)
from engine import (
    ACTIVE,
    FOLLOW_UP,
    PART_MAX,
    AnswerResult,
    Feedback,
    InterviewSpec,
    ProgressEntry,
    Question,
    Report,
    SessionSummary,
    SessionView,
    Team,
    TeamReport,
    errors,
    on_five,
)

FIELD_LABELS = {
    "role_title": "role",
    "company_name": "company",
    "industry": "industry",
    "cv": "CV",
    "jd": "job description",
    "round_type": "round type",
    "language": "language",
    "text": "answer",
    "retry": "",
}

SORRY = "Sorry, something went wrong on my side. Please try again in a moment; your interview is safe."

STILL_OPEN = "the question is still open"
TEAM_LINE = "👥 Team on answer "  # opens the line under a team interview's answer; a reply to it comments on it
TEAM_LINE_LABEL = re.compile(re.escape(TEAM_LINE) + r"(\d{1,3}[a-z]?):")
ASK_PROMPT = "🗣 Your own question,"  # opens the message a Telegram interviewer replies to with their question
MAX_PROGRESS_LINES = 10  # /progress lists the latest interviews; the chart shows them all
# The report's headings, shared by the plain text below and the richer layouts renderers build (Slack's blocks).
REPORT_LABELS = {
    "title": "📋 Interview report",
    "overall": "Overall score",
    "answered": "Answered",
    "skipped": "Skipped",
    "pace": "Average pace",
    "no_voice": "no voice answers",
    "per_question": "Per question",
    "strengths": "💪 Strengths",
    "improvements": "🎯 To improve",
    "fillers": "Filler words",
    "no_fillers": "none 👍",
    "most_used": "Words you used most",
    "session": "Session",
}


class Words:
    """The chat's sentences, spelled for one platform: `cmd("repeat")` is "/repeat" or "/interview repeat"."""

    def __init__(self, cmd: Callable[[str], str], *, voice: str, where: str, shared: str = "group") -> None:
        self.cmd = cmd
        self.voice = voice  # what a recording is called there: "voice note", "audio clip"
        self.a_voice = f"{'an' if voice[:1] in 'aeiou' else 'a'} {voice}"
        self.where = where  # where the questions arrive: "this chat", "our direct messages"
        self.shared = shared  # where a team interview runs: "group" (Telegram), "channel" (Slack)

    # ----- questions and answers --------------------------------------------------------------------------

    @staticmethod
    def question_title(question: Question, label: str, total: int) -> str:
        """ "Question 3 of 8 (behavioural)", or "Follow-up question 3a" for one the model added after question 3."""
        if question.category == FOLLOW_UP:
            return f"Follow-up question {label}"
        return f"Question {label} of {total} ({category_label(question.category)})"

    def question(self, question: Question, label: str, total: int) -> str:
        """The question's title and the question on the next line."""
        return f"❓ {self.question_title(question, label, total)}:\n{question.text}"

    def follow_up(self, question: Question, label: str, total: int, before: str) -> str:
        """The model's follow-up, asked before the question the candidate was already sent (question `before`)."""
        return (
            f"{self.question(question, label, total)}\n\n"
            f"(One more on your last answer before question {before}, which I'll ask again after this one.)"
        )

    @staticmethod
    def spoken_title(question: Question, label: str) -> str:
        """The name of a question's voice note where a platform shows one ("Question 3, spoken")."""
        if question.category == FOLLOW_UP:
            return f"Follow-up question {label}, spoken"
        return f"Question {label}, spoken"

    def answer_hint(self) -> str:
        return f"Answer with {self.a_voice} or type your answer. {self.cmd('skip')} skips the question."

    @staticmethod
    def feedback(feedback: Feedback) -> str:
        """Score, content (off-topic, key points), pace, fillers, STAR, terms and tips: each line only when it says
        something."""
        lines = [f"Score: {feedback.score}/100"]
        if feedback.score_parts:
            parts = ", ".join(
                f"{name} {value}/{PART_MAX[name]}" if name in PART_MAX else f"{name} {value}"
                for name, value in feedback.score_parts.items()
            )
            lines[0] += f" ({parts})"
        if not feedback.on_topic and feedback.word_count and feedback.relevance:
            reason = str(feedback.relevance.get("reason", ""))
            lines.append(f"⚠️ Off-topic: {reason[:1].lower() + reason[1:]}" if reason else "⚠️ Off-topic")
        elif feedback.relevance and feedback.relevance.get("specificity") == "low" and feedback.word_count:
            reason = str(feedback.relevance.get("reason", ""))
            lines.append(f"🔎 Too general: {reason[:1].lower() + reason[1:]}" if reason else "🔎 Too general")
        if feedback.key_points and feedback.word_count:
            covered = [str(p.get("point", "")) for p in feedback.key_points if p.get("covered")]
            missed = [str(p.get("point", "")) for p in feedback.key_points if not p.get("covered")]
            if covered:
                lines.append(f"✅ You covered ({len(covered)} of {len(feedback.key_points)}): " + "; ".join(covered))
            if missed:
                lead = "➕ You could add: " if covered else "🎯 Interviewers listen for: "
                lines.append(lead + "; ".join(missed))
        if feedback.wpm is not None:
            pace = f"Pace: {feedback.wpm:.0f} words/min"
            if feedback.pace:
                pace += f" ({feedback.pace})"
            lines.append(pace)
        length = "" if feedback.length == "ok" else f" ({feedback.length})"
        lines.append(f"Length: {feedback.word_count} words{length}")
        lines.append("Filler words: " + (counts(feedback.fillers) if feedback.fillers else "none 👍"))
        if feedback.hedges:
            lines.append("Hedging: " + counts(feedback.hedges))
        if feedback.star:
            shown = [part for part in STAR_PARTS if part in feedback.star]
            marks = "  ".join(f"{'✅' if feedback.star[part] else '▫️'} {STAR_LABELS[part]}" for part in shown)
            lines.append(f"STAR: {marks}")
        if feedback.relevant_terms:
            lines.append("Job terms you used: " + ", ".join(feedback.relevant_terms))
        if feedback.unsure_words:
            lines.append("I wasn't sure I heard: " + ", ".join(feedback.unsure_words))
        if feedback.tips:
            lines.append("Tips:")
            lines.extend(f"• {tip}" for tip in feedback.tips)
        return "\n".join(lines)

    @staticmethod
    def answer_title(source: str, label: str, total: int) -> str:
        """How a reply to an answer is titled where a layout titles it: "Answer 2 of 8 (typed)"."""
        if source == "skipped":
            return f"Skipped question {label} of {total}."
        return f"Answer {label} of {total}" + (" (typed)" if source == "text" else "")

    def answer_head(self, result: AnswerResult) -> str:
        """The first lines of a reply to an answer: what was heard (words the recogniser was unsure of marked, with
        how to correct them), or that a typed answer or skip arrived."""
        answer = result.answer
        if answer.source == "skipped":
            return f"⏭ Skipped question {result.session.label(answer.index)}."
        if answer.corrected:
            return f"📝 Your answer now reads:\n“{answer.text}”"
        if answer.source == "voice":
            length = f" ({duration(answer.duration)})" if answer.duration else ""
            unsure = result.feedback.unsure_words if result.feedback else ()
            heard = f"🎙 I heard{length}:\n“{mark_unsure(answer.text, unsure)}”"
            return f"{heard}\n{self.unsure_hint()}" if unsure else heard
        return "✍️ Typed answer received."

    def unsure_hint(self) -> str:
        """Under a transcript with words marked unsure: what the mark means and how to correct them."""
        return f"{UNSURE_MARK} = I wasn't sure of that word. Misheard? Send {self.cmd('fix')} and what you said."

    @staticmethod
    def attempts(attempts: int) -> str:
        """After a report line's score: how many tries the question had, when retaken."""
        return f" (best of {attempts} attempts)" if attempts > 1 else ""

    def answer(self, result: AnswerResult) -> str:
        """What the candidate said (transcript for voice), the feedback on it, and on a retake what changed."""
        head = self.answer_head(result)
        text = head if result.feedback is None else f"{head}\n\n{self.feedback(result.feedback)}"
        if result.comparison:
            text += "\n\n" + self.comparison(result.comparison)
        return text

    @staticmethod
    def transcribing(ahead: int) -> str:
        if ahead > 0:
            return f"⏳ Transcribing… ({ahead} answer{'s' if ahead != 1 else ''} ahead of yours, hang on)"
        return "⏳ Transcribing…"

    @staticmethod
    def regraded(label: str) -> str:
        """Heads an answer's reply once the model's feedback has replaced the rules' in it."""
        return f"🔄 Answer {label}: feedback updated by the model."

    def recovered_intro(self) -> str:
        return "Here is the voice answer you sent before I restarted:"

    def recovered_error(self, problem: str) -> str:
        return f"About the voice answer you sent before I restarted: {problem}"

    # ----- reports and status -------------------------------------------------------------------------------

    @staticmethod
    def report(report: Report) -> str:
        """The end-of-interview summary: overall score, each question, strengths, improvements, delivery."""
        lines = [
            f"{REPORT_LABELS['title']}: {report.role_title} at {report.company_name}",
            f"Status: {STATE_LABELS.get(report.status, report.status)}",
            f"Overall score: {report.overall_score}/100",
            f"Answered {report.answered} of {report.total}" + (f", skipped {report.skipped}" if report.skipped else ""),
        ]
        if report.summary:
            lines += ["", f"Summary from the model: {report.summary}"]
        if report.per_question:
            lines += ["", f"{REPORT_LABELS['per_question']}:"]
            for item in report.per_question:
                score = "skipped" if item.source == "skipped" or item.score is None else f"{item.score}/100"
                via = {"voice": " 🎙", "text": " ✍️"}.get(item.source, "")
                lines.append(
                    f"{item.label or item.index + 1}. ({category_label(item.category)}) "
                    f"{shorten(item.question, 80)}: {score}{via}{Words.attempts(item.attempts)}"
                )
        if report.strengths:
            lines += ["", "Strengths:", *(f"• {s}" for s in report.strengths)]
        if report.improvements:
            lines += ["", "To improve:", *(f"• {s}" for s in report.improvements)]
        delivery = []
        if report.average_wpm is not None:
            delivery.append(f"{REPORT_LABELS['pace']}: {report.average_wpm:.0f} words/min")
        if report.total_fillers:
            delivery.append(f"{REPORT_LABELS['fillers']}: {report.total_fillers} ({counts(report.filler_breakdown)})")
        elif report.answered:
            delivery.append(f"{REPORT_LABELS['fillers']}: {REPORT_LABELS['no_fillers']}")
        if report.top_words:
            delivery.append(f"{REPORT_LABELS['most_used']}: " + ", ".join(f"{w} ({n})" for w, n in report.top_words))
        if delivery:
            lines += ["", *delivery]
        return "\n".join(lines)

    @staticmethod
    def report_link() -> str:
        """The label of the button that opens the report's private web page."""
        return "📄 Full report: charts, transcripts, recordings"

    def finished(self) -> str:
        return f"🎉 That's the end of the interview. Send {self.cmd('interview')} to practise again."

    @staticmethod
    def ended() -> str:
        return "Interview ended."

    @staticmethod
    def ended_previous(report: Report) -> str:
        return (
            f"Ended your previous interview ({report.answered} of {report.total} answered, score "
            f"{report.overall_score}/100)."
        )

    def status(self, session: SessionView, *, now: float | None = None) -> str:
        """Where an interview stands: what it is for, progress, the open question, how long since the last move."""
        now = time.time() if now is None else now
        spec = session.spec
        lines = [
            f"📌 {spec.role_title} at {spec.company_name} ({spec.industry})",
            f"Round: {round_label(spec.round_type)} · language: {spec.language}",
            f"Status: {STATE_LABELS.get(session.status, session.status)}",
            f"Progress: {session.answered_count} answered"
            + (f", {session.skipped_count} skipped" if session.skipped_count else "")
            + f" of {session.total}",
            f"Started {ago(now - session.created_at)}, last activity {ago(now - session.updated_at)}",
        ]
        if session.pending_count:
            lines.append(f"Voice answers still being processed: {session.pending_count}")
        if session.current_question is not None:
            lines.append(
                f"Waiting for your answer to question {session.current_label}. "
                f"Send {self.cmd('repeat')} to see it again."
            )
        return "\n".join(lines)

    def status_of_last(self, session: SessionView) -> str:
        return (
            "No interview running. Your last one:\n\n"
            + self.status(session)
            + f"\n\nSend {self.cmd('report')} for its report or {self.cmd('interview')} to start a new one."
        )

    def no_interviews_yet(self) -> str:
        return f"You have no interviews yet. Send {self.cmd('interview')} to start one."

    def no_report_yet(self) -> str:
        return f"You have no interviews yet, so there's no report. Send {self.cmd('interview')} to start."

    def current_question(self, session: SessionView) -> str:
        """The question the session is waiting for, numbered; or a note that it is finished."""
        question = session.current_question
        if question is None:
            return f"This interview is finished. Send {self.cmd('report')} for the report."
        return self.question(question, session.current_label, session.planned)

    # ----- starting -----------------------------------------------------------------------------------------------

    def welcome(self) -> str:
        return (
            "👋 Hi! I'm a mock-interview coach.\n\n"
            f"Send {self.cmd('interview')} and I'll ask a few questions about the role you want. Answer each one "
            f"with {self.a_voice} (or type it); I'll transcribe it, tell you what went well and what to work on, "
            f"and give you a report at the end. Send {self.cmd('help')} for all commands."
        )

    def help(self) -> str:
        """The commands, one line each, in the platform's spelling."""
        c = self.cmd
        return "\n".join(
            [
                f"🎤 Mock interview coach: I ask interview questions, you answer with {self.a_voice} (or by typing), "
                "and I give feedback on each answer and a report at the end.",
                "",
                f"{c('interview')}: set up and start an interview (or in one line: {c('interview')} Senior Backend "
                "Engineer at TechCorp (Technology) technical)",
                f"{c('status')}: where your interview stands",
                f"{c('repeat')}: show the current question again",
                f"{c('skip')}: skip the current question",
                f"{c('retry')}: transcribe your last voice answer again after a failure",
                f"{c('retake')} [number]: answer a question again (default your last) and compare the two",
                f"{c('fix')} <what you said>: correct what I heard in your last answer",
                f"{c('end')}: end the interview now and get the report",
                f"{c('report')}: the report of your latest interview, with a chart ({c('report')} team: of your latest "
                "team interview)",
                f"{c('progress')}: your finished interviews over time, with a chart",
                f"{c('language')} [code]: the language your voice answers are transcribed in "
                f"(e.g. {c('language')} en-us)",
                f"{c('voice')} on|off: hear each question as {self.a_voice} too, or read it only",
                f"{c('forget')}: delete all your interviews and recordings",
                f"{c('cancel')}: stop a set-up in progress",
                f"{c('help')}: this list",
                "",
                f"👥 With your team: add me to a {self.shared} and send {c('interview')} there; teammates watch, "
                "comment and rate each answer beside my score.",
            ]
        )

    def one_line_usage(self, round_types: Sequence[str]) -> str:
        return (
            f"I couldn't read that. Use it like this: {self.cmd('interview')} Senior Backend Engineer at TechCorp "
            "(Technology) technical\n"
            f"The industry in brackets and the round type at the end are optional ({', '.join(round_types)}). "
            f"Or send just {self.cmd('interview')} for a guided set-up."
        )

    @staticmethod
    def intro(spec: InterviewSpec, total: int) -> str:
        return (
            f"✅ Your interview is ready: {spec.role_title} at {spec.company_name} ({spec.industry})\n"
            f"Round: {round_label(spec.round_type)} · {total} questions"
        )

    def intro_hint(self) -> str:
        return (
            f"Answer each question with {self.a_voice} or type your answer. Send {self.cmd('repeat')} to see the "
            f"question again, {self.cmd('skip')} to skip it, {self.cmd('end')} to finish early."
        )

    def started_elsewhere(self) -> str:
        return f"Your interview has started in {self.where}. Good luck!"

    @staticmethod
    def in_progress(session: SessionView | None) -> str:
        if session is None:
            return "You already have an interview in progress. Resume it, or end it and start a new one?"
        spec = session.spec
        return (
            f"You already have an interview in progress: {spec.role_title} at {spec.company_name}, question "
            f"{session.current_label} of {session.planned}. Resume it, or end it and start a new one?"
        )

    @staticmethod
    def resuming() -> str:
        return "▶️ Resuming your interview."

    @staticmethod
    def already_ended() -> str:
        return "That interview had already ended."

    def setup_intro(self, *, replacing: bool = False) -> str:
        head = "Let's set up the new one" if replacing else "Let's set up your mock interview"
        return f"{head} (send {self.cmd('cancel')} to stop)."

    @staticmethod
    def setup_step(step: str) -> str:
        return SETUP_PROMPTS[step]

    @staticmethod
    def finish_setup_first(step: str) -> str:
        return "Let's finish setting up first. " + SETUP_PROMPTS[step]

    def setup_gone(self) -> str:
        return f"That set-up has expired (or moved on). Send {self.cmd('interview')} to start again."

    def setup_cancelled(self) -> str:
        return f"Set-up cancelled. Send {self.cmd('interview')} whenever you want to start."

    def nothing_to_cancel(self) -> str:
        return f"There's no set-up to cancel. To stop a running interview, send {self.cmd('end')}."

    @staticmethod
    def pick_round() -> str:
        return "Please pick the round type with one of the buttons (or type full, screening, behavioral or technical)."

    @staticmethod
    def too_long_field(limit: int) -> str:
        return f"That's too long (at most {limit} characters). Please shorten it."

    @staticmethod
    def got_cv(characters: int) -> str:
        return f"Got your CV ({characters} characters)."

    @staticmethod
    def document_types() -> str:
        return "Please send a .txt or .pdf file, or paste the text."

    @staticmethod
    def document_empty() -> str:
        return "I couldn't find any text in that file (a scanned PDF has none). Please paste the text instead."

    def documents_only_in_setup(self) -> str:
        return (
            "I read documents only while setting up an interview (your CV or the job description). "
            f"To answer a question, send {self.a_voice} or type your answer."
        )

    # ----- commands ------------------------------------------------------------------------------------------------

    def unknown_command(self, name: str) -> str:
        return f"I don't know {self.cmd(name)}. Send {self.cmd('help')} to see what I can do."

    def unsupported(self, what: str, *, step: str | None, interviewing: bool) -> str:
        if step is not None:
            hint = self.finish_setup_first(step)
        elif interviewing:
            hint = f"To answer, send {self.a_voice} or type your answer."
        else:
            hint = (
                f"Send {self.cmd('interview')} to start a mock interview, or {self.cmd('help')} to see what I can do."
            )
        return f"I can't use {what}. {hint}"

    def private_only(self) -> str:
        return f"I run interviews in private chats only: open a chat with me and send {self.cmd('interview')}."

    @staticmethod
    def edits_ignored() -> str:
        return "I use messages as first sent, so that edit didn't change anything."

    def nothing_to_retry(self, session: SessionView) -> str:
        return "There's no failed voice answer to retry. " + self.current_question(session)

    def language_default(self, default: str) -> str:
        return (
            f"New interviews transcribe voice answers as '{default}'. Start one with {self.cmd('interview')}, then "
            f"change its language with {self.cmd('language')} <code> (e.g. {self.cmd('language')} en-us)."
        )

    def language_current(self, language: str, *, available: bool) -> str:
        missing = "" if available else " (no speech model installed for it)"
        return (
            f"Voice answers in this interview are transcribed as '{language}'{missing}. "
            f"Change it with {self.cmd('language')} <code>, e.g. {self.cmd('language')} en-us."
        )

    def language_usage(self) -> str:
        return f"Send one language code, e.g. {self.cmd('language')} en-us or {self.cmd('language')} ko."

    @staticmethod
    def language_set(language: str, *, available: bool) -> str:
        text = f"Done: voice answers are now transcribed as '{language}'."
        if not available:
            text += " There's no speech model for it installed, so please type your answers (or pick another)."
        return text

    def voice_usage(self) -> str:
        c = self.cmd
        return f"Send {c('voice')} on or {c('voice')} off (or just {c('voice')} to see how it is set)."

    def voice_no_interview(self, *, installed: bool) -> str:
        if not installed:
            return "Questions come as text only here: no voice is installed to speak them."
        return (
            f"Spoken questions are set per interview: each question also comes as {self.a_voice}. Start one with "
            f"{self.cmd('interview')}, then send {self.cmd('voice')} off if you'd rather only read them."
        )

    def voice_current(self, on: bool, *, installed: bool) -> str:
        c = self.cmd
        if not installed:
            return "Questions come as text only here: no voice is installed to speak them."
        if on:
            return f"Each question also comes as {self.a_voice}. Send {c('voice')} off to only read them."
        return f"Questions come as text only. Send {c('voice')} on to hear each one as {self.a_voice} too."

    def voice_set(self, on: bool, *, installed: bool) -> str:
        if not on:
            return f"Done: questions come as text only now. Send {self.cmd('voice')} on to hear them again."
        if not installed:
            return "Done, but no voice is installed to speak the questions, so they still come as text only."
        return f"Done: from the next question on, each one also comes as {self.a_voice}."

    @staticmethod
    def forget_confirm() -> str:
        return (
            "This deletes all your interviews, answers, reports and recordings, team interviews you were the candidate "
            "of included, and your ratings and comments in teammates' interviews. It can't be undone. Are you sure?"
        )

    @staticmethod
    def forgotten(count: int) -> str:
        return f"Done: deleted {count} interview{'s' if count != 1 else ''} and all recordings of you."

    @staticmethod
    def nothing_deleted() -> str:
        return "Nothing was deleted."

    def stale_button(self) -> str:
        return f"That button no longer works. Send {self.cmd('help')} to see what I can do."

    def next_step_elsewhere(self) -> str:
        return f"Done. The next step is in {self.where_thread()}."

    def question_elsewhere(self, label: str) -> str:
        return f"Question {label} is waiting in {self.where_thread()}."

    def report_elsewhere(self) -> str:
        return f"Your report is in {self.where_thread()}."

    def where_thread(self) -> str:
        return "our interview thread"

    # ----- admins ----------------------------------------------------------------------------------------------

    def admins_only(self) -> str:
        return f"Sorry, {self.cmd('sessions')} is only for the bot's admins."

    def sessions_usage(self) -> str:
        c = self.cmd
        return f"Use {c('sessions')}, {c('sessions')} all or {c('sessions')} stale."

    @staticmethod
    def sessions(
        rows: Sequence[SessionSummary],
        *,
        title: str,
        offset: int = 0,
        total: int | None = None,
        now: float | None = None,
    ) -> str:
        """The admin table: one line per session (who, role, progress, last activity, stale flag)."""
        now = time.time() if now is None else now
        total = len(rows) if total is None else total
        if not rows:
            return f"{title}: none."
        shown = f"{offset + 1}-{offset + len(rows)} of {total}" if total > len(rows) else str(total)
        lines = [f"{title} ({shown}):"]
        for number, row in enumerate(rows, start=offset + 1):
            who = f"{row.name} ({row.platform}:{row.user_id})" if row.name else f"{row.platform}:{row.user_id}"
            parts = [
                who,
                f"{shorten(row.role_title, 40)} at {shorten(row.company_name, 30)}",
                row.round_type,
                f"{row.answered}/{row.total} answered",
                f"last active {ago(now - row.updated_at)}",
            ]
            if row.place or row.candidate:  # a team interview: where it runs, for whom, how many rated
                rated = f"{row.raters} teammate{'s' if row.raters != 1 else ''} rated"
                candidate = f"{row.candidate_name} ({row.candidate})" if row.candidate_name else row.candidate
                parts.insert(1, f"team interview in {row.place or 'a shared space'} for {candidate} · {rated}")
            if row.status != ACTIVE:
                parts.append(row.status)
            if row.stale:
                parts.append("⚠️ stale")
            lines.append(f"{number}. " + " · ".join(parts))
        return "\n".join(lines)

    # ----- problems ----------------------------------------------------------------------------------------------

    @staticmethod
    def too_big(size: int, limit: int) -> str:
        return (
            f"That file is {megabytes(size)}; I can take files up to {limit_megabytes(limit)}. "
            f"Please send a shorter one; {STILL_OPEN}."
        )

    def too_many_waiting(self, waiting: int) -> str:
        return (
            f"You already have {waiting} voice answers waiting for me. I'll answer those in order; please send this "
            "one again once they're done."
        )

    def download_failed(self, platform: str) -> str:
        return f"I couldn't download that file from {platform}. Please send it again."

    # ----- practising again ------------------------------------------------------------------------------------

    def retake_started(self, label: str, previous_score: int | None, *, finished: bool = False) -> str:
        before = f" Your last attempt scored {previous_score}/100." if previous_score is not None else ""
        after = (
            f" Your finished interview reopens for this one answer; then its report is brought up to date "
            f"({self.cmd('end')} leaves it as it was)."
            if finished
            else ""
        )
        return f"🔁 Question {label} again.{before} Answer it once more and I'll compare the two.{after}"

    def retake_nothing_yet(self) -> str:
        return f"There's nothing to retake yet: answer a question first, then send {self.cmd('retake')}."

    def retake_unknown(self, label: str) -> str:
        return (
            f"There's no question {label} in this interview. Send {self.cmd('retake')} for your last answer, "
            f"or {self.cmd('retake')} followed by the number of a question you've answered."
        )

    def retake_refused(self, label: str, why: str) -> str:
        if "being processed" in why:
            return "A voice answer of yours is still being processed. Try the retake again once its feedback is in."
        return f"Question {label} hasn't been answered yet, so there's nothing to retake. Answer it first."

    def fix_usage(self) -> str:
        return (
            f"Send {self.cmd('fix')} followed by what you actually said, e.g. “{self.cmd('fix')} I led the "
            "migration to PostgreSQL”. It replaces the transcript of your last answer and judges it again; "
            "pace and pauses stay as your recording showed them."
        )

    def fix_nothing_yet(self) -> str:
        return "There's no answer to correct yet."

    @staticmethod
    def fixed(label: str, original: str, source: str) -> str:
        before = "I had heard" if source == "voice" else "You had typed"
        return f"✏️ Answer {label} corrected ({before}: “{shorten(original, 200)}”). Judged again on your words:"

    @staticmethod
    def comparison(comparison: Mapping[str, Any]) -> str:
        """How a retake compares with the attempt before: only the figures both attempts have."""

        def change(name: str, key: str, unit: str = "") -> str | None:
            pair = comparison.get(key) or {}
            before, after = pair.get("before"), pair.get("after")
            if before is None or after is None:
                return None
            return f"{name}: {before:.0f}{unit} → {after:.0f}{unit}"

        score = comparison.get("score") or {}
        before, after = score.get("before"), score.get("after")
        head = f"📈 Compared with attempt {comparison.get('previous_attempt', 1)}: "
        if before is None:
            head += f"score {after}/100 (you skipped it before)"
        else:
            delta = (after or 0) - before
            head += f"score {before} → {after} ({delta:+d})"
        lines = [head]
        parts = comparison.get("parts") or {}
        shown = [
            f"{name} {pair['before']}→{pair['after']}"
            for name, pair in parts.items()
            if pair.get("before") is not None and pair.get("after") is not None
        ]
        if shown:
            lines.append("Parts: " + ", ".join(shown))
        for line in (
            change("Filler words", "fillers"),
            change("Long pauses", "pauses"),
            change("Pace", "wpm", " wpm"),
        ):
            if line:
                lines.append(line)
        gained = comparison.get("key_points_gained") or []
        dropped = comparison.get("key_points_dropped") or []
        if gained:
            lines.append("➕ Newly covered: " + "; ".join(gained))
        if dropped:
            lines.append("➖ No longer covered: " + "; ".join(dropped))
        return "\n".join(lines)

    def no_progress_yet(self) -> str:
        return f"No finished interview yet. Finish one (or {self.cmd('end')} it) to start your progress line."

    @staticmethod
    def progress(entries: Sequence[ProgressEntry]) -> str:
        """The candidate's finished interviews, oldest first, and the change since the first."""
        lines = [f"📊 Your progress over {len(entries)} interview{'s' if len(entries) != 1 else ''}:"]
        for entry in entries[-MAX_PROGRESS_LINES:]:
            when = time.strftime("%Y-%m-%d", time.gmtime(entry.finished_at))
            figures = [f"{entry.score}/100"]
            if entry.wpm is not None:
                figures.append(f"{entry.wpm:.0f} wpm")
            if entry.fillers_per_100 is not None:
                figures.append(f"{entry.fillers_per_100:g} fillers/100 words")
            if entry.coverage is not None:
                figures.append(f"{entry.coverage:.0%} key points")
            lines.append(f"• {when} · {entry.role_title} at {entry.company_name}: " + " · ".join(figures))
        if len(entries) > 1:
            first, last = entries[0], entries[-1]
            lines.append(f"Score since your first: {first.score} → {last.score} ({last.score - first.score:+d})")
        return "\n".join(lines)

    @staticmethod
    def progress_chart_title() -> str:
        return "Your progress over time"

    @staticmethod
    def report_chart_title() -> str:
        return "Your interview in a chart"

    def error(self, exc: errors.EngineError) -> str:
        """Friendly words for each engine error; unknown codes get a polite generic apology."""
        c = self.cmd
        if isinstance(exc, errors.InvalidInput):
            problems = "; ".join(
                f"{FIELD_LABELS.get(name, name)} {problem}".strip() for name, problem in exc.fields.items()
            )
            return f"That didn't work: {problems or exc.message}."
        if isinstance(exc, errors.AudioTooLarge) and exc.size_bytes and exc.limit_bytes:
            return self.too_big(exc.size_bytes, exc.limit_bytes)
        if isinstance(exc, errors.AudioTooLong) and exc.seconds and exc.limit_seconds:
            return (
                f"That recording is {duration(exc.seconds)} long; I can take up to {duration(exc.limit_seconds)}. "
                f"Please keep your answer shorter; {STILL_OPEN}."
            )
        if isinstance(exc, errors.ShuttingDown) and not exc.saved:
            return (
                "I'm restarting right now. Your earlier voice answer is saved and I'll reply to it as soon as I'm "
                "back; please send this answer again then."
            )
        if isinstance(exc, errors.TooManySessions) and exc.limit and exc.retry_after is not None:
            return (
                f"You've started {exc.limit} interviews in the last 24 hours, which is the daily limit. You can start "
                f"the next one in {errors.about(exc.retry_after)}; {c('report')} shows your latest report meanwhile."
            )
        if isinstance(exc, errors.SpeechUnavailable):
            language = f" in '{exc.language}'" if exc.language else ""
            return (
                f"Voice answers{language} aren't available right now (no speech model is installed). Please type "
                f"your answer instead, or pick another language with {c('language')}."
            )
        words = {
            "session_not_found": f"There's no interview running. Send {c('interview')} to start one.",
            "session_in_progress": "You already have an interview in progress. Resume it or end it first.",
            "session_conflict": "A session with that id already exists with different settings.",
            "no_answer_yet": "There's no answer to work on yet: answer a question first.",
            "session_changed": "Your interview changed elsewhere at that very moment. Please send that again.",
            "question_not_found": f"That question hasn't been asked yet. Send {c('repeat')} to see the current one.",
            "session_completed": f"That interview is already finished. Send {c('report')} for its report or "
            f"{c('interview')} to start a new one.",
            "audio_error": f"I couldn't use that audio. Please record your answer again; {STILL_OPEN}.",
            "audio_invalid": "I couldn't read that audio (the file may be damaged or not audio at all). Please "
            f"record a new {self.voice}; {STILL_OPEN}.",
            "audio_empty": f"That recording was empty. Please record your answer again; {STILL_OPEN}.",
            "audio_too_large": f"That recording is too large. Please keep your answer shorter; {STILL_OPEN}.",
            "audio_too_long": f"That recording is too long. Please keep your answer shorter; {STILL_OPEN}.",
            "audio_silent": "I couldn't hear anything in that recording. Check your microphone and try again; "
            f"{STILL_OPEN}.",
            "transcription_failed": f"Speech recognition failed this time. Your recording is kept: send {c('retry')} "
            "to try it again, or type your answer.",
            "too_many_sessions": "You've started as many interviews as I can run for one person in a day. Please "
            f"try again later; {c('report')} shows your latest report meanwhile.",
            "not_allowed": "That isn't yours to do in this interview.",
            "shutting_down": "I'm restarting right now. Your answer is saved, and I'll send the feedback as soon as "
            "I'm back.",
        }
        return words.get(exc.code, SORRY)


SETUP_PROMPTS = {
    "role": "Step 1 of 6: What role are you interviewing for? (e.g. Senior Backend Engineer)",
    "company": "Step 2 of 6: Which company? (e.g. TechCorp)",
    "industry": "Step 3 of 6: Which industry is it in? Type it, or tap General.",
    "round": "Step 4 of 6: Which kind of round do you want to practise?",
    "cv": "Step 5 of 6 (optional): your CV. Paste it, or send it as a .txt or .pdf file; it lets me ask about "
    "your experience. Or tap Skip.",
    "jd": "Step 6 of 6 (optional): the job description. Paste it, or send it as a .txt or .pdf file. Or tap Skip.",
}


Mention = Callable[[str, str], str]  # (platform user id, name) -> how to name a person there ("<@U123>", "Ana")


class TeamWords:
    """Every word of a team interview in a shared space: invitation, roles, ratings, comments, the team report."""

    def __init__(self, cmd: Callable[[str], str], mention: Mention, *, voice: str, forms: bool) -> None:
        self.cmd = cmd
        self.mention = mention
        self.voice = voice
        self.forms = forms  # ratings and own questions come through forms (Slack) or buttons and commands (Telegram)

    def candidate_of(self, team: Team) -> str:
        return self.mention(team.candidate, team.candidate_name)

    def invite(self, spec: InterviewSpec, team: Team) -> str:
        who = self.candidate_of(team)
        by = f", run by {self.mention(team.interviewer, team.interviewer_name)}" if team.interviewer else ""
        return (
            f"🎤 Team mock interview for {who}{by}: {spec.role_title} at {spec.company_name} ({spec.industry})\n"
            f"Round: {round_label(spec.round_type)}\n"
            "👀 Everyone here can see this interview: the questions, the answers (transcripts included), the "
            "feedback and the ratings.\n"
            f"{who}, press Start when you're ready; nothing is asked before that."
        )

    def how_it_works(self, team: Team) -> str:
        answer = "in this thread" if self.forms else "as a reply to the question"
        rate = "the Rate button under each answer" if self.forms else "the 1-5 buttons under each answer"
        return (
            f"{self.candidate_of(team)} answers {answer}, with {'an' if self.voice[:1] in 'aeiou' else 'a'} "
            f"{self.voice} or by typing. Everyone else's messages here are comments on the latest answer, and "
            f"anyone but the candidate can rate each answer with {rate}."
        )

    def accepted(self, team: Team) -> str:
        return f"✅ {self.candidate_of(team)} accepted. Here we go!"

    def declined(self, team: Team) -> str:
        return f"👋 {self.candidate_of(team)} would rather not right now. No problem: maybe another time."

    def withdrawn(self, team: Team) -> str:
        return f"👋 {self.mention(team.interviewer, team.interviewer_name)} withdrew the invitation. Nothing was asked."

    def called_off(self, team: Team, by: str) -> str:
        """An invitation ended before Start: declined by the candidate, or withdrawn by the interviewer."""
        return self.declined(team) if by == team.candidate else self.withdrawn(team)

    @staticmethod
    def already_running() -> str:
        return "An interview is already running here. End it first (the End button under its question)."

    def usage(self) -> str:
        c = self.cmd("interview")
        if self.forms:
            return (
                f"To run a team interview here: {c} @candidate Senior Backend Engineer at TechCorp, or {c} Role at "
                "Company for yourself. The industry in brackets and the round type at the end are optional."
            )
        return (
            f"To run a team interview here: reply to a member's message with {c} Senior Backend Engineer at TechCorp "
            f"to interview them, or send {c} Role at Company to be interviewed yourself."
        )

    @staticmethod
    def start_form_title() -> str:
        return "Team interview"

    @staticmethod
    def start_submit() -> str:
        return "Post the invitation"

    @staticmethod
    def candidate_label() -> str:
        return "Candidate (you, unless you pick someone)"

    @staticmethod
    def industry_label() -> str:
        return "Industry (optional)"

    def start_form_note(self, place: str) -> str:
        return (
            f"👀 The interview will be visible to everyone in {place or 'this channel'}: the questions, the answers "
            "(transcripts included), the feedback and the ratings. No CV or job description here; to practise "
            f"privately, with them, send {self.cmd('interview')} in a direct message with me."
        )

    @staticmethod
    def pick_candidate() -> str:
        return "Please pick the candidate."

    @staticmethod
    def not_a_person() -> str:
        return "Please pick a person: a bot or an app can't be interviewed."

    @staticmethod
    def not_member(channel: str) -> str:
        return (
            f"I'm not in {channel or 'this channel'} yet, so I can't post the interview there. Add me first: "
            "type /invite @Interview Coach in the channel (or open the channel's details → Integrations → Add apps), "
            "then run the command again."
        )

    @staticmethod
    def only_in_thread() -> str:
        return "In a channel, team interviews are run with the buttons in their thread."

    @staticmethod
    def question_buttons_hint(team: Team) -> str:
        return "Interviewer: Skip, Ask my own question or End below." if team.interviewer else ""

    def answer_hint(self, team: Team) -> str:
        where = "in this thread" if self.forms else "by replying to this question"
        return f"{self.candidate_of(team)}: answer {where}, with your {self.voice} or by typing."

    @staticmethod
    def team_line(label: str, count: int, average: float | None) -> str:
        """Under an answer's feedback: how the team rated it so far (and which answer it is, for a reply to it)."""
        if not count or average is None:
            return f"{TEAM_LINE}{label}: no ratings yet."
        return f"{TEAM_LINE}{label}: {count} rating{'s' if count != 1 else ''}, average {average:.1f}/5"

    @staticmethod
    def answer_quoted(text: str) -> str | None:
        """The label of the answer whose message `text` is (its team line names it), or None."""
        found = TEAM_LINE_LABEL.findall(text)
        return found[-1] if found else None

    @staticmethod
    def rated(overall: float, replaced: bool) -> str:
        return f"{'Updated your' if replaced else 'Thanks! Your'} rating: {overall:.1f}/5."

    @staticmethod
    def rate_title(label: str) -> str:
        return f"Rate answer {label}"

    @staticmethod
    def rate_note(question: str) -> str:
        return f"1 = weak, 5 = excellent. The question: {shorten(question, 300)}"

    @staticmethod
    def ask_title() -> str:
        return "Ask my own question"

    @staticmethod
    def ask_note() -> str:
        return "It is asked next, before the question waiting now, and judged with the generic rubric."

    def ask_how(self) -> str:
        return f"Send {self.cmd('ask')} followed by your question; it is asked next."

    @staticmethod
    def ask_prompt(mention: str) -> str:
        """Where there are no forms: the message the interviewer answers, by replying, with their own question."""
        return f"{ASK_PROMPT} {mention}, reply to this message with it. It is asked next, before the waiting question."

    @staticmethod
    def is_ask_prompt(text: str) -> bool:
        return text.startswith(ASK_PROMPT)

    @staticmethod
    def own_question_intro(team: Team, mention: str) -> str:
        return f"🗣 {mention} asks their own question:"

    @staticmethod
    def refusal(reason: str) -> str:
        return {
            "not_candidate": "Only the candidate can do that.",
            "not_interviewer": "Only the interviewer can do that.",
            "not_runner": "Only the interviewer or the candidate can do that.",
            "accepted": "The interview has started: end it with End under its question.",
            "own_answer": "You can't rate your own answer; your teammates will.",
            "no_answer": "That answer hasn't been given yet, so it can't be rated.",
            "not_accepted": "The interview starts when the candidate presses Start.",
        }.get(reason, "That is not yours to do in this interview.")

    @staticmethod
    def bad_button() -> str:
        return "That button isn't one of this interview's."

    @staticmethod
    def no_interview() -> str:
        return "This interview is no longer running."

    def hello_group(self) -> str:
        """When the bot is added to a group or channel: what it does there, and where answers and comments go."""
        if self.forms:
            how = f"Each interview runs in its own thread: the candidate answers there (an {self.voice} or text), and "
            how += "teammates comment there too."
        else:  # a Telegram bot in privacy mode sees only commands and replies to its own messages
            how = f"The candidate answers by replying to my question (a {self.voice} or text); teammates comment by "
            how += "replying to my messages."
        return (
            f"👋 Hi! I run mock interviews where the team can watch, comment and rate each answer. {self.usage()}\n"
            f"{how} Private practice stays in a private chat with me ({self.cmd('interview')} there)."
        )

    @staticmethod
    def moved() -> str:
        return "🔁 This group became a supergroup: the interview carries on here, from the question below."

    def none_running_here(self) -> str:
        """A command in a group that holds no interview (/help, /start when the bot was just added)."""
        return f"No interview is running here. {self.usage()}"

    def ended_by(self, mention: str) -> str:
        return f"Interview ended by {mention}."

    def report(self, team_report: TeamReport) -> str:
        """The team's side of the report: per answer the bot's score beside the team's, comments, disagreements."""
        lines = [f"👥 Team ratings ({team_report.raters} teammate{'s' if team_report.raters != 1 else ''} rated)"]
        team_overall = f"{team_report.team_overall:.1f}/5" if team_report.team_overall is not None else "no ratings"
        lines.append(
            f"Overall: the bot {team_report.bot_overall}/100 ({on_five(team_report.bot_overall):.1f}/5) · "
            f"the team {team_overall}"
        )
        for line in team_report.lines:
            lines.append("")
            lines.append(f"{line.label}. {shorten(line.question, 80)}")
            if line.bot_score is None:
                lines.append("   Skipped.")
                continue
            team = line.team
            team_part = f"the team {team.overall:.1f}/5 ({team.count})" if team.overall is not None else "not rated"
            lines.append(f"   The bot {line.bot_score}/100 ({line.bot_on_five:.1f}/5) · {team_part}")
            parts = [
                f"{name} {value:.1f}"
                for name, value in (
                    ("content", team.content),
                    ("structure", team.structure),
                    ("delivery", team.delivery),
                )
                if value is not None
            ]
            if parts:
                lines.append("   " + ", ".join(parts))
            for rating in line.rating_comments:
                lines.append(f"   💬 {self.mention(rating.rater, rating.rater_name)}: {rating.comment}")
            for comment in line.comments:
                said = "(a voice note)" if comment.voice and not comment.text else comment.text
                lines.append(f"   💬 {self.mention(comment.author, comment.author_name)}: {shorten(said, 300)}")
        wide = team_report.disagreements
        if wide:
            lines += ["", "Where the team and the bot disagree most:"]
            for line in wide:
                gap = line.gap or 0.0
                side = "the team liked it more" if gap > 0 else "the bot liked it more"
                lines.append(f"• Answer {line.label}: {abs(gap):.1f} points apart ({side})")
        return "\n".join(lines)

    @staticmethod
    def private_report_intro(place: str) -> str:
        where = f" in {place}" if place else ""
        return f"📬 Your full report from the team interview{where}, for you only:"

    def private_report_undelivered(self, candidate: str, name: str) -> str:
        return (
            f"📬 {self.mention(candidate, name)}, I couldn't send you your full report privately: you haven't started "
            "a chat with me yet. Start one with the button below and it's there for you."
        )

    @staticmethod
    def private_report_sent() -> str:
        return "📬 The candidate gets the full report privately too."
