"""Block Kit: each chat Reply as mrkdwn fallback text plus blocks, and the set-up form as a modal view."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from adapters.chat import Kind, Link, Option, Reply, SetupForm, Words, split_message
from adapters.chat.text import STATE_LABELS, category_label, counts, duration, mark_unsure, shorten
from adapters.chat.words import REPORT_LABELS
from adapters.slack.parse import REPLACING, START_CALLBACK, TEAM_CALLBACK
from engine import AnswerResult, Question, Report

Block = dict[str, Any]

CHOICE_PREFIX = "chat:"  # chat buttons' action_ids (unique in a message); the value is the Option's action
# A link button opens its page in the browser; Slack still reports the click, which is only acknowledged.
LINK_ACTION = "open_link"
SETUP_CALLBACK = "interview_setup"
MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")
SECTION_LIMIT = 2900  # Slack allows 3000 characters in a section's text
FIELD_LIMIT = 1900  # and 2000 in a field
FIELDS_PER_SECTION = 10
MAX_BLOCKS = 50
MAX_BUTTONS = 25


def escape(text: str) -> str:
    """Plain text as mrkdwn: Slack reads &, < and > as markup; a user mention (<@U123>) stays one."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MENTION.sub(r"<@\1>", escaped)


def message(reply: Reply, words: Words) -> tuple[str, list[Block]]:
    """A reply as chat.postMessage / response_url arguments: its whole text (escaped), and blocks laid out by kind."""
    text = escape(reply.text)
    if reply.kind is Kind.QUESTION and reply.question is not None:
        blocks = _question(reply.question, reply.label, reply.total, reply.hint or words.answer_hint())
    elif reply.kind is Kind.ANSWER and reply.result is not None:
        blocks = [*_lead(reply), *_answer(reply.result, reply.label, reply.total, words)]
        if reply.footer:
            blocks.append(context(escape(reply.footer)))
    elif reply.kind is Kind.REPORT and reply.report is not None:
        blocks = _report(reply.report, lead=_lead(reply))
        if reply.footer:  # a team interview's ratings beside the bot's report (the candidate's private copy)
            blocks += [{"type": "divider"}, *sections(escape(reply.footer))]
    elif reply.kind is Kind.SESSIONS and reply.sessions is not None:
        blocks = [{"type": "header", "text": plain(f"🗂 {reply.sessions.title}", 150)}, *sections(text)]
        blocks.append(context(escape(words.sessions_usage())))
    else:
        blocks = sections(text)
    extra = [buttons(reply.options)] if reply.options else []
    if reply.link is not None:
        extra.append(link_button(reply.link))
    return text, [*blocks[: MAX_BLOCKS - len(extra)], *extra]


def chosen(pressed: str, reply: Reply) -> tuple[str, list[Block]]:
    """Edit.CHOSEN: the pressed message's text (as Slack sent it back, already mrkdwn) with the reply under it."""
    text = f"{pressed}\n{escape(reply.text)}" if pressed else escape(reply.text)
    return text, sections(text)[:MAX_BLOCKS]


def buttons(options: Sequence[Option]) -> Block:
    """The chat's options as one row of buttons; the pressed one comes back as its Option.action."""
    elements = []
    for number, option in enumerate(options[:MAX_BUTTONS]):
        button: Block = {
            "type": "button",
            "text": plain(option.label, 75),
            "action_id": f"{CHOICE_PREFIX}{number}",
            "value": option.action,
        }
        if option.style in ("primary", "danger"):
            button["style"] = option.style
        elements.append(button)
    return {"type": "actions", "elements": elements}


def link_button(link: Link) -> Block:
    """A row with one button that opens a web page (the report's private page) in the browser."""
    button = {"type": "button", "text": plain(link.label, 75), "url": link.url, "action_id": LINK_ACTION}
    return {"type": "actions", "elements": [{**button, "style": "primary"}]}


def sections(text: str) -> list[Block]:
    """mrkdwn sections, split where Slack's per-section limit requires."""
    return [{"type": "section", "text": mrkdwn(piece)} for piece in split_message(text, SECTION_LIMIT)]


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…", "emoji": True}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def quote(text: str) -> str:
    return "\n".join(">" + line for line in text.splitlines() or [""])


def _lead(reply: Reply) -> list[Block]:
    """Whatever the chat layer put before the structured part ("Interview ended.", "before I restarted…")."""
    return sections(escape(reply.lead)) if reply.lead else []


def _question(question: Question, label: str, total: int, hint: str) -> list[Block]:
    head = f"❓ *{Words.question_title(question, label, total)}*"
    return [*sections(f"{head}\n{quote(escape(question.text))}"), context(escape(hint))]


def _answer(result: AnswerResult, label: str, total: int, words: Words) -> list[Block]:
    """The transcript (voice answers) and the feedback on one answer."""
    answer = result.answer
    title = words.answer_title(answer.source, label, total)
    unsure = result.feedback.unsure_words if result.feedback else ()
    if answer.source == "skipped":
        head = f"⏭ *{title}*"
    elif answer.corrected:
        head = f"📝 *{title}*: now reads\n{quote(escape(answer.text))}"
    elif answer.source == "voice":
        length = f" ({duration(answer.duration)})" if answer.duration else ""
        head = f"🎙 *{title}*: I heard{length}\n{quote(escape(mark_unsure(answer.text, unsure)))}"
    else:
        head = f"✍️ *{title}*"
    blocks = sections(head)
    if unsure and answer.source == "voice" and not answer.corrected:
        blocks.append(context(escape(words.unsure_hint())))
    if result.feedback is not None:
        blocks += sections(escape(words.feedback(result.feedback)))
    if result.comparison:
        blocks += sections(escape(words.comparison(result.comparison)))
    return blocks


