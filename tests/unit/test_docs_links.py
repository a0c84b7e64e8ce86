"""Every relative link in the repository's Markdown resolves: the file (or folder) exists, and a
`#section` names one of its headings as GitHub makes anchors of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"venv", ".git", "node_modules", "policy/venv"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.md")
        if not any(part in SKIP for part in p.relative_to(ROOT).parts)
        and "policy/venv" not in str(p)
    )


def anchors(md: Path) -> set[str]:
    text = FENCE.sub("", md.read_text())
    found = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6} +(.*)", line)
        if m:
            heading = m.group(1).strip().lower().replace("`", "")
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md: Path):
    broken = []
    for target in LINK.findall(FENCE.sub("", md.read_text())):
        if re.match(r"[a-z]+:", target) or target.startswith("<"):
            continue  # http(s):, mailto:: not this test's
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading for #{anchor}")
    assert broken == [], f"{md.relative_to(ROOT)}: " + "; ".join(broken)
