"""Offline verification of an evidence package (证据包): nothing but the zip and public keys.

A package proves that log entries about one subject (a receipt, a lot, ...) were in the evidence
log when it signed one checkpoint, and have not changed since. This module checks it without the
database, the network or the platform's settings: stdlib, ``cryptography``, our pure ``merkle``,
``note`` and ``package_format`` modules, and (only for packages holding RFC 3161 tokens)
``rfc3161.verify_token``.

The checks, each failure naming the file, entry, proof or signature:

1. the zip: readable, known file names only, every CRC-32, byte for byte the canonical layout;
2. ``manifest.note``: signed by the log's key; every other file has the SHA-256 it lists;
3. ``checkpoint.note``: the log's signature, each witness cosignature, an optional quorum;
4. ``timestamps/*.tsr``: RFC 3161 tokens over the log-signed checkpoint note;
5. each entry: its leaf hash and inclusion proof to the checkpoint root, that it mentions the
   subject, and a disclosed payload against its salted ``payload_sha256``.

Keys not given by the caller are taken from the package, and the result says which: a package
checked with its own keys is shown intact, not shown to come from the log the reader trusts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coldpledge.evidence import merkle
from coldpledge.evidence.note import (
    COSIGNATURE_V1,
    Checkpoint,
    Note,
    NoteError,
    Signature,
    Verifier,
    cosignature_time,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_vkey,
)
from coldpledge.evidence.package_format import (
    CHECKPOINT,
    HEX64,
    LOG_KEY,
    MANIFEST,
    TSA_ROOTS,
    WITNESS_KEYS,
    Finding,
    FormatError,
    entry_file,
    expected_files,
    parse_manifest,
    parse_proof,
    payload_file,
    proof_file,
    read_zip,
    salt_file,
)


@dataclass(frozen=True)
class Trust:
    """What the verifier is given from outside the package (pinned); the rest comes from it."""

    log_key: str | None = None
    witness_keys: tuple[str, ...] = ()
    tsa_roots: bytes | None = None
    quorum: int = 0


@dataclass(frozen=True)
class EntryView:
    index: int
    record: dict[str, Any]
    leaf_hash: bytes
    disclosed: dict[str, Any] | None


@dataclass
class Verification:
    manifest: dict[str, Any] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    log_key: str | None = None
    log_key_pinned: bool = False
    witness_keys: list[str] = field(default_factory=list)
    witness_keys_pinned: bool = False
    tsa_roots_pinned: bool = False
    cosigned: list[tuple[str, datetime]] = field(default_factory=list)
    stamped: list[tuple[str, datetime]] = field(default_factory=list)
    entries: list[EntryView] = field(default_factory=list)
    passed: list[Finding] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.entries)

    def good(self, where: str, en: str, zh: str) -> None:
        self.passed.append(Finding(where, en, zh))

    def bad(self, where: str, en: str, zh: str) -> None:
        self.failures.append(Finding(where, en, zh))

    def as_json(self) -> dict[str, Any]:
        checkpoint = self.checkpoint
        return {
            "ok": self.ok,
            "subject": self.manifest.get("subject"),
            "refs": self.manifest.get("refs"),
            "origin": self.manifest.get("origin"),
            "tree_size": checkpoint.size if checkpoint else None,
            "root_hash": checkpoint.root.hex() if checkpoint else None,
            "log_key": {"vkey": self.log_key, "pinned": self.log_key_pinned},
            "witness_keys": {"vkeys": self.witness_keys, "pinned": self.witness_keys_pinned},
            "cosignatures": [{"witness": name, "time": time.isoformat()} for name, time in self.cosigned],
            "timestamps": [{"authority": name, "gen_time": time.isoformat()} for name, time in self.stamped],
            "entries": [
                {
                    "index": v.index,
                    "entry": v.record,
                    "leaf_hash": v.leaf_hash.hex(),
                    "disclosed": v.disclosed,
                }
                for v in self.entries
            ],
            "not_in_checkpoint": self.manifest.get("not_in_checkpoint", []),
            "failures": [vars(finding) for finding in self.failures],
            "checks": [vars(finding) for finding in self.passed],
        }


def verify_package(data: bytes, trust: Trust | None = None) -> Verification:
    """Check a whole package. Fails closed: what cannot be read is a failure, never skipped."""
    trust = trust or Trust()
    result = Verification()
    files, problems = read_zip(data)
    if files is None:
        result.failures += problems
        return result
    result.good("zip", f"{len(files)} files, intact byte for byte", f"{len(files)} 个文件，逐字节完好")
    try:
        verifier = _log_verifier(files, trust, result)
        manifest = _check_manifest(files, verifier, result)
        if manifest is not None:
            _check_contents(files, manifest, trust, verifier, result)
    except Exception as exc:  # a package is hostile input: whatever we did not foresee fails it
        result.bad("package", f"could not be checked ({exc!r})", f"无法核验（{exc!r}）")
    return result


def check_contents(files: Mapping[str, bytes], manifest: Mapping[str, Any], trust: Trust) -> Verification:
    """Check the checkpoint, its signatures and tokens, and every entry against it. The exporter
    runs this before the manifest exists, to write the result into the package's report."""
    result = Verification(manifest=dict(manifest))
    _check_contents(files, manifest, trust, _log_verifier(files, trust, result), result)
    return result


