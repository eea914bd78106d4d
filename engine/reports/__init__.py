"""Pictures of an interview and of progress across interviews, as PNG bytes; no platform code here."""

from engine.reports.charts import (
    PACE_BAND,
    PROGRESS_SIZE,
    REPORT_SIZE,
    AnswerPoint,
    ProgressPoint,
    render_progress_chart,
    render_report_chart,
)

__all__ = [
    "PACE_BAND",
    "PROGRESS_SIZE",
    "REPORT_SIZE",
    "AnswerPoint",
    "ProgressPoint",
    "render_progress_chart",
    "render_report_chart",
]
