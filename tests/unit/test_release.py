"""One version: the package's, which CHANGELOG.md's newest section and the upgrade table name."""

from __future__ import annotations

import re

from portsip_im import __version__
from tests.unit.harness import ROOT


def test_the_changelog_opens_with_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## (\S+)", text, re.M)
    assert newest and newest.group(1) == __version__, (newest and newest.group(1), __version__)


def test_the_upgrade_table_has_this_versions_row():
    text = (ROOT / "docs" / "stacks.md").read_text()
    assert re.search(rf"^\| {re.escape(__version__)} \|", text, re.M)
