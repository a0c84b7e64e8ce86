"""What a program registers under Pulumi's mocks, as JSON: `python registrations.py ROOT CONFIG`.

ROOT is a checkout of this program (today's, or an older commit's from `git archive`); CONFIG a JSON
object of config keys. The same harness (this folder's) runs either, so two trees compare on equal
terms: types, names, parents, inputs, dependencies, secretness, options and the stack's outputs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path


def registrations(root: Path, config: dict[str, str], preview: bool) -> dict:
    # The tree under test first: its own `components` / `portsip_im` / `stack_config` win.
    sys.path[:0] = [str(root), str(root / "components")]
    spec = importlib.util.spec_from_file_location("harness", Path(__file__).with_name("harness.py"))
    assert spec and spec.loader
    harness = importlib.util.module_from_spec(spec)
    sys.modules["harness"] = harness
    spec.loader.exec_module(harness)
    harness.MAIN = root / "__main__.py"
    numbered = harness.Recorder.new_resource

    def stable_ids(self, args):  # type: ignore[no-untyped-def]
        # Hetzner ids are numbered in registration order, which threads make vary: number them
        # by name instead, so two runs compare.
        self._next_id = int(hashlib.sha256(args.name.encode()).hexdigest()[:8], 16)
        return numbered(self, args)

    harness.Recorder.new_resource = stable_ids
    result = harness.run(config, preview=preview)
    resources = sorted(
        (
            {
                "type": r.typ,
                "name": r.name,
                "parent": r.parent,
                "inputs": r.inputs,
                "depends_on": list(r.depends_on),
                "secret_inputs": sorted(r.secret_inputs),
                "options": r.options,
            }
            for r in result.resources
        ),
        key=lambda r: (r["type"], r["name"]),
    )
    return {
        "resources": resources,
        "exports": result.exports,
        "secret_exports": sorted(result.secret_exports),
        "calls": sorted(result.mocks.calls),
    }


def _plain(value: object) -> str:
    # An unknown (preview) value prints with its address; only its being unknown matters.
    return "<unknown>" if type(value).__name__ == "Unknown" else str(value)


if __name__ == "__main__":
    root, config = Path(sys.argv[1]).resolve(), json.loads(sys.argv[2])
    preview = len(sys.argv) > 3 and sys.argv[3] == "preview"
    print(
        json.dumps(registrations(root, config, preview), sort_keys=True, default=_plain, indent=1)
    )
