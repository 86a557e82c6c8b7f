"""The evidence package (证据包) format: its file names, manifest, proofs and zip layout. Pure.

A package is a zip holding::

    manifest.note              signed note (log key): JSON with format, origin, subject, refs,
                               created_at, tree_size, entries, not_in_checkpoint, disclosed,
                               timestamps, tsa_roots and the SHA-256 of every other file
    checkpoint.note            the checkpoint: log signature, then witness cosignatures
    entries/<index>.json       the exact bytes of leaf <index> (RFC 8785 JSON)
    proofs/<index>.tlog-proof  C2SP tlog-proof: the RFC 9162 inclusion proof + the checkpoint
    disclosed/<index>.json     (--disclose) the exact bytes whose salted hash is payload_sha256
    disclosed/<index>.salt     (--disclose) that salt, hex
    timestamps/<n>.tsr         RFC 3161 tokens over the log-signed checkpoint note
    timestamps/roots.pem       the timestamp authority's root certificates, if configured
    keys/log.vkey              the log's C2SP verifier key
    keys/witnesses.vkey        the registered witnesses' verifier keys, one a line
    report.zh-CN.txt, report.en.txt   what the package holds and the check made at export

The zip is written one way only (``write_zip``: stored, fixed dates and modes, no extras), so a
reader can rebuild it from its files and demand the same bytes: then no byte of the zip, not even
a date or an attribute the zip format ignores, can change unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coldpledge.evidence.merkle import HASH_SIZE

FORMAT = "coldpledge.evidence-package/v1"
MANIFEST = "manifest.note"
CHECKPOINT = "checkpoint.note"
LOG_KEY = "keys/log.vkey"
WITNESS_KEYS = "keys/witnesses.vkey"
TSA_ROOTS = "timestamps/roots.pem"
REPORTS = {"zh": "report.zh-CN.txt", "en": "report.en.txt"}
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
_INDEX = r"(0|[1-9][0-9]{0,17})"
_TOKEN = re.compile(r"^timestamps/[1-9][0-9]{0,3}\.tsr$")
_MEMBER = re.compile(
    rf"^(entries/{_INDEX}\.json|proofs/{_INDEX}\.tlog-proof|disclosed/{_INDEX}\.(json|salt))$"
)
_FIXED = {MANIFEST, CHECKPOINT, LOG_KEY, WITNESS_KEYS, TSA_ROOTS, *REPORTS.values()}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def entry_file(index: int) -> str:
    return f"entries/{index}.json"


def proof_file(index: int) -> str:
    return f"proofs/{index}.tlog-proof"


def payload_file(index: int) -> str:
    return f"disclosed/{index}.json"


def salt_file(index: int) -> str:
    return f"disclosed/{index}.salt"


def token_file(number: int) -> str:
    return f"timestamps/{number}.tsr"


@dataclass(frozen=True)
class Finding:
    """One check's outcome, naming what was checked (a file, an entry, a signature), in both
    languages of the report."""

    where: str
    en: str
    zh: str

    def text(self, lang: str) -> str:
        return f"{self.where}: {self.zh if lang == 'zh' else self.en}"


class FormatError(ValueError):
    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


# --- the manifest -----------------------------------------------------------------------------

MANIFEST_FIELDS: dict[str, type] = {
    "format": str,
    "origin": str,
    "subject": str,
    "refs": list,
    "created_at": str,
    "tree_size": int,
    "entries": list,
    "not_in_checkpoint": list,
    "disclosed": bool,
    "timestamps": list,
    "tsa_roots": bool,
    "files": dict,
}


def manifest_text(manifest: Mapping[str, Any]) -> str:
    """The signed text of a manifest: sorted, indented JSON, one trailing newline."""
    return json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def parse_manifest(text: str) -> dict[str, Any]:
    """The manifest, strictly: exactly its fields, each of its type."""
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"not JSON ({exc})", f"不是 JSON（{exc}）") from exc
    if not isinstance(manifest, dict) or set(manifest) != set(MANIFEST_FIELDS):
        raise FormatError("its fields are not those of a package manifest", "字段不是证据包清单的字段")
    if manifest["format"] != FORMAT:
        raise FormatError(
            f"format {manifest['format']!r} is not {FORMAT}", f"格式 {manifest['format']!r} 不是 {FORMAT}"
        )
    for key, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest[key], kind) or (kind is int and isinstance(manifest[key], bool)):
            raise FormatError(f"field {key!r} has the wrong type", f"字段 {key!r} 类型错误")
    entries = manifest["entries"]
    if not all(type(i) is int and i >= 0 for i in entries) or entries != sorted(set(entries)):
        raise FormatError(
            "entries are not distinct leaf indices in order", "entries 不是升序且不重复的叶序号"
        )
    refs = manifest["refs"]
    if not all(isinstance(r, str) for r in refs) or manifest["subject"] not in refs:
        raise FormatError("refs are not strings including the subject", "refs 须为字符串并包含对象本身")
    if not all(isinstance(v, str) and HEX64.match(v) for v in manifest["files"].values()):
        raise FormatError("files does not map names to hex SHA-256", "files 须把文件名映射到十六进制 SHA-256")
    for stamp in manifest["timestamps"]:
        if not isinstance(stamp, dict) or set(stamp) != {"file", "authority"}:
            raise FormatError("a timestamp lacks its file or authority", "时间戳缺少文件或机构")
        if not isinstance(stamp["file"], str) or not _TOKEN.match(stamp["file"]):
            raise FormatError("a timestamp file is not timestamps/N.tsr", "时间戳文件名不是 timestamps/N.tsr")
    return dict(manifest)


def expected_files(manifest: Mapping[str, Any]) -> set[str]:
    """Every file a package with this manifest holds, besides the manifest itself."""
    expected = {CHECKPOINT, LOG_KEY, WITNESS_KEYS, *REPORTS.values()}
    for index in manifest["entries"]:
        expected |= {entry_file(index), proof_file(index)}
        if manifest["disclosed"]:
            expected |= {payload_file(index), salt_file(index)}
    expected |= {stamp["file"] for stamp in manifest["timestamps"]}
    if manifest["tsa_roots"]:
        expected.add(TSA_ROOTS)
    return expected


# --- proofs (c2sp.org/tlog-proof) -------------------------------------------------------------


def proof_text(index: int, hashes: Sequence[bytes], checkpoint_note: str) -> str:
    """Header, index, sibling hashes from the leaf up (base64), a blank line, the checkpoint."""
    lines = [PROOF_HEADER, f"index {index}", *(base64.b64encode(h).decode() for h in hashes)]
    return "\n".join(lines) + "\n\n" + checkpoint_note


def parse_proof(data: bytes, index: int, checkpoint_note: str) -> list[bytes]:
    """The inclusion proof hashes of a tlog-proof for ``index`` whose checkpoint is exactly
    ``checkpoint_note``. No ``extra`` line: our packages never write one."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise FormatError("the proof is not UTF-8 text", "证明不是 UTF-8 文本") from exc
    head, separator, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or len(lines) < 2 or lines[0] != PROOF_HEADER:
        raise FormatError(f"not a {PROOF_HEADER} proof", f"不是 {PROOF_HEADER} 格式的证明")
    if lines[1] != f"index {index}":
        raise FormatError(
            f"the proof says {lines[1]!r}, not index {index}", f"证明写的是 {lines[1]!r}，不是序号 {index}"
        )
    if checkpoint != checkpoint_note:
        raise FormatError(
            f"the proof's checkpoint differs from {CHECKPOINT}", f"证明中的检查点与 {CHECKPOINT} 不同"
        )
    hashes = []
    for number, line in enumerate(lines[2:], start=1):
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            value = b""
        if len(value) != HASH_SIZE:
            raise FormatError(
                f"proof hash {number} is not 32 bytes of base64",
                f"第 {number} 个证明哈希不是 32 字节的 base64",
            )
        hashes.append(value)
    return hashes


