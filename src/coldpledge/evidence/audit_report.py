"""What the evidence audit found: findings, the report, and the paging all its checks share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

import coldpledge.models  # noqa: F401 - registers every model, so no evidenced type is skipped


@dataclass(frozen=True)
class Finding:
    """One thing that no longer agrees. ``problem`` is False for a notice (entries waiting to be
    sequenced), which does not make the audit fail."""

    kind: str
    objects: tuple[str, ...]
    message: str
    problem: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "objects": list(self.objects),
            "message": self.message,
            "problem": self.problem,
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    # How many findings of each kind there were, listed or not (only ``limit`` per kind are kept).
    counts: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)
    unsequenced: int = 0
    limit: int = 100

    @property
    def clean(self) -> bool:
        return not any(finding.problem for finding in self.findings)

    @property
    def problems(self) -> int:
        return sum(count for kind, count in self.counts.items() if kind != "unsequenced")

    def add(self, kind: str, objects: Sequence[str], message: str, *, problem: bool = True) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= self.limit:
            self.findings.append(Finding(kind, tuple(objects), message, problem))

    def of_kind(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "checked": dict(self.checked),
            "counts": dict(self.counts),
            "unsequenced": self.unsequenced,
            "findings": [finding.as_json() for finding in self.findings],
        }

    def lines(self) -> list[str]:
        """The summary in Chinese and English, then one line per finding."""
        checked = " · ".join(
            f"{CHECKED_LABELS.get(what, what)} {count}" for what, count in self.checked.items()
        )
        verdict = (
            "未发现篡改 · no tampering found"
            if self.clean
            else f"发现 {self.problems} 处问题 · {self.problems} problem(s) found"
        )
        lines = ["证据日志审计 · Evidence log audit", f"已检查 checked: {checked}", f"结果 result: {verdict}"]
        if self.unsequenced:
            lines.append(f"待排序 waiting for the sequencer: {self.unsequenced}")
        lines += [f"[{KIND_LABELS.get(f.kind, f.kind)}] {f.message}" for f in self.findings if f.problem]
        hidden = {kind: count - self.limit for kind, count in self.counts.items() if count > self.limit}
        lines += [f"… 另有 {n} 条 and {n} more: {KIND_LABELS.get(kind, kind)}" for kind, n in hidden.items()]
        return lines


KIND_LABELS = {
    "leaf_missing": "叶子缺失 leaf missing",
    "leaf_order": "叶子顺序被改 leaves reordered",
    "leaf_orphaned": "叶子无条目 leaf without entry",
    "leaf_content": "条目与叶子不符 entry does not match its leaf",
    "tile_missing": "树哈希缺失 tree hashes missing",
    "tile_size": "树瓦片长度不符 tile of the wrong size",
    "tile_mismatch": "树哈希被改 tree hash edited",
    "checkpoint_order": "检查点顺序不符 checkpoints out of order",
    "checkpoint_beyond_log": "检查点超出日志 checkpoint beyond the log",
    "checkpoint_root": "检查点根哈希不符 checkpoint root does not match",
    "checkpoint_signature": "检查点签名无效 checkpoint signature invalid",
    "checkpoint_mismatch": "检查点记录与签名不符 checkpoint row differs from its note",
    "entry_hash": "条目哈希不符 entry sha256 does not match",
    "entry_without_event": "条目无审计事件 entry without audit event",
    "entry_mismatch": "条目与审计事件不符 entry differs from its audit event",
    "payload_mismatch": "审计内容被改 audit payload edited",
    "event_with_two_entries": "审计事件多条目 audit event with two entries",
    "event_without_entry": "审计事件无条目 audit event without entry",
    "entry_skipped": "条目被跳过 entry skipped",
    "row_deleted": "业务记录被删除 row deleted without evidence",
    "row_changed": "业务记录被改 row changed without evidence",
}
CHECKED_LABELS = {
    "leaves": "叶子 leaves",
    "tiles": "瓦片 tiles",
    "checkpoints": "检查点 checkpoints",
    "outbox entries": "条目 entries",
    "audit events": "审计事件 audit events",
    "business rows": "业务记录 business rows",
}


def pages(session: Session, query: Select[*tuple[Any, ...]], key: Any, batch: int) -> Iterator[Sequence[Any]]:
    """Rows of ``query`` in ``key`` order (its first column), ``batch`` at a time: keyset pagination,
    so each page is one indexed range scan and nothing holds the whole table."""
    last: Any = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = session.execute(page.order_by(key).limit(batch)).all()
        if rows:
            yield rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def keyset(session: Session, query: Select[*tuple[Any, ...]], key: Any, batch: int) -> Iterator[Any]:
    for page in pages(session, query, key, batch):
        yield from page


def raw(value: bytes | str) -> bytes:
    """A blob column as bytes, even where someone wrote text into it (SQLite keeps what it gets)."""
    return value.encode() if isinstance(value, str) else bytes(value)