def _log_verifier(files: Mapping[str, bytes], trust: Trust, result: Verification) -> Verifier | None:
    packaged = files.get(LOG_KEY, b"").decode("utf-8", "replace").strip()
    try:
        verifier = parse_vkey(trust.log_key if trust.log_key is not None else packaged)
    except NoteError as exc:
        where = "--log-key" if trust.log_key is not None else LOG_KEY
        result.bad(where, f"not a verifier key ({exc})", f"不是有效的验证公钥（{exc}）")
        return None
    result.log_key, result.log_key_pinned = verifier.vkey, trust.log_key is not None
    if result.log_key_pinned and packaged != verifier.vkey:
        result.bad(LOG_KEY, "is not the pinned log key (--log-key)", "与指定的日志公钥（--log-key）不同")
    return verifier


def _check_manifest(
    files: Mapping[str, bytes], verifier: Verifier | None, result: Verification
) -> dict[str, Any] | None:
    try:
        note = parse_note(files[MANIFEST].decode())
    except (KeyError, UnicodeDecodeError, NoteError) as exc:
        result.bad(MANIFEST, f"missing or not a signed note ({exc})", f"缺失或不是签名文本（{exc}）")
        return None
    if verifier is not None:
        if _signed_by(note, verifier):
            result.good(
                MANIFEST, f"signed by the log key {verifier.name}", f"由日志公钥 {verifier.name} 签名"
            )
        else:
            result.bad(
                MANIFEST,
                f"has no valid signature by the log key {verifier.vkey}: the manifest was altered or "
                "made by someone else",
                f"没有日志公钥 {verifier.vkey} 的有效签名：清单已被改动或并非该日志所出",
            )
    try:
        manifest = parse_manifest(note.text)
    except FormatError as exc:
        result.bad(MANIFEST, f"unreadable: {exc.en}", f"无法解析：{exc.zh}")
        return None
    result.manifest = manifest
    listed: dict[str, str] = manifest["files"]
    expected = expected_files(manifest)
    failed_before = len(result.failures)
    for name in sorted(set(listed) | expected | (set(files) - {MANIFEST})):
        if name not in expected:
            result.bad(name, "is not a file this manifest describes", "不是清单所描述的文件")
        elif name not in listed:
            result.bad(name, "has no SHA-256 in the manifest", "清单中没有它的 SHA-256")
        elif name not in files:
            result.bad(name, "is in the manifest but missing from the package", "清单列出但证据包中缺失")
        elif hashlib.sha256(files[name]).hexdigest() != listed[name]:
            result.bad(
                name,
                "its SHA-256 differs from the manifest: the file was altered",
                "其 SHA-256 与清单不符：文件已被改动",
            )
    if len(result.failures) == failed_before:
        result.good(
            MANIFEST,
            f"every one of {len(listed)} files has its SHA-256",
            f"{len(listed)} 个文件的 SHA-256 均相符",
        )
    return manifest


