"""A real RFC 3161 timestamp authority for tests, made with the ``openssl`` command line.

``local_authority()`` creates, in a temporary folder, a P-256 root CA and a TSA certificate issued
by it (critical extendedKeyUsage timeStamping), an ``openssl ts`` configuration, and serves
``http://127.0.0.1:<free port>/`` from a background thread: every POSTed query is answered by
``openssl ts -reply``. Nothing goes over the network.

Two kinds of misbehaviour can be asked for:

- ``authority.behaviour = "error" | "reject" | "garbage" | "hollow"``: answer HTTP 500, an openssl
  rejection (status rejection, no token), bytes that are no timestamp response at all, or a
  response that says "granted" and holds no token;
- ``local_authority(extended_key_usage=...)``: a TSA certificate without the timeStamping purpose.
  ``openssl ts -reply`` refuses to sign with such a certificate, so that authority builds the token
  the long way: ``openssl ts -reply`` with a proper certificate of the same key and name makes the
  TSTInfo, and ``openssl cms -sign`` signs that TSTInfo again with the improper certificate.
  ``resign=True`` takes the same path with the proper certificate, the control that shows the path
  itself yields good tokens.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Literal

TIMESTAMPING = "critical, timeStamping"
POLICY = "1.2.3.4.1"  # openssl's example policy; a test authority promises nothing
TST_INFO = "1.2.840.113549.1.9.16.1.4"  # id-ct-TSTInfo, the content type of a timestamp token
Behaviour = Literal["sign", "error", "reject", "garbage", "hollow"]
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


class OpensslFailed(RuntimeError):
    pass


def openssl(*args: str | Path, cwd: Path) -> bytes:
    """Run ``openssl`` with these arguments; its stdout, or OpensslFailed with its stderr."""
    done = subprocess.run(  # noqa: S603 - fixed program, arguments built by this module
        [OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, check=False, timeout=30
    )
    if done.returncode != 0:
        raise OpensslFailed(f"openssl {args[0]} {args[1]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path


def make_root(folder: Path, name: str) -> Issued:
    """A self-signed P-256 root CA."""
    stem = name.lower().replace(" ", "-")
    key, cert = folder / f"{stem}.key", folder / f"{stem}.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key, cwd=folder)
    openssl(
        "req", "-x509", "-new", "-key", key, "-subj", f"/CN={name}", "-days", "3", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", cert, cwd=folder,
    )  # fmt: skip
    return Issued(key, cert)


def issue(
    folder: Path, root: Issued, key: Path, subject: str, *, serial: int, extended_key_usage: str | None
) -> Path:
    """A certificate for ``key``, issued by ``root``, for signing timestamps (if its EKU allows)."""
    name = f"cert-{serial}"
    lines = [
        f"[{name}]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
    if extended_key_usage is not None:
        lines.append(f"extendedKeyUsage = {extended_key_usage}")
    extensions = folder / f"{name}.cnf"
    extensions.write_text("\n".join(lines) + "\n")
    request, cert = folder / f"{name}.csr", folder / f"{name}.pem"
    openssl("req", "-new", "-key", key, "-subj", subject, "-out", request, cwd=folder)
    openssl(
        "x509", "-req", "-in", request, "-CA", root.cert, "-CAkey", root.key,
        "-set_serial", str(serial), "-days", "2", "-sha256",
        "-extfile", extensions, "-extensions", name, "-out", cert, cwd=folder,
    )  # fmt: skip
    return cert


def ts_config(folder: Path, name: str, *, digests: str) -> Path:
    path = folder / f"{name}.cnf"
    path.write_text(
        "[ tsa ]\n"
        "default_tsa = tsa_config\n"
        "[ tsa_config ]\n"
        f"serial = {folder / 'serial'}\n"
        "crypto_device = builtin\n"
        "signer_digest = sha256\n"
        f"default_policy = {POLICY}\n"
        "other_policies = 1.2.3.4.5\n"
        f"digests = {digests}\n"
        "accuracy = secs:1\n"
        "ordering = no\n"
        "tsa_name = yes\n"
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return path


@dataclass
class Authority:
    """A running local authority. ``roots`` is the PEM file verifiers should trust."""

    folder: Path
    root: Issued
    signer: Path  # the certificate tokens are signed with
    key: Path
    resign_from: Path | None  # a proper certificate of the same key, when tokens are re-signed
    url: str = ""
    behaviour: Behaviour = "sign"
    queries: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def roots(self) -> Path:
        return self.root.cert

    def answer(self, query: bytes) -> tuple[int, bytes]:
        """HTTP status and body for one POSTed query."""
        with self._lock:  # the serial file is read and written by every reply
            self.queries.append(query)
            if self.behaviour == "error":
                return 500, b"the timestamp service is down for maintenance\n"
            if self.behaviour == "garbage":
                return 200, b"<html><body>maintenance</body></html>\n"
            if self.behaviour == "hollow":  # status granted, and no token
                return 200, bytes.fromhex("30053003020100")
            number = len(self.queries)
            query_file = self.folder / f"query-{number}.tsq"
            query_file.write_bytes(query)
            try:
                if self.resign_from is not None:
                    return 200, self._resigned(query_file, number)
                return 200, self._reply(query_file, number)
            except OpensslFailed as exc:
                return 500, str(exc).encode()

    def _reply(self, query_file: Path, number: int) -> bytes:
        config = "sha512-only" if self.behaviour == "reject" else "ts"
        reply = self.folder / f"reply-{number}.tsr"
        openssl(
            "ts", "-reply", "-queryfile", query_file, "-config", self.folder / f"{config}.cnf",
            "-inkey", self.key, "-signer", self.signer, "-chain", self.root.cert,
            "-out", reply, cwd=self.folder,
        )  # fmt: skip
        return reply.read_bytes()

    def _resigned(self, query_file: Path, number: int) -> bytes:
        token, content = self.folder / f"token-{number}.der", self.folder / f"tstinfo-{number}.der"
        signed = self.folder / f"resigned-{number}.der"
        assert self.resign_from is not None
        openssl(
            "ts", "-reply", "-queryfile", query_file, "-config", self.folder / "ts.cnf",
            "-inkey", self.key, "-signer", self.resign_from, "-token_out", "-out", token,
            cwd=self.folder,
        )  # fmt: skip
        openssl(
            "cms", "-verify", "-noverify", "-inform", "DER", "-in", token, "-out", content,
            cwd=self.folder,
        )  # fmt: skip
        openssl(
            "cms", "-sign", "-binary", "-nodetach", "-cades", "-nosmimecap", "-md", "sha256",
            "-econtent_type", TST_INFO, "-in", content, "-signer", self.signer, "-inkey", self.key,
            "-outform", "DER", "-out", signed, cwd=self.folder,
        )  # fmt: skip
        # TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted), timeStampToken }
        body = bytes.fromhex("3003020100") + signed.read_bytes()
        return b"\x30" + der_length(len(body)) + body


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _handler(authority: Authority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, body = authority.answer(query)
            self.send_response(status)
            content_type = "application/timestamp-reply" if status == 200 else "text/plain"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows stderr of failing tests, and every request would be there."""

    return Handler


