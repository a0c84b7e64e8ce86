"""Two failed ups, as an operator reads them (docs/contributing/figures.md, "A failed up, in
lines"): a first up whose `im.sh run` fails (the lab's fault imsh-fail) and a day-2 up whose
`im.sh restart` prints `[error]` and exits 0 (restartToken changed, fault imsh-error-exit0).
BENCH_TRANSCRIPTS=DIR keeps each up's whole output there, to read."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.e2e.stack import fresh_stack, without_outputs_block
from tests.lab.fixture import Lab

# How the command provider quotes the command it ran, in a failed step's error (Go's %q).
QUOTED = re.compile(r'running "((?:[^"\\]|\\.)*)"')


def read(name: str, out: str, public_key: str, figures: dict[str, str]) -> None:
    if os.environ.get("BENCH_TRANSCRIPTS"):
        Path(os.environ["BENCH_TRANSCRIPTS"], f"{name}.txt").write_text(out)
    lines = out.splitlines()
    quoted = QUOTED.findall(out)
    figures[f"{name}_lines"] = str(len(lines))
    figures[f"{name}_lines_without_outputs_block"] = str(len(without_outputs_block(lines)))
    figures[f"{name}_characters"] = str(len(out))
    figures[f"{name}_longest_line_characters"] = str(max(map(len, lines)))
    figures[f"{name}_command_lines_quoted"] = str(len(quoted))
    figures[f"{name}_quoted_command_characters"] = str(max(map(len, quoted), default=0))
    figures[f"{name}_pbx01_public_key_shown"] = str(out.count(public_key))


def failed_ups(lab: Lab, tmp: Path, figures: dict[str, str]) -> None:
    with fresh_stack(lab, tmp) as stack:
        lab.fail_next_imsh()
        first = stack("up", ok=False)
        public_key = lab.ssh("pbx01", "cat ~/.ssh/id_rsa.pub", user="pbx", check=True).stdout
        public_key = public_key.split()[1]
        read("failed_first_up", first.stdout + first.stderr, public_key, figures)
        stack("up")
        stack.set["restartToken"] = "bench-failed-day-2"
        lab.plant("imsh-error-exit0")
        day2 = stack("up", ok=False)
        read("failed_day2_up", day2.stdout + day2.stderr, public_key, figures)
