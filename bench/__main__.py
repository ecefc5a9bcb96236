"""`python -m bench [topic [ARG...]...]` runs bench/bench_*.py (or the named ones) and writes
RESULTS.md. Words after a topic that are not topics are its arguments (`fleet 8 16`).

Sections of benchmarks not run this time are kept from the previous RESULTS.md; each section
names the machine and date it was measured on.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import machine, render_markdown

HERE = Path(__file__).resolve().parent
HEADER = ("# Benchmark results\n\nMeasured figures, never pass/fail. Every baseline is measured "
          "in the same run as the figures it is compared with.\n")


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def previous_sections(path: Path) -> dict[str, str]:
    """The `## name` sections of an earlier RESULTS.md, by name."""
    if not path.exists():
        return {}
    parts = re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): "## " + part.rstrip() for part in parts}


def run(name: str, args: Sequence[str] = ()) -> tuple[str, bool]:
    """Run one benchmark; its RESULTS.md section, and whether it worked."""
    info = machine()
    started = time.monotonic()
    ok = True
    try:
        module = importlib.import_module(f"bench.bench_{name}")
        figures: dict[str, Any] = module.main(*args)
        body = render_markdown(figures)
    except Exception:
        ok = False
        body = "```\n" + traceback.format_exc() + "```"
        print(body, file=sys.stderr)
    doc = (getattr(sys.modules.get(f"bench.bench_{name}"), "__doc__", None) or "").strip()
    summary = " ".join(doc.split("\n\n")[0].split())
    lines = [f"## {name}", ""]
    if summary:
        lines += [summary, ""]
    lines += [
        f"Run: `.venv/bin/python -m bench {name}` ({time.monotonic() - started:.0f} s) on "
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date']}.",
        "", body,
    ]
    return "\n".join(lines), ok


def main(argv: Sequence[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="topic",
                        help=f"benchmarks to run (default: all of {', '.join(available)})")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    plan: list[tuple[str, list[str]]] = []
    for word in args.names:
        name = word.removeprefix("bench_")
        if name in available:
            plan.append((name, []))
        elif plan and not word.startswith("-"):
            plan[-1][1].append(word)
        else:
            parser.error(f"no such benchmark: {word} (have: {', '.join(available)})")
    plan = plan or [(name, []) for name in available]

    sections = previous_sections(args.output)
    failed = False
    for name, topic_args in plan:
        sections[name], ok = run(name, topic_args)
        failed = failed or not ok
    text = HEADER + "".join(f"\n{sections[n]}\n" for n in sorted(sections))
    args.output.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
