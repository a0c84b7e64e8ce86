"""How pbx01 trusts the PBX API without turning TLS verification off, in the lab over real SSH:
the stand-in PBX's self-signed certificate trusted by its CA certificate (PEM) and by a pinned
public key; a wrong pin refused; with neither, verification refuses it and the message names the
two ways first. The whitelist step, as the program builds it, is the call under test."""

from __future__ import annotations

import base64
import hashlib
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.lab.guide import Guide, lab_config

pytestmark = pytest.mark.lab


def pin_of(lab) -> str:
    """curl's sha256//… of the stand-in PBX's public key, read from what it serves."""
    host, port = lab.pbx01, int(lab.pbx_api.split(":")[2].split("/")[0])
    pem = ssl.get_server_certificate((host, port))
    der = subprocess.run(
        "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der",
        shell=True, input=pem.encode(), capture_output=True, check=True,
    ).stdout  # fmt: skip
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def whitelist(lab, **config: str | None) -> tuple[Guide, subprocess.CompletedProcess, list[str]]:
    """The whitelist step with TLS verification on (the lab stack's own config turns it off for
    its self-signed PBX): the guide, the step's result, and the curl calls it made on pbx01."""
    guide = Guide(lab, lab_config(lab, pbxApiTlsVerify=None, **config))
    before = len(lab.argv_log("pbx01"))
    done = guide.run("whitelist", check=False)
    curls = [line for line in lab.argv_log("pbx01")[before:] if "curl" in line.split()[:3]]
    return guide, done, curls


@pytest.fixture
def clean(lab):
    lab.clear_faults()
    yield
    lab.api_state()  # still readable: the stand-in answered throughout


def test_the_ca_certificate_is_trusted(lab, clean):
    guide, done, curls = whitelist(lab, pbxApiCaCertificate=Path(lab.pbx_api_ca).read_text())
    assert done.returncode == 0, done.stderr
    assert curls and all("--cacert" in c and "--insecure" not in c for c in curls), curls
    assert all(c.split("curl", 1)[1].split()[0] == "-q" and "--globoff" in c for c in curls)
    guide.run("whitelist", "delete")


def test_a_pinned_public_key_is_trusted(lab, clean):
    guide, done, curls = whitelist(lab, pbxApiPinnedPublicKey=pin_of(lab))
    assert done.returncode == 0, done.stderr
    assert curls and all("--pinnedpubkey sha256//" in c for c in curls), curls
    guide.run("whitelist", "delete")


def test_a_wrong_pin_is_refused(lab, clean):
    wrong = "sha256//" + base64.b64encode(hashlib.sha256(b"another key").digest()).decode()
    _, done, _ = whitelist(lab, pbxApiPinnedPublicKey=wrong)
    assert done.returncode != 0
    assert "the PBX's public key is not the pinned one" in done.stderr
    assert "pbxApiPinnedPublicKey" in done.stderr


def test_with_neither_the_error_names_the_ca_and_the_pin_first(lab, clean):
    _, done, _ = whitelist(lab)
    assert done.returncode != 0
    said = done.stderr[done.stderr.index("TLS verification failed") :]
    assert said.index("pbxApiCaCertificate") < said.index("pbxApiTlsVerify=false")
    assert said.index("pbxApiPinnedPublicKey") < said.index("pbxApiTlsVerify=false")
