"""The names of the jobs there are, known without importing them.

``worker.tasks`` defines the jobs and binds each to the broker as it is imported (``worker/broker.py``,
logging too); checking the names of ``schedules.yaml`` must not.  ``jobs.job`` refuses a job whose
name is missing here, so the list cannot drift from the jobs defined."""
from __future__ import annotations

JOB_NAMES = (
    "daily_sheet", "law_push", "weekly_bulletin", "monthly_analysis", "monthly_summary", "monthly_law_report",
    "quarterly_report", "annual_report",                                        # tasks/reports.py
    "ticket_reports",                                                           # tasks/tickets.py
    "unit_daily", "leader_digest",                                              # tasks/units.py
    "escalation_weekly", "escalation_monthly", "supervision", "supervision_letter",
    "analysis_notice",                                                          # tasks/escalation.py
    "send_outbox",                                                              # tasks/outbox.py
    "recompute", "process_inbox",                                               # tasks/maintenance.py
)

# Jobs that are a part of another job's run, started by it with what it decided (``jobs.spawn_part``):
# the part → the job whose runs start it.  No schedule names them and ``hotline run`` refuses them.
PARTS = {"supervision_letter": "supervision"}
