"""One version: the package's, which CHANGELOG.md's newest released section and the upgrade table
name."""

from __future__ import annotations

import re

from portsip_im import __version__
from tests.unit.harness import ROOT


def test_the_changelog_opens_with_this_version():
    # Above it, at most an "Unreleased" section: what the next version holds until it is numbered.
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## (\S+)", text, re.M)
    released = sections[1:] if sections[:1] == ["Unreleased"] else sections
    assert released and released[0] == __version__, (sections[:2], __version__)
    assert "Unreleased" not in released, "an Unreleased section below a released one"


def test_the_upgrade_table_has_this_versions_row():
    text = (ROOT / "docs" / "stacks.md").read_text()
    assert re.search(rf"^\| {re.escape(__version__)} \|", text, re.M)