# --- the zip ----------------------------------------------------------------------------------

# Every file is stored (deflate output differs between zlib builds), dated 1980-01-01 (the
# earliest a zip can say; the real time is in the manifest), mode 0644, made on Unix by zip 2.0.
_DOS_DATE = (1 << 5) | 1
_MADE_BY = (3 << 8) | 20
_MODE = 0o100644 << 16


def _layout(members: Sequence[tuple[str, bytes]]) -> tuple[bytes, list[tuple[int, str, str]]]:
    """The canonical zip of ``members``, and where each part of it starts (English and Chinese
    names), so that a byte that differs can be named."""
    if len(members) >= 0xFFFF:
        raise ValueError("too many files for a package")
    local, central = bytearray(), bytearray()
    parts: list[tuple[int, str, str]] = []
    directory: list[tuple[int, str, str]] = []
    for name, data in members:
        raw = name.encode("ascii")
        crc, size, offset = zlib.crc32(data), len(data), len(local)
        parts.append((offset, f"the local header of {name}", f"{name} 的文件头"))
        parts.append((offset + 30 + len(raw), f"the data of {name}", f"{name} 的内容"))
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, _DOS_DATE, crc, size, size, len(raw), 0)
        local += raw + data
        directory.append((len(central), f"the central directory entry of {name}", f"{name} 的中央目录项"))
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, _MADE_BY, 20, 0, 0, 0, _DOS_DATE, crc, size, size,
            len(raw), 0, 0, 0, 0, _MODE, offset,
        )  # fmt: skip
        central += raw
    if len(local) + len(central) >= 0xFFFFFFFF:
        raise ValueError("the package is too large for a zip without zip64")
    parts += [(len(local) + at, en, zh) for at, en, zh in directory]
    parts.append((len(local) + len(central), "the end-of-central-directory record", "中央目录结束记录"))
    count = len(members)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(local), 0)
    return bytes(local + central + end), parts


