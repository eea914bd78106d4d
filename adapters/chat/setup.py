"""Setting up an interview: the fields, the step-by-step draft, and reading a CV or job description file.

Surfaces with forms (Slack's modal) ask every field at once; the others ask one step at a time, keeping the
answers so far as a draft in the engine's store, so a restart in the middle of setting up loses nothing. A
draft untouched for DRAFT_TTL_SECONDS is ignored and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from adapters.chat.parse import DEFAULT_INDUSTRY, DEFAULT_ROUND, round_type
from adapters.chat.replies import FormField, Option, SetupForm
from adapters.chat.text import round_label
from engine import FIELD_LIMITS, ROUND_TYPES, InterviewSpec

logger = logging.getLogger(__name__)

DRAFT_TTL_SECONDS = 24 * 3600
STEPS = ("role", "company", "industry", "round", "cv", "jd")
CONFIRM = "confirm"  # not a step: a finished spec waiting for "End it and start new"
# Slack caps a form's text input at 3000 characters; the start of a CV or JD is what tailors the questions.
FORM_TEXT_LIMIT = 3000
SPEC_FIELDS = {"role": "role_title", "company": "company_name", "industry": "industry", "cv": "cv", "jd": "jd"}
MAX_PDF_PAGES = 50
# The most a CV or job description keeps (FIELD_LIMITS); reading a file stops there.
MAX_DOCUMENT_CHARS = max(FIELD_LIMITS["cv"], FIELD_LIMITS["jd"])
# A PDF is untrusted input to a pure-Python parser: it is read in a child process that is killed after this
# long (counted from the upload's arrival, queueing included) and may not grow past PDF_MEMORY_BYTES. A thread
# could be abandoned but never stopped, and would keep a crafted file's endless loop running.
PDF_TIMEOUT_SECONDS = 15.0
PDF_MEMORY_BYTES = 1024 * 1024 * 1024
# PDFs wait for these two threads, never for the default pool that the engine's store calls share.
_DOCUMENT_READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="document-reader")


def round_options() -> tuple[Option, ...]:
    """The round types as buttons; the action is the value a form or a Choice sends back."""
    return tuple(Option(round_label(r), r) for r in ROUND_TYPES)


def round_options_for_steps() -> tuple[Option, ...]:
    """The round types as buttons of the step-by-step set-up (their actions come back as Choices)."""
    return tuple(Option(round_label(r), f"w:round:{r}") for r in ROUND_TYPES)


def setup_form(*, replace: bool = False) -> SetupForm:
    """The whole set-up as one form (Slack's modal)."""
    return SetupForm(
        title="Mock interview",
        replace=replace,
        note="⚠️ Starting this ends your current interview (its report stays available)." if replace else "",
        fields=(
            FormField("role", "Role", FIELD_LIMITS["role_title"], placeholder="Senior Backend Engineer"),
            FormField("company", "Company", FIELD_LIMITS["company_name"], placeholder="TechCorp"),
            FormField("industry", "Industry", FIELD_LIMITS["industry"], initial=DEFAULT_INDUSTRY),
            FormField("round", "Round", 20, initial=DEFAULT_ROUND, choices=round_options()),
            FormField(
                "cv",
                "Your CV (optional)",
                FORM_TEXT_LIMIT,
                placeholder="Paste your CV or a summary of your experience",
                optional=True,
                multiline=True,
            ),
            FormField(
                "jd",
                "Job description (optional)",
                FORM_TEXT_LIMIT,
                placeholder="Paste the job description",
                optional=True,
                multiline=True,
            ),
        ),
    )


def spec_from_form(values: Mapping[str, str]) -> tuple[InterviewSpec, dict[str, str]]:
    """A submitted form as a spec, plus problems per field key in words shown under the inputs."""
    value = {key: " ".join((values.get(key) or "").split()) for key in ("role", "company", "industry", "round")}
    problems = {}
    if not value["role"]:
        problems["role"] = "Please enter the role you are interviewing for."
    if not value["company"]:
        problems["company"] = "Please enter the company."
    chosen = round_type(value["round"]) if value["round"] else DEFAULT_ROUND
    if chosen is None:
        problems["round"] = "Please pick one of the round types."
    spec = InterviewSpec(
        role_title=value["role"],
        company_name=value["company"],
        industry=value["industry"] or DEFAULT_INDUSTRY,
        cv=(values.get("cv") or "").strip()[: FIELD_LIMITS["cv"]],
        jd=(values.get("jd") or "").strip()[: FIELD_LIMITS["jd"]],
        round_type=chosen or DEFAULT_ROUND,
    )
    return spec, problems


@dataclass
class Draft:
    """A half-finished step-by-step set-up, kept by the engine between messages."""

    step: str  # one of STEPS, or CONFIRM: `spec` waits for the "End it and start new" button
    touched: float  # when it last changed, for DRAFT_TTL_SECONDS
    role: str = ""
    company: str = ""
    industry: str = ""
    round_type: str = DEFAULT_ROUND
    cv: str = ""
    spec: InterviewSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the engine's draft store."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "spec"}
        data["spec"] = self.spec.to_dict() if self.spec is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draft:
        """Back from the store; ValueError/TypeError for a draft this version cannot use."""
        names = {f.name for f in fields(cls)} - {"spec"}
        spec = data.get("spec")
        draft = cls(
            **{name: data[name] for name in names if name in data},
            spec=InterviewSpec.from_dict(spec) if spec is not None else None,
        )
        if draft.step not in (*STEPS, CONFIRM) or not isinstance(draft.touched, int | float):
            raise ValueError(f"not a set-up draft: step={draft.step!r} touched={draft.touched!r}")
        return draft

    def finished_spec(self, jd: str) -> InterviewSpec:
        return InterviewSpec(
            role_title=self.role,
            company_name=self.company,
            industry=self.industry or DEFAULT_INDUSTRY,
            cv=self.cv,
            jd=jd,
            round_type=self.round_type,
        )


def document_kind(filename: str, mime_type: str) -> str | None:
    """ "pdf" or "text" for files a CV or job description can come in; None for anything else."""
    name = filename.lower()
    if name.endswith(".pdf") or mime_type == "application/pdf":
        return "pdf"
    if name.endswith((".txt", ".md")) or mime_type.startswith("text/"):
        return "text"
    return None


async def read_document(data: bytes, kind: str) -> str:
    """document_text without blocking the event loop or the default thread pool; "" after PDF_TIMEOUT_SECONDS."""
    if kind != "pdf":
        return document_text(data, kind)  # decodes at most a few hundred KB
    deadline = time.monotonic() + PDF_TIMEOUT_SECONDS
    reading = asyncio.get_running_loop().run_in_executor(_DOCUMENT_READERS, _pdf_text, data, deadline)
    try:
        # A reader that started in time kills its process at the deadline; one still queued is cancelled here.
        return await asyncio.wait_for(reading, PDF_TIMEOUT_SECONDS + 1.0)
    except TimeoutError:
        logger.warning("gave up on a %d-byte PDF: no reader was free for %.0f s", len(data), PDF_TIMEOUT_SECONDS)
        return ""


def document_text(data: bytes, kind: str) -> str:
    """The text of a CV/JD file, at most MAX_DOCUMENT_CHARS; "" for a PDF that is unreadable or too slow to read.

    BLOCKING for up to PDF_TIMEOUT_SECONDS on a PDF: call it from a worker thread, or await read_document.
    """
    if kind != "pdf":
        # A UTF-8 character is at most 4 bytes, so this much is enough for MAX_DOCUMENT_CHARS of any text.
        head = data[: MAX_DOCUMENT_CHARS * 4].decode("utf-8", errors="replace").replace("\x00", "")
        return head[:MAX_DOCUMENT_CHARS]
    return _pdf_text(data, time.monotonic() + PDF_TIMEOUT_SECONDS)


# The child process: limits first (memory, and CPU seconds in case it outlives its parent), then _PDF_EXTRACT.
_PDF_LIMITS = """
import sys
memory, seconds, pages, chars = (int(arg) for arg in sys.argv[1:5])
try:
    import resource
except ImportError:  # not a Unix: the parent's time limit still holds
    pass
else:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
"""
_PDF_EXTRACT = """
import io
from pypdf import PdfReader
reader = PdfReader(io.BytesIO(sys.stdin.buffer.read()))
parts, total = [], 0
for number in range(min(len(reader.pages), pages)):
    parts.append(reader.pages[number].extract_text() or "")
    total += len(parts[-1]) + 1
    if total >= chars:
        break
sys.stdout.buffer.write("\\n".join(parts)[:chars].encode("utf-8", "replace"))
"""


def _pdf_text(data: bytes, deadline: float) -> str:
    """Run the PDF reader process on `data`; "" when it fails or is still running at `deadline`."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        logger.warning("gave up on a %d-byte PDF: no reader was free for %.0f s", len(data), PDF_TIMEOUT_SECONDS)
        return ""
    limits = (PDF_MEMORY_BYTES, math.ceil(PDF_TIMEOUT_SECONDS) + 1, MAX_PDF_PAGES, MAX_DOCUMENT_CHARS)
    # -I: ignore PYTHON* variables and the working directory; the interpreter's own packages (pypdf) still load.
    command = [sys.executable, "-I", "-c", _PDF_LIMITS + _PDF_EXTRACT, *map(str, limits)]
    try:
        result = subprocess.run(command, input=data, capture_output=True, timeout=remaining, check=False)
    except subprocess.TimeoutExpired:  # run() has killed the reader
        logger.warning("gave up reading a %d-byte PDF after %.0f s", len(data), PDF_TIMEOUT_SECONDS)
        return ""
    except OSError:
        logger.exception("could not start the PDF reader")
        return ""
    if result.returncode != 0:  # damaged, encrypted or odd files, or past the memory limit
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        logger.info("unreadable PDF (%d bytes): %s", len(data), detail[-1] if detail else f"exit {result.returncode}")
        return ""
    return result.stdout.decode("utf-8", errors="replace")