def _signed_by(note: Note, verifier: Verifier, signature: Signature | None = None) -> bool:
    """Whether ``verifier`` signed ``note`` (only ``signature`` of it, if given) validly."""
    lines = signature.line if signature else "".join(s.line for s in note.signatures)
    try:
        _note, verified = open_note(note.text + "\n" + lines, [verifier])
    except NoteError:
        return False
    return bool(verified)


def _check_contents(
    files: Mapping[str, bytes],
    manifest: Mapping[str, Any],
    trust: Trust,
    log_verifier: Verifier | None,
    result: Verification,
) -> None:
    note_text = files.get(CHECKPOINT, b"").decode("utf-8", "replace")
    note = _check_checkpoint(note_text, manifest, log_verifier, result)
    if note is not None:
        _check_cosignatures(note, log_verifier, files, trust, result)
        _check_timestamps(note, log_verifier, manifest, files, trust, result)
    for index in manifest["entries"]:
        _check_entry(index, note_text, manifest, files, result)
    _check_subject(manifest, result)


def _check_checkpoint(
    note_text: str, manifest: Mapping[str, Any], log_verifier: Verifier | None, result: Verification
) -> Note | None:
    try:
        note = parse_note(note_text)
        checkpoint = parse_checkpoint(note.text)
    except NoteError as exc:
        result.bad(CHECKPOINT, f"missing or not a checkpoint ({exc})", f"缺失或不是检查点（{exc}）")
        return None
    result.checkpoint = checkpoint
    if (checkpoint.origin, checkpoint.size) != (manifest["origin"], manifest["tree_size"]):
        result.bad(
            CHECKPOINT,
            f"is of log {checkpoint.origin} at size {checkpoint.size}, not of {manifest['origin']} at "
            f"size {manifest['tree_size']} as the manifest says",
            f"属于日志 {checkpoint.origin}（大小 {checkpoint.size}），不是清单所写的 "
            f"{manifest['origin']}（大小 {manifest['tree_size']}）",
        )
    if log_verifier is None:
        return note
    where = f"{CHECKPOINT}, log signature"
    if log_verifier.name != checkpoint.origin:
        result.bad(
            where,
            f"the log key {log_verifier.name} is not the key of log {checkpoint.origin}",
            f"日志公钥 {log_verifier.name} 不属于日志 {checkpoint.origin}",
        )
    elif not any((s.name, s.key_id) == (log_verifier.name, log_verifier.key_id) for s in note.signatures):
        result.bad(
            where,
            f"not signed by the log key {log_verifier.vkey}",
            f"没有日志公钥 {log_verifier.vkey} 的签名",
        )
    elif not _signed_by(note, log_verifier):
        result.bad(where, "does not verify: the checkpoint was altered", "验证失败：检查点已被改动")
    else:
        result.good(
            CHECKPOINT,
            f"signed by the log: tree size {checkpoint.size}, root {checkpoint.root.hex()}",
            f"日志签名有效：树大小 {checkpoint.size}，根哈希 {checkpoint.root.hex()}",
        )
    return note