def write_zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    return _layout(members)[0]


def read_zip(data: bytes) -> tuple[dict[str, bytes] | None, list[Finding]]:
    """The files of a package in zip order, or None and what is wrong with the zip. Fails closed:
    a file it does not know, a second copy, a bad CRC-32, or any byte off the canonical layout."""
    if len(data) > MAX_PACKAGE_BYTES:
        return None, [
            Finding("zip", "larger than any package the log writes", "大于日志可能生成的任何证据包")
        ]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as exc:  # whatever zipfile trips on, the package cannot be read, so not trusted
        return None, [Finding("zip", f"not a readable zip file ({exc})", f"不是可读的 zip 文件（{exc}）")]
    files: dict[str, bytes] = {}
    problems: list[Finding] = []
    for info in infos:
        name = info.filename
        if name in files:
            problems.append(Finding(name, "is in the zip twice", "在 zip 中出现两次"))
        elif name not in _FIXED and not _MEMBER.match(name) and not _TOKEN.match(name):
            problems.append(
                Finding(name, "is not a file an evidence package holds", "不是证据包会包含的文件")
            )
        elif info.compress_type != zipfile.ZIP_STORED:
            problems.append(
                Finding(
                    name, "is compressed; packages store files as they are", "被压缩过；证据包原样存储文件"
                )
            )
        else:
            try:
                files[name] = archive.read(info)
            except Exception as exc:  # a bad CRC-32 or header: the file was damaged or altered
                problems.append(Finding(name, f"is damaged in the zip ({exc})", f"在 zip 中已损坏（{exc}）"))
    if problems:
        return None, problems
    canonical, parts = _layout(list(files.items()))
    if canonical != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b), len(canonical)
        )
        _start, en, zh = next((part for part in reversed(parts) if part[0] <= at), (0, "the start", "开头"))
        return None, [
            Finding(
                "zip",
                f"byte {at} ({en}) is not what the log wrote: the zip was altered",
                f"第 {at} 字节（{zh}）与日志写出的不同：zip 文件已被改动",
            )
        ]
    return files, []
