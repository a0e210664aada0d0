"""What a container relies on: one policy folder (HOTLINE_CONFIG) holding every policy file, the
directory included, and a demo that writes under HOTLINE_VAR."""
from __future__ import annotations

import subprocess

from click.testing import CliRunner

from worker.cli import main
from worker.config import PROJECT_ROOT, load_settings


def test_one_policy_folder_holds_every_file_and_an_edit_by_rename_is_seen(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    subprocess.run([str(PROJECT_ROOT / "deploy" / "init-config.sh"), str(folder)], check=True, capture_output=True)
    assert sorted(p.name for p in folder.iterdir()) == [
        "alerts.yaml", "calendar.yaml", "console.yaml", "directory.yaml", "documents.yaml", "escalation.yaml", "import-mapping.yaml",
        "metrics.yaml", "rules.yaml", "schedules.yaml"]
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    settings = load_settings()
    assert (settings.config_dir, settings.schedules_file, settings.calendar_file, settings.directory_file) == (
        folder, folder / "schedules.yaml", folder / "calendar.yaml", folder / "directory.yaml")
    # An editor saving by rename: the path now names a new file, which the validator reads.
    new = folder / ".schedules.yaml.new"
    new.write_text("schedules:\n  - name: only\n    actor: send_outbox\n    cron: \"*/5 * * * *\"\n", encoding="utf-8")
    new.replace(folder / "schedules.yaml")
    res = CliRunner().invoke(main, ["schedules", "validate"])
    assert res.exit_code == 0 and "1 schedules, valid" in res.output


def test_directory_load_reads_the_folders_directory_by_default(env, tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    subprocess.run([str(PROJECT_ROOT / "deploy" / "init-config.sh"), str(folder)], check=True, capture_output=True)
    monkeypatch.setenv("HOTLINE_CONFIG", str(folder))
    res = CliRunner().invoke(main, ["directory", "load"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"{folder / 'directory.yaml'}: ") and "45 units" in res.output


def test_the_demo_goes_under_hotline_var_where_the_image_can_write(tmp_path, monkeypatch):
    from worker.demo import default_folder

    monkeypatch.setenv("HOTLINE_VAR", str(tmp_path / "var"))
    (tmp_path / "var").mkdir()
    assert default_folder() == tmp_path / "var" / "demo"
    monkeypatch.delenv("HOTLINE_VAR")
    monkeypatch.chdir(tmp_path)
    assert default_folder() == tmp_path / "out"
