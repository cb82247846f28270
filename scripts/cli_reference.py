"""Write the CLI reference (docs/cli.md) from the command tree itself, so it never drifts.

Usage: python scripts/cli_reference.py > docs/cli.md   (a test checks the file is current)
"""

from __future__ import annotations

from typing import Any

import typer

from value_spectrum.cli.app import build_app

HEADER = """# CLI reference

Generated from the commands themselves by `python scripts/cli_reference.py > docs/cli.md`
(a test fails when this page is out of date). Every command's work is also a library function;
see the guides.

Exit status, everywhere: 0 success; 1 the command ran but some inputs were rejected or some
sessions failed; 2 bad input (a missing file, an unknown id, an invalid option value);
130 interrupted with Ctrl-C (finished work kept).
"""


def _params(cmd: Any) -> list[str]:
    rows = []
    for p in cmd.params:
        if p.name == "help":
            continue
        help_text = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
        if p.param_type_name == "argument":
            name = (p.metavar or p.name or "").strip("[]{}.").upper()
            kind = "argument" if p.required else "argument (optional)"
            rows.append(f"| `{name}` | {kind}{': ' + help_text if help_text else ''} | |")
            continue
        names = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
        default = ""
        if p.required:
            default = "required"
        elif p.is_flag and p.secondary_opts:  # --x/--no-x: name the side that is on by default
            default = f"`{p.opts[0] if p.default else p.secondary_opts[0]}`"
        elif p.default is not None and p.default is not False and p.default not in ((), []) and not p.is_flag:
            default = f"`{p.default}`"
        rows.append(f"| {names} | {help_text} | {default} |")
    if not rows:
        return []
    return ["| option | meaning | default |", "| --- | --- | --- |", *rows, ""]


def _walk(cmd: Any, path: str, out: list[str]) -> None:
    if hasattr(cmd, "commands"):  # a group (the root loads its commands on use: ask it for each)
        ctx = cmd.context_class(cmd)
        for name in sorted(cmd.list_commands(ctx)):
            _walk(cmd.get_command(ctx, name), f"{path} {name}", out)
        return
    usage = " ".join(cmd.collect_usage_pieces(cmd.context_class(cmd)))
    out.append(f"## `{path}`\n")
    out.append((cmd.help or "").strip().split("\n\n")[0].replace("\n", " ") + "\n")
    out.append(f"```\n{path} {usage}\n```\n")
    out.extend(_params(cmd))


def render() -> str:
    """The whole page."""
    root = typer.main.get_command(build_app())
    out = [HEADER]
    _walk(root, "value-spectrum", out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