def _check_cosignatures(
    note: Note, log_verifier: Verifier | None, files: Mapping[str, bytes], trust: Trust, result: Verification
) -> None:
    result.witness_keys_pinned = bool(trust.witness_keys)
    keys = list(trust.witness_keys) or files.get(WITNESS_KEYS, b"").decode("utf-8", "replace").split()
    witnesses: list[Verifier] = []
    for key in keys:
        try:
            witness = parse_vkey(key)
        except NoteError as exc:
            where = "--witness-key" if trust.witness_keys else WITNESS_KEYS
            result.bad(where, f"holds an unreadable key ({exc})", f"含有无法读取的公钥（{exc}）")
            continue
        if witness.key_type == COSIGNATURE_V1:
            witnesses.append(witness)
            result.witness_keys.append(witness.vkey)
    cosigned: set[str] = set()
    for signature in note.signatures:
        if log_verifier is not None and signature.name == log_verifier.name:
            continue
        where = f"{CHECKPOINT}, cosignature of {signature.name}"
        known = next((w for w in witnesses if (w.name, w.key_id) == (signature.name, signature.key_id)), None)
        if known is None:
            result.good(where, "not counted: its key was not given", "未计入：未提供其公钥")
        elif not _signed_by(note, known, signature):
            result.bad(where, "does not verify", "验证失败")
        elif signature.name not in cosigned:
            cosigned.add(signature.name)
            moment = datetime.fromtimestamp(cosignature_time(signature), UTC)
            result.cosigned.append((signature.name, moment))
            result.good(
                where,
                f"valid: the witness had seen this checkpoint by {moment.isoformat()}",
                f"有效：见证方不晚于 {moment.isoformat()} 已见到此检查点",
            )
    if len(cosigned) < trust.quorum:
        result.bad(
            f"{CHECKPOINT}, cosignatures",
            f"{len(cosigned)} witnesses cosigned; the quorum asked for is {trust.quorum}",
            f"仅 {len(cosigned)} 个见证方联署，少于要求的 {trust.quorum} 个",
        )


def log_signed_note(note: Note, log_verifier: Verifier) -> bytes | None:
    """The checkpoint as the log signed it, before the witnesses' lines: the bytes the log sent
    to the timestamp authority."""
    for signature in note.signatures:
        if (signature.name, signature.key_id) == (log_verifier.name, log_verifier.key_id):
            return (note.text + "\n" + signature.line).encode()
    return None


def _check_timestamps(
    note: Note,
    log_verifier: Verifier | None,
    manifest: Mapping[str, Any],
    files: Mapping[str, bytes],
    trust: Trust,
    result: Verification,
) -> None:
    stamps: list[dict[str, str]] = manifest["timestamps"]
    if not stamps:
        return
    roots = trust.tsa_roots
    result.tsa_roots_pinned = roots is not None
    if roots is None and manifest["tsa_roots"]:
        roots = files.get(TSA_ROOTS)
    signed = log_signed_note(note, log_verifier) if log_verifier else None
    for stamp in stamps:
        name, authority = stamp["file"], stamp["authority"]
        token = files.get(name)
        if token is None:
            result.bad(name, "is missing", "缺失")
        elif roots is None:
            result.bad(
                name,
                "no root certificates to check it with (--tsa-roots)",
                "没有可用于核验的根证书（--tsa-roots）",
            )
        elif signed is None:
            result.bad(name, "cannot be checked without the log's signature", "缺少日志签名，无法核验")
        else:
            # Imported here: packages without tokens are checked without the timestamp code.
            from coldpledge.evidence.rfc3161 import TimestampError, verify_token

            try:
                moment = verify_token(token, signed, roots)
            except TimestampError as exc:
                result.bad(
                    name,
                    f"the token of {authority} does not verify: {exc}",
                    f"{authority} 的时间戳令牌验证失败：{exc}",
                )
                continue
            result.stamped.append((authority, moment))
            result.good(
                name,
                f"{authority}: the checkpoint existed no later than {moment.isoformat()}",
                f"{authority}：检查点不晚于 {moment.isoformat()} 已存在",
            )


_ENTRY_FIELDS = {"v", "type", "subject", "related", "at", "recorded_at", "actor", "payload_sha256"}


