"""A package source of the lab's own: a flat apt repository served over HTTP on the lab bridge's
address, holding a small package in the versions a test publishes. It records each request, so a
test can show when a host fetched updates and when it did not. Nothing leaves the lab network."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PACKAGE = "portsip-lab-probe"


def build_deb(out: Path, version: str) -> Path:
    """A package with one file that says its version (dpkg-deb, part of dpkg itself)."""
    root = out / f"build-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: portsip-im lab <lab@localhost>\n"
        "Description: lab package whose versions stand in for OS updates\n"
    )
    share = root / "usr/share" / PACKAGE
    share.mkdir(parents=True)
    (share / "version").write_text(version + "\n")
    deb = out / f"{PACKAGE}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def _index(repo: Path) -> None:
    """Packages and Release for every .deb in `repo` (a flat repository: `deb URL ./`)."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = subprocess.run(
            ["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True
        ).stdout.strip()
        data = deb.read_bytes()
        stanzas.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Release").write_text(
        "Origin: portsip-im-lab\nLabel: portsip-im-lab\nSuite: lab\nCodename: lab\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n"
    )


class AptRepo:
    def __init__(self, root: Path, address: str) -> None:
        self.root = root
        self.repo = root / "repo"
        self.repo.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        repo, requests = self.repo, self.requests

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(repo), **kwargs)

            def log_message(self, format, *args):  # type: ignore[no-untyped-def]  # noqa: A002
                requests.append(self.path)

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/"

    def publish(self, version: str) -> Path:
        deb = build_deb(self.root, version)
        (self.repo / deb.name).write_bytes(deb.read_bytes())
        _index(self.repo)
        return deb

    def source_line(self) -> str:
        return f"deb [trusted=yes] {self.url} ./"


@contextmanager
def apt_repo(root: Path, address: str) -> Iterator[AptRepo]:
    repo = AptRepo(root, address)
    thread = threading.Thread(target=repo.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repo
    finally:
        repo.server.shutdown()
        repo.server.server_close()
        thread.join(timeout=10)
