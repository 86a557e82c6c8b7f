"""A witness of the evidence log, run by a bank (or an insurer, a 存证机构): ``coldpledge witness``.

Each round it fetches the log's latest checkpoint, checks the log's signature with the log key it
was given (pinned: never the key the log serves), checks that the new checkpoint extends the last
one it cosigned (an RFC 9162 consistency proof), and only then cosigns it (C2SP tlog-cosignature,
Ed25519 type 0x04) and hands the cosignature to the log.

The state file is the witness's memory: the last checkpoint it cosigned. It is replaced atomically
and written *before* the cosignature leaves the witness, so neither a crash nor a lost request can
make the witness forget a checkpoint it vouched for and later cosign a contradicting one.

A checkpoint that contradicts that memory (a smaller tree, the same size with another root, or a
consistency proof that fails) is refused: nothing is cosigned, the state stays as it was, a
fork-evidence file is written next to the state file (both signed notes and the proof received:
what the bank hands its lawyers), and the witness exits 2, and keeps exiting 2 until a person has
read the evidence.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import glob
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from coldpledge.evidence import merkle
from coldpledge.evidence.note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    Note,
    NoteError,
    Signer,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_skey,
    parse_vkey,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INCONSISTENT = 2
STATE_FORMAT = "coldpledge-witness-state/1"
FORK_FORMAT = "coldpledge-witness-fork-evidence/1"
API = "/api/v1/evidence/"
MAX_RESPONSE_BYTES = 1 << 20  # a checkpoint with 100 cosignatures is far below this


class WitnessError(RuntimeError):
    """This round could not be finished (log unreachable, unexpected answer, a bad signature). It
    proves nothing against the log; the loop tries again."""


class Inconsistent(Exception):
    """The log served a checkpoint that contradicts the one this witness cosigned before."""

    def __init__(
        self, reason: str, seen: Seen | None, served: str, checkpoint: Checkpoint, proof: Any = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seen = seen
        self.served = served
        self.checkpoint = checkpoint
        self.proof = proof


@dataclass(frozen=True)
class Seen:
    """The witness's state: the last checkpoint it cosigned, with the log's signature and its own
    cosignature (a note anyone can check against the two public keys)."""

    origin: str
    size: int
    root: bytes
    note: str

    def to_json(self) -> str:
        root = base64.b64encode(self.root).decode()
        document = {"format": STATE_FORMAT, "origin": self.origin, "size": self.size, "root": root}
        return json.dumps({**document, "note": self.note}, indent=2) + "\n"


def load_state(path: Path) -> Seen | None:
    """The state, or None before the first round. A state file that cannot be read is an error,
    never a fresh start: trusting on first use again would forget what was cosigned."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
        if document.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} file")
        seen = Seen(
            origin=str(document["origin"]),
            size=int(document["size"]),
            root=base64.b64decode(document["root"], validate=True),
            note=str(document["note"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise WitnessError(f"the state file {path} is damaged ({exc}); restore it from a backup") from exc
    if seen.size < 0 or len(seen.root) != merkle.HASH_SIZE:
        raise WitnessError(f"the state file {path} is damaged; restore it from a backup")
    return seen


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves either the old or the new file:
    temporary file, fsync, rename, fsync of the folder (which makes the rename itself durable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@dataclass(frozen=True)
class Witness:
    log_url: str
    log_key: Verifier
    origin: str
    signer: Signer
    state_file: Path
    timeout: float = 10.0

    def __post_init__(self) -> None:
        # urllib would also open file: and ftp: addresses; a witness only ever talks HTTP(S).
        if urllib.parse.urlsplit(self.log_url).scheme not in ("http", "https"):
            raise ValueError("the log URL must start with http:// or https://")

    @classmethod
    def configure(
        cls, *, log_url: str, log_key: str, key_file: Path, state_file: Path, origin: str | None = None
    ) -> Witness:
        """A witness from the command line's words; raises ValueError (NoteError) or OSError."""
        verifier = parse_vkey(log_key)
        if verifier.key_type != ED25519:
            raise NoteError("--log-key must be the log's signing key (type 0x01), not a witness key")
        signer = parse_skey(key_file.read_text(encoding="utf-8"))
        if signer.key_type != COSIGNATURE_V1:
            raise NoteError(
                f"{key_file} is not a witness key: create one with `coldpledge evidence keygen --witness`"
            )
        return cls(log_url.rstrip("/"), verifier, origin or verifier.name, signer, state_file)

    # --- one round --------------------------------------------------------------------------------

    def round(self) -> str:
        """Check the log's latest checkpoint and cosign it if it extends what this witness saw.
        Returns what happened, in words; raises Inconsistent or WitnessError."""
        seen = load_state(self.state_file)
        if seen is not None and seen.origin != self.origin:
            raise WitnessError(
                f"the state file {self.state_file} is about the log {seen.origin!r}, not {self.origin!r}"
            )
        served = self._get("checkpoint").decode("utf-8", errors="replace")
        note, checkpoint, signed = self._open(served)

        if seen is None:
            if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
                raise Inconsistent(
                    "the log signed an empty tree whose root is not the empty root", seen, served, checkpoint
                )
            verdict = (
                "trust on first use: this witness has no earlier checkpoint of this log, "
                "so it accepts this one without a consistency proof"
            )
        elif checkpoint.size < seen.size:
            raise Inconsistent(
                f"the log now serves a smaller tree ({checkpoint.size} entries) than the "
                f"{seen.size} it signed before: entries were removed or the log was rolled back",
                seen,
                served,
                checkpoint,
            )
        elif checkpoint.size == seen.size:
            if checkpoint.root != seen.root:
                raise Inconsistent(
                    f"the log signed two different root hashes for the same tree size {seen.size}",
                    seen,
                    served,
                    checkpoint,
                )
            if self._cosigned_by_me(note):
                return f"no change: the checkpoint of size {seen.size} is already cosigned and served"
            # The state was saved but the log never got (or lost) our cosignature: hand it again.
            self._post(seen.size, self._my_line(seen.note))
            return f"re-sent the cosignature of the checkpoint of size {seen.size}"
        else:
            proof = self._consistency(seen, checkpoint, served)
            verdict = (
                f"consistent: the tree grew from {seen.size} to {checkpoint.size} entries "
                f"(consistency proof of {len(proof)} hashes verified)"
            )

        line = self.signer.cosign(note.text, int(time.time()))
        write_atomically(
            self.state_file,
            Seen(self.origin, checkpoint.size, checkpoint.root, signed + line).to_json(),
        )
        self._post(checkpoint.size, line)
        root = base64.b64encode(checkpoint.root).decode()
        return f"{verdict}; cosigned the checkpoint of size {checkpoint.size} (root {root})"

    def _open(self, served: str) -> tuple[Note, Checkpoint, str]:
        """Verify the log's signature with the pinned key; returns the note, its checkpoint and the
        note as the log signed it (without anybody's cosignatures)."""
        try:
            note, _ = open_note(served, [self.log_key])
            checkpoint = parse_checkpoint(note.text)
        except NoteError as exc:
            raise WitnessError(
                f"refusing a checkpoint not signed by the pinned log key {self.log_key.vkey}: {exc}"
            ) from exc
        if checkpoint.origin != self.origin:
            raise WitnessError(
                f"refusing a checkpoint of the log {checkpoint.origin!r}; "
                f"this witness watches {self.origin!r}"
            )
        line = next(
            s.line for s in note.signatures if (s.name, s.key_id) == (self.log_key.name, self.log_key.key_id)
        )
        return note, checkpoint, note.text + "\n" + line

    def _consistency(self, seen: Seen, checkpoint: Checkpoint, served: str) -> list[bytes]:
        if seen.size == 0:
            return []  # every tree extends the empty one
        query = urllib.parse.urlencode({"first": seen.size, "second": checkpoint.size})
        answer = self._get(f"proof/consistency?{query}")
        try:
            received: Any = json.loads(answer)
        except ValueError:
            received = answer.decode("utf-8", errors="replace")
        proof = _hashes(received, seen.size, checkpoint.size)
        if proof is None or not merkle.verify_consistency(
            seen.size, checkpoint.size, seen.root, checkpoint.root, proof
        ):
            raise Inconsistent(
                f"the consistency proof from size {seen.size} to size {checkpoint.size} does not "
                "verify: the new tree does not contain the tree this witness cosigned before",
                seen,
                served,
                checkpoint,
                received,
            )
        return proof

    def _cosigned_by_me(self, note: Note) -> bool:
        mine = self.signer.verifier
        for signature in note.signatures:
            if (signature.name, signature.key_id) != (mine.name, mine.key_id):
                continue
            try:
                open_note(note.text + "\n" + signature.line, [mine])
            except NoteError:
                continue
            return True
        return False

    def _my_line(self, note: str) -> str:
        mine = self.signer.verifier
        for signature in parse_note(note).signatures:
            if (signature.name, signature.key_id) == (mine.name, mine.key_id):
                return signature.line
        raise WitnessError(f"the state file {self.state_file} holds no cosignature by {mine.name}")

    # --- HTTP -------------------------------------------------------------------------------------

    def _get(self, path: str) -> bytes:
        return self._request(path)

    def _post(self, size: int, line: str) -> None:
        self._request("cosignatures", {"tree_size": size, "cosignature": line})

    def _request(self, path: str, document: dict[str, Any] | None = None) -> bytes:
        headers = {"Accept-Language": "en", "User-Agent": "coldpledge-witness"}
        if document is not None:
            headers["Content-Type"] = "application/json"
        data = None if document is None else json.dumps(document).encode()
        # The scheme was checked in __post_init__: only http and https reach urlopen.
        request = urllib.request.Request(self.log_url + API + path, data=data, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode("utf-8", errors="replace")
            raise WitnessError(
                f"{request.get_method()} {request.full_url} answered {exc.code}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise WitnessError(f"the log at {self.log_url} is unreachable: {exc}") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise WitnessError(f"{request.full_url} answered more than {MAX_RESPONSE_BYTES} bytes")
        return body

    # --- fork evidence ----------------------------------------------------------------------------

    def fork_files(self) -> list[Path]:
        pattern = glob.escape(str(self.state_file)) + ".fork*.json"
        return sorted(Path(name) for name in glob.glob(pattern))

    def record_fork(self, refusal: Inconsistent) -> Path:
        """Write the evidence of a contradiction next to the state file; never over earlier evidence."""
        path = self.state_file.with_name(self.state_file.name + ".fork.json")
        if path.exists():
            path = self.state_file.with_name(f"{self.state_file.name}.fork.{time.time_ns()}.json")

        def described(checkpoint: Checkpoint, note: str) -> dict[str, Any]:
            root = base64.b64encode(checkpoint.root).decode()
            return {"size": checkpoint.size, "root": root, "note": note}

        seen = refusal.seen
        old = None if seen is None else described(Checkpoint(seen.origin, seen.size, seen.root), seen.note)
        document = {
            "format": FORK_FORMAT,
            "detected_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "reason": refusal.reason,
            "log_url": self.log_url,
            "origin": self.origin,
            "log_key": self.log_key.vkey,
            "witness_key": self.signer.verifier.vkey,
            "cosigned_before": old,
            "served_now": described(refusal.checkpoint, refusal.served),
            "consistency_proof_received": refusal.proof,
            "how_to_check": (
                "Both notes carry the signature of log_key (check them with any C2SP signed-note "
                "verifier); cosigned_before also carries this witness's cosignature. A log may never "
                "sign two checkpoints that are not consistent with each other (RFC 9162 §2.1.4, "
                "c2sp.org/tlog-checkpoint): a smaller tree, another root for the same size, or a "
                "consistency proof that fails to verify shows that entries were changed or removed."
            ),
        }
        write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return path


def _hashes(received: Any, first: int, second: int) -> list[bytes] | None:
    """The proof's hashes, or None when the answer is not a proof between these sizes."""
    if not isinstance(received, dict) or (received.get("first"), received.get("second")) != (first, second):
        return None
    hashes = received.get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        return None
    try:
        return [bytes.fromhex(h) for h in hashes]
    except ValueError:
        return None


@contextmanager
def _only_witness(state_file: Path) -> Iterator[None]:
    """One witness process per state file: two would race to advance it."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    with state_file.with_name(state_file.name + ".lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise WitnessError(f"another witness is running with the state file {state_file}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _shout(err: TextIO, lines: list[str]) -> None:
    rule = "!" * 78
    print("\n".join([rule, *lines, rule]), file=err, flush=True)


def _refused(witness: Witness, refusal: Inconsistent, evidence: Path, err: TextIO) -> None:
    seen = refusal.seen
    before = "nothing" if seen is None else f"size {seen.size}, root {base64.b64encode(seen.root).decode()}"
    now = f"size {refusal.checkpoint.size}, root {base64.b64encode(refusal.checkpoint.root).decode()}"
    _shout(
        err,
        [
            f"WITNESS REFUSED TO COSIGN: THE LOG {witness.origin} IS INCONSISTENT",
            f"  {refusal.reason}",
            f"  checkpoint this witness cosigned before: {before}",
            f"  checkpoint the log serves now:           {now}",
            f"  fork evidence (both signed notes and the proof received): {evidence}",
            "  Nothing was cosigned and the state file is unchanged. This witness will refuse to run",
            "  until a person has read the evidence and deletes it (or runs with --fork-reviewed).",
        ],
    )


def run(
    witness: Witness,
    *,
    once: bool = False,
    interval: float = 10.0,
    fork_reviewed: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Witness rounds until stopped (or one, with ``once``). Returns the exit status: 0 ok, 1 error
    (retried in the loop), 2 the log is inconsistent (the loop stops)."""
    out = out or sys.stdout
    err = err or sys.stderr
    stop = stop or threading.Event()
    evidence = witness.fork_files()
    if evidence and not fork_reviewed:
        _shout(
            err,
            [
                f"WITNESS STOPPED: IT CAUGHT THE LOG {witness.origin} BEING INCONSISTENT BEFORE",
                *(f"  fork evidence: {path}" for path in evidence),
                "  Read it; once a person has dealt with it, delete the file or run with --fork-reviewed.",
            ],
        )
        return EXIT_INCONSISTENT
    try:
        with _only_witness(witness.state_file):
            while True:
                status = _one_round(witness, out, err)
                if status == EXIT_INCONSISTENT or once:
                    return status
                if stop.wait(interval):
                    return EXIT_OK
    except WitnessError as exc:
        print(f"witness: {exc}", file=err, flush=True)
        return EXIT_ERROR


def _one_round(witness: Witness, out: TextIO, err: TextIO) -> int:
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        try:
            print(f"{stamp} {witness.round()}", file=out, flush=True)
        except Inconsistent as refusal:
            _refused(witness, refusal, witness.record_fork(refusal), err)
            return EXIT_INCONSISTENT
    except (WitnessError, OSError) as exc:
        print(f"{stamp} witness round failed: {exc}", file=err, flush=True)
        return EXIT_ERROR
    return EXIT_OK
