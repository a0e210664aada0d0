"""Write docs/CLI.md from the command's own help texts: `.venv/bin/python scripts/cli_reference.py`."""
from __future__ import annotations

from pathlib import Path

import click

from worker.cli import main


def walk(cmd: click.Command, path: list[str], out: list[str]) -> None:
    ctx = click.Context(cmd, info_name=" ".join(path))
    out.append(f"## `{' '.join(path)}`\n\n```\n{cmd.get_help(ctx)}\n```\n")
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            walk(cmd.commands[name], path + [name], out)


if __name__ == "__main__":
    lines = ["# CLI reference\n\nGenerated from the CLI by `scripts/cli_reference.py`; do not edit by hand.\n"]
    walk(main, ["hotline"], lines)
    target = Path(__file__).resolve().parent.parent / "docs" / "CLI.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {target}")