def _check_entry(
    index: int, note_text: str, manifest: Mapping[str, Any], files: Mapping[str, bytes], result: Verification
) -> None:
    where, path, proof = f"entry {index}", entry_file(index), proof_file(index)
    data = files.get(path)
    if data is None:
        result.bad(f"{where} ({path})", "is missing", "缺失")
        return
    leaf = merkle.leaf_hash(data)
    record = _parse_entry(data)
    if record is None:
        result.bad(f"{where} ({path})", "is not an evidence entry", "不是存证记录")
    checkpoint = result.checkpoint
    if proof not in files:
        result.bad(f"{where}, {proof}", "the inclusion proof is missing", "包含证明缺失")
    elif checkpoint is not None:
        try:
            hashes = parse_proof(files[proof], index, note_text)
        except FormatError as exc:
            result.bad(f"{where}, {proof}", exc.en, exc.zh)
        else:
            if merkle.verify_inclusion(index, checkpoint.size, leaf, hashes, checkpoint.root):
                result.good(
                    where,
                    f"leaf hash {leaf.hex()} is in the checkpoint",
                    f"叶哈希 {leaf.hex()} 包含在检查点中",
                )
            else:
                result.bad(
                    f"{where}, {proof}",
                    f"the inclusion proof does not lead from leaf hash {leaf.hex()} to the checkpoint's "
                    "root: the entry or its proof was altered",
                    f"包含证明无法从叶哈希 {leaf.hex()} 推出检查点根哈希：记录或证明已被改动",
                )
    if record is None:
        return
    if not {record["subject"], *record["related"]} & set(manifest["refs"]):
        result.bad(
            where, f"mentions none of {', '.join(manifest['refs'])}", f"未涉及 {'、'.join(manifest['refs'])}"
        )
    disclosed = _check_disclosure(index, record, manifest, files, result)
    result.entries.append(EntryView(index, record, leaf, disclosed))


def _parse_entry(data: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or set(record) != _ENTRY_FIELDS:
        return None
    texts = ("type", "subject", "at", "recorded_at", "actor", "payload_sha256")
    if not all(isinstance(record[key], str) for key in texts) or not HEX64.match(record["payload_sha256"]):
        return None
    if not isinstance(record["related"], list) or not all(isinstance(r, str) for r in record["related"]):
        return None
    return record


def _check_disclosure(
    index: int,
    record: Mapping[str, Any],
    manifest: Mapping[str, Any],
    files: Mapping[str, bytes],
    result: Verification,
) -> dict[str, Any] | None:
    if not manifest["disclosed"]:
        return None
    payload, salt_text = files.get(payload_file(index)), files.get(salt_file(index))
    where = f"entry {index}, {payload_file(index)}"
    try:
        salt = bytes.fromhex((salt_text or b"").decode())
        document = json.loads((payload or b"").decode())
    except (UnicodeDecodeError, ValueError):
        result.bad(
            where,
            "the disclosed payload or its salt is missing or unreadable",
            "披露内容或盐值缺失或无法读取",
        )
        return None
    if hashlib.sha256(salt + (payload or b"")).hexdigest() != record["payload_sha256"]:
        result.bad(
            where,
            "does not match the entry's payload_sha256: the disclosed payload or its salt was altered",
            "与记录中的 payload_sha256 不符：披露内容或盐值已被改动",
        )
        return None
    if not isinstance(document, dict) or set(document) != {"before", "after", "reason"}:
        result.bad(where, "is not a before/after/reason payload", "不是 before/after/reason 格式")
        return None
    result.good(where, "matches the entry's salted payload_sha256", "与记录中加盐的 payload_sha256 一致")
    return document


def _check_subject(manifest: Mapping[str, Any], result: Verification) -> None:
    """Every entry mentions the subject, or a ref that an entry about the subject links to it
    (a receipt's lots: their weighing, inspection and seals back the receipt)."""
    subject = manifest["subject"]
    direct = [v.record for v in result.entries if subject in {v.record["subject"], *v.record["related"]}]
    if not direct:
        result.bad(f"{MANIFEST}, subject", f"no entry mentions {subject}", f"没有任何记录涉及 {subject}")
    for ref in manifest["refs"]:
        if ref != subject and not any(ref in {r["subject"], *r["related"]} for r in direct):
            result.bad(
                f"{MANIFEST}, refs",
                f"no entry about {subject} links it to {ref}",
                f"没有涉及 {subject} 的记录把它与 {ref} 关联",
            )