@contextmanager
def local_authority(
    *, extended_key_usage: str | None = TIMESTAMPING, resign: bool = False
) -> Iterator[Authority]:
    """A timestamp authority on 127.0.0.1 for the duration of the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="coldpledge-tsa-") as name:
        folder = Path(name)
        root = make_root(folder, "Test Root")
        key = folder / "tsa.key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key, cwd=folder)
        # A long subject keeps the TSA certificate's encoding longer than the root's, so the chain
        # openssl sends (signer first) is out of DER order, as real authorities send it.
        subject = "/O=coldpledge tests/OU=timestamping/CN=coldpledge local timestamp authority"
        proper = issue(folder, root, key, subject, serial=2, extended_key_usage=TIMESTAMPING)
        signer, resign_from = proper, None
        if extended_key_usage != TIMESTAMPING or resign:
            signer = issue(folder, root, key, subject, serial=3, extended_key_usage=extended_key_usage)
            resign_from = proper
        (folder / "serial").write_text("01\n")
        ts_config(folder, "ts", digests="sha256, sha384, sha512")
        ts_config(folder, "sha512-only", digests="sha512")
        authority = Authority(folder=folder, root=root, signer=signer, key=key, resign_from=resign_from)
        server = HTTPServer(("127.0.0.1", 0), _handler(authority))
        authority.url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
        thread = threading.Thread(target=server.serve_forever, name="local-tsa", daemon=True)
        thread.start()
        try:
            yield authority
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
