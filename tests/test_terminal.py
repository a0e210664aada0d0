"""Terminal tables with CJK text: columns line up by display width (a CJK character is two columns),
and the options that name a policy value take only the values the policy defines."""
from __future__ import annotations

import yaml
from click.testing import CliRunner

from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.terminal import pad, table


def test_pad_counts_a_cjk_character_as_two_columns():
    assert pad("区民政局", 10) == "区民政局  "          # 4 characters, 8 columns: 2 blanks to 10
    assert pad("abc", 5, ">") == "  abc"
    assert pad("区发展和改革局", 4) == "区发展和改革局"     # never cut


def test_table_columns_start_at_the_same_terminal_column_whatever_the_script():
    lines = table([("rank", "unit", "volume"), (1, "区民政局", 12), (2, "Port Authority", 3)], "><>")
    # the widest unit is "Port Authority" (14 columns): the volume column ends at 4 + 1 + 14 + 1 + 6
    assert lines == ["rank unit           volume",
                     "   1 区民政局           12",
                     "   2 Port Authority      3"]


def test_deadline_refuses_a_channel_the_rules_do_not_name_and_lists_those_they_do():
    channels = list(yaml.safe_load((PROJECT_ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"))["channels"])
    res = CliRunner().invoke(main, ["deadline", "--at", "2026-11-09 10:00", "--source", "town"])
    assert res.exit_code == 2
    assert "'town' is not one of " + ", ".join(map(repr, channels)) in res.output
    res = CliRunner().invoke(main, ["deadline", "--at", "2026-11-09 10:00", "--source", "city", "--urgent", "soon"])
    assert res.exit_code == 2 and "'soon' is not one of 'policy', 'livelihood', 'safety'" in res.output
