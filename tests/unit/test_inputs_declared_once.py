"""Each input is declared once: its type and docstring in the component's TypedDicts, its default
and rule in args.py's INPUTS, one row of this program's config table; everything else (the config
reference, the names in messages, what a step reads) is derived from those, and held to them
here."""

from __future__ import annotations

import re

import pytest

from portsip_im import naming
from portsip_im.args import INPUTS, ImServerArgs
from portsip_im.checks import SECRET_FIELDS, ArgsError, resolve
from portsip_im.inputs import docstrings, leaves
from portsip_im.remote import SCRIPTS
from stack_config.table import KEYS, key_of_path
from tests.unit.test_component_args import args

LEAVES = leaves(ImServerArgs)
DOCS = docstrings(ImServerArgs)


def test_every_field_has_its_default_and_rule_and_a_docstring():
    assert sorted(INPUTS) == sorted(LEAVES)
    assert [path for path in LEAVES if not DOCS.get(path)] == []


def test_every_field_has_one_config_key_and_every_key_one_field():
    paths = [k.path for k in KEYS if k.path is not None]
    assert sorted(paths) == sorted(LEAVES)
    keys = [k.key for k in KEYS]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", k) for k in keys)


def test_a_key_is_secret_exactly_when_its_field_is():
    assert {k.path for k in KEYS if k.secret} == SECRET_FIELDS


@pytest.mark.parametrize("path", sorted(p for p, e in INPUTS.items() if not callable(e.default)))
def test_a_docstring_that_names_a_default_names_the_declared_one(path):
    doc, default = DOCS[path], INPUTS[path].default
    said = re.search(r"\(default ([^)]*)\)|Default: ([^.;]*)", doc)
    if said is None or default is None:
        return
    text = (said.group(1) or said.group(2)).strip("`")
    if isinstance(default, bool):
        assert text.startswith(str(default).lower()), (doc, default)
    elif isinstance(default, dict):
        assert all(f"{k} {v}" in text for k, v in default.items()), (doc, default)
    else:
        assert str(default) in text, (doc, default)


def test_what_a_step_reads_by_path_is_the_checked_value_with_its_default():
    r = resolve(args("hcloud"))
    assert r.input("host.*.location") == "fsn1" and r.input("backup.append_only") is False
    assert r.input("pbx.api.whitelist_days") == 3650
    assert not set(r.inputs) & SECRET_FIELDS  # secrets only as their Outputs


def test_messages_name_inputs_in_the_callers_words():
    a = args("aws", firewall=True)
    with pytest.raises(ArgsError) as caught:
        resolve(a)
    assert "host.aws.firewall: only for `host.existing`" in str(caught.value)
    naming.use(key_of_path, heading="configuration", prefix="portsip-im:")
    with pytest.raises(ArgsError) as caught:
        resolve(a)
    assert "portsip-im:hostFirewall: only for target existing" in str(caught.value)
    assert "`" not in str(caught.value).split("(")[0]
    naming.use(naming.camel_case)
    with pytest.raises(ArgsError) as caught:
        resolve(args("aws", adminCidrs=["10.0.0.0/8"]))
    assert "host.aws.adminCidrs: unknown field; did you mean admin_cidrs?" in str(caught.value)


def test_a_scripts_own_check_is_the_components_rule():
    # Defence in depth on the host: the same pattern, not a second opinion.
    restore = (SCRIPTS / "restore.sh").read_text()
    pattern = INPUTS["backup.restore_snapshot"].rule.pattern  # type: ignore[union-attr]
    assert f'[[ "$SNAPSHOT" =~ ^({pattern})$ ]]' in restore


def _script_lines():
    for path in sorted(SCRIPTS.glob("*.sh")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#"):
                yield f"{path.name}:{number}", line


def test_a_scripts_messages_name_inputs_by_marker_never_by_config_key():
    # `{{pbx.api.url}}` is rendered when the script is sent (naming.in_script): this program sees
    # `pbxApiUrl`, a YAML program `pbx.api.url`. A config key written in a script would be this
    # program's word in every caller's error.
    camel = [k.key for k in KEYS if re.search(r"[A-Z]", k.key)]
    bare = re.compile(r"(?<![A-Za-z0-9_{=])(" + "|".join(camel) + r")(?![A-Za-z0-9_}])")
    assert [where for where, line in _script_lines() if bare.search(line)] == []
    marked = {
        m for _, line in _script_lines() for m in re.findall(r"\{\{=?([a-z][a-z0-9_.*]*)\}\}", line)
    }
    assert marked and marked <= set(LEAVES), marked - set(LEAVES)


def test_a_script_as_sent_names_inputs_as_the_caller_does():
    from portsip_im.remote import script_text

    assert "{{" not in script_text("pbx01-check")
    assert "but prepare.required_os is" in script_text("pbx01-check")
    naming.use(key_of_path)
    assert "but requiredOs is" in script_text("pbx01-check")
    naming.use(naming.camel_case)
    assert "check pbx.api.url and pbx.api.login" in script_text("token", ["pbx-api"])


def test_a_docstring_names_another_input_by_its_whole_path():
    # The docstrings become every caller's descriptions (the package schema, this program's config
    # reference), rendered in the caller's words only where a whole path stands in backticks.
    loose = {
        path: token
        for path, doc in DOCS.items()
        for token in re.findall(r"`([a-z][a-z0-9]*_[a-z0-9_]*)`", doc)
        if token not in LEAVES
    }
    assert loose == {}