def _report(report: Report, *, lead: list[Block]) -> list[Block]:
    """Header, score fields, one field per question, strengths and improvements, delivery in a context line."""
    state = STATE_LABELS.get(report.status, report.status)
    label = REPORT_LABELS
    pace = f"{report.average_wpm:.0f} words/min" if report.average_wpm is not None else label["no_voice"]
    blocks: list[Block] = [
        {"type": "header", "text": plain(label["title"], 150)},
        *lead,
        *sections(f"*{escape(report.role_title)}* at *{escape(report.company_name)}* · {state}"),
        {
            "type": "section",
            "fields": [
                mrkdwn(f"*{label['overall']}*\n{report.overall_score}/100"),
                mrkdwn(f"*{label['answered']}*\n{report.answered} of {report.total}"),
                mrkdwn(f"*{label['skipped']}*\n{report.skipped}"),
                mrkdwn(f"*{label['pace']}*\n{pace}"),
            ],
        },
    ]
    if report.summary:  # the model's words ([llm]); the text form says the same
        blocks += sections(f"*Summary from the model*\n{escape(report.summary)}")
    if report.per_question:
        blocks += [{"type": "divider"}, *sections(f"*{label['per_question']}*")]
        fields = []
        for item in report.per_question:
            score = "skipped" if item.source == "skipped" or item.score is None else f"{item.score}/100"
            via = {"voice": " 🎙", "text": " ✍️"}.get(item.source, "")
            question = escape(shorten(item.question, 150))
            tries = Words.attempts(item.attempts)
            head = f"*{item.label or item.index + 1}. {category_label(item.category)}*: {score}{via}{tries}"
            fields.append(mrkdwn(f"{head}\n{question}"[:FIELD_LIMIT]))
        blocks += [
            {"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]}
            for i in range(0, len(fields), FIELDS_PER_SECTION)
        ]
    if report.strengths or report.improvements:
        blocks.append({"type": "divider"})
    if report.strengths:
        blocks += sections(f"*{label['strengths']}*\n" + "\n".join(f"• {escape(s)}" for s in report.strengths))
    if report.improvements:
        blocks += sections(f"*{label['improvements']}*\n" + "\n".join(f"• {escape(s)}" for s in report.improvements))
    delivery = [f"{label['session']} `{report.session_id}`"]
    if report.total_fillers:
        delivery.append(f"{label['fillers']}: {report.total_fillers} ({escape(counts(report.filler_breakdown))})")
    elif report.answered:
        delivery.append(f"{label['fillers']}: {label['no_fillers']}")
    if report.top_words:
        delivery.append(f"{label['most_used']}: " + escape(", ".join(f"{w} ({n})" for w, n in report.top_words)))
    blocks.append(context(" · ".join(delivery)))
    return blocks


def setup_view(form: SetupForm) -> Block:
    """The set-up modal: one input block per form field, its block id the field's key."""
    blocks: list[Block] = [context(escape(form.note))] if form.note else []
    for field in form.fields:
        element: Block
        if field.person:  # Slack's picker can't leave bots out: the submission is checked (SlackAdapter._not_a_person)
            element = {"type": "users_select", "action_id": "value"}
            if field.initial:
                element["initial_user"] = field.initial
        elif field.choices:
            options = [{"text": plain(o.label, 75), "value": o.action} for o in field.choices]
            element = {"type": "static_select", "action_id": "value", "options": options}
            initial = next((o for o in options if o["value"] == field.initial), None)
            if initial is not None:
                element["initial_option"] = initial
        else:
            element = {
                "type": "plain_text_input",
                "action_id": "value",
                "max_length": field.max_length,
                "multiline": field.multiline,
            }
            if field.placeholder:
                element["placeholder"] = plain(field.placeholder, 150)
            if field.initial:
                element["initial_value"] = field.initial
        blocks.append(
            {
                "type": "input",
                "block_id": field.key,
                "optional": field.optional,
                "label": plain(field.label, 2000),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": SETUP_CALLBACK,
        "private_metadata": REPLACING if form.replace else "",
        "title": plain(form.title, 24),
        "submit": plain(form.submit, 24),
        "close": plain(form.close, 24),
        "blocks": blocks,
    }


def team_view(form: SetupForm, *, channel: str, thread_ts: str, message_ts: str) -> Block:
    """A team interview's modal (a rating, the interviewer's own question): the set-up modal's layout, with what it
    does and where it belongs in its private metadata (see parse.team_form)."""
    meta = {"action": form.action, "channel": channel, "thread_ts": thread_ts, "message_ts": message_ts}
    return {**setup_view(form), "callback_id": TEAM_CALLBACK, "private_metadata": json.dumps(meta)}


def start_view(form: SetupForm, *, channel: str, name: str) -> Block:
    """The team interview modal of `/interview` alone in a channel: the set-up modal's layout, with the channel it
    starts in as its private metadata (see parse.start_place)."""
    meta = {"channel": channel, "name": name}
    return {**setup_view(form), "callback_id": START_CALLBACK, "private_metadata": json.dumps(meta)}
