"""A policy file read as its model (``config.policy``): a setting left out of a file means what the
shipped file says, so that a district deleting a line it did not mean to change changes nothing."""
from __future__ import annotations

import shutil

import pytest

from worker.config import PROJECT_ROOT, policy
from worker.policy_schema import Alerts, Console, Documents, Metrics
from worker.schema import plain

# The settings the shipped files give as the service's choice (DOMAIN.md "Where the policy is
# silent"); the district's own data (units, rules, keywords, addresses, labels) is not among them.
SETTINGS = {
    Metrics: ("requirement", "bottom", "ranked_unit_kinds", "min_callbacks_to_fail", "dual_rates",
              "warning_working_days", "repeat", "widespread", "hot_categories", "typical_cases", "supervision"),
    Documents: ("daily_sheet", "law_push", "fonts"),
    Alerts: ("queued_minutes", "outbox_backlog_minutes", "calendar_days"),
    Console: ("published_kinds", "law_kinds", "session_hours", "lock_after_failures", "lock_address_after_failures",
              "lock_minutes", "known_address_days"),
}
FILES = {Metrics: "metrics", Documents: "documents", Alerts: "alerts", Console: "console"}


@pytest.mark.parametrize("model", list(SETTINGS), ids=lambda m: FILES[m])
def test_a_setting_left_out_means_what_the_shipped_file_says(model):
    from worker.schema import load_yaml

    shipped = model.model_validate(plain(load_yaml(PROJECT_ROOT / "config" / f"{FILES[model]}.yaml")))
    required = {name: getattr(shipped, name) for name, field in model.model_fields.items() if field.is_required()}
    bare = model(**required)
    for name in SETTINGS[model]:
        assert getattr(bare, name) == getattr(shipped, name), name


def test_the_rating_and_the_tourism_levels_default_to_the_shipped_ones():
    from worker.schema import load_yaml

    shipped = Metrics.model_validate(plain(load_yaml(PROJECT_ROOT / "config" / "metrics.yaml")))
    assert Metrics().rating == shipped.rating
    assert shipped.tourism_triage is not None
    assert type(shipped.tourism_triage)(keywords=["民宿"]).levels == shipped.tourism_triage.levels


def test_a_folder_without_console_yaml_runs_on_the_defaults(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    (folder / "console.yaml").unlink()
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    policy.cache_clear()
    assert policy.console().session_hours == 8 and policy.console().lock_minutes == 15
    assert policy.metrics(folder).widespread.min_units == 12


def test_an_invalid_edit_keeps_the_last_valid_model(tmp_path, caplog):
    import os
    import time

    folder = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", folder)
    policy.cache_clear()
    assert policy.alerts(folder).queued_minutes == 15
    path = folder / "alerts.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("queued_minutes: 15", "queued_minutes: soon"),
                    encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))
    assert policy.alerts(folder).queued_minutes == 15
    assert "keeping the last valid version" in caplog.text and "queued_minutes" in caplog.text
