"""The human-readable verification report of an evidence package, in Chinese or English. Pure.

Written for bank staff and a court: what the package holds, which keys were trusted and where they
came from, every check with its result, the entries, and, as plainly as we can, what a passing
package proves and what it does not (《人民法院在线诉讼规则》第十六至十九条 weigh exactly that).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from coldpledge.evidence.package_format import LOG_KEY, TSA_ROOTS, WITNESS_KEYS
from coldpledge.evidence.verify import EntryView, Verification

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Evidence package verification report",
        "subject": "Subject",
        "linked": "with the lots it stands for",
        "log": "Log",
        "checkpoint": "Checkpoint",
        "size_root": "tree size {size}, root hash {root}",
        "created": "Package made",
        "result": "Result",
        "passed": "PASSED: every check below succeeded.",
        "failed": "FAILED: {count} problem(s), listed first. Do not rely on this package.",
        "at_export": (
            "This report was written by the log itself when it exported the package. It is not proof\n"
            "on its own: check the package yourself with `coldpledge verify`, using the log's key\n"
            "obtained separately."
        ),
        "trust": "Keys trusted",
        "log_pinned": "Log key (given by you, --log-key): {key}",
        "log_packaged": (
            "Log key (taken from the package, {file}): {key}\n"
            "  This shows the package is intact and consistent with itself, not that it comes from\n"
            "  the log you trust. Compare the key with the one the log publishes\n"
            "  (GET /api/v1/evidence/public-key), or verify again with --log-key."
        ),
        "witness_pinned": "Witness keys (given by you, --witness-key): {count}",
        "witness_packaged": "Witness keys (taken from the package, {file}; compare them): {count}",
        "cosigned": "  {name} cosigned: it had seen this checkpoint no later than {time}",
        "tsa_pinned": "Timestamp authority roots: given by you (--tsa-roots)",
        "tsa_packaged": "Timestamp authority roots: taken from the package ({file}); compare them",
        "stamped": "  {authority}: the checkpoint, and every entry in it, existed no later than {time}",
        "problems": "Problems",
        "unread": "The package could not be read, so nothing inside it was checked.",
        "checks": "Checks passed",
        "entries": "Entries",
        "by": "by",
        "recorded": "recorded {time}; also about: {related}",
        "commitment": "payload commitment (salted SHA-256): {digest}",
        "disclosed": "disclosed and checked against the commitment:",
        "reason": "reason",
        "left_out": (
            "Not in this package: later entries about the subject that were not yet in a signed\n"
            "checkpoint when it was made ({count}: {list}).\n"
            "Export again after the next checkpoint (normally seconds later)."
        ),
        "proves": "What a passing package proves",
        "proves_text": (
            "1. Each entry above is, byte for byte, leaf <index> of the log {origin}: its hash is\n"
            "   provably in the Merkle tree (RFC 9162) whose root the log signed in the checkpoint.\n"
            "   Changing, removing or reordering any entry changes that root, and the log is committed\n"
            "   to it.\n"
            "2. Each witness that cosigned had seen that checkpoint by the time it states, and refuses\n"
            "   any later state of the log that does not contain it: the log cannot show others another\n"
            "   version of its history without being caught.\n"
            "3. Each timestamp token, from an independent authority (RFC 3161), shows that the\n"
            "   checkpoint, and so every entry in it, existed no later than its time.\n"
            "4. A disclosed payload (before / after / reason) is exactly what its entry committed to:\n"
            "   its salted SHA-256 equals the entry's payload_sha256."
        ),
        "not_proves": "What it does not prove",
        "not_proves_text": (
            "1. That what was recorded was true when recorded (the goods, weights, photos): the log\n"
            "   shows a record has not changed since, not that it was right.\n"
            "2. The times inside entries (at, recorded_at) are the platform's own statement; only\n"
            '   timestamp tokens and cosignatures give independent times, as "no later than".\n'
            "3. That the package holds every entry about the subject: the exporter chose them. Entries\n"
            "   here cannot have been altered; entries not here are not shown to be absent.\n"
            "4. Who controls the log key, unless you compared it with a copy obtained independently.\n"
            "5. Photos and documents appear only as their SHA-256 (attachment:<hash>): to check one,\n"
            "   compute the SHA-256 of the file and compare.\n"
            "6. Without disclosure, only commitments to the changes (salted hashes); the platform can\n"
            "   disclose a payload and its salt later, and anyone can check it against the entry."
        ),
        "how": "How to check it yourself",
        "how_text": (
            "With coldpledge, offline:\n"
            "  coldpledge verify PACKAGE.zip --log-key '<the log key>' [--witness-key '<key>' ...]\n"
            "                                [--tsa-roots roots.pem] [--quorum N]\n"
            "Without coldpledge, with any RFC 9162 / C2SP implementation:\n"
            "  - leaf hash = SHA-256(0x00 || the bytes of entries/<index>.json);\n"
            "  - proofs/<index>.tlog-proof is a C2SP tlog-proof: that leaf's inclusion proof in the\n"
            "    checkpoint (RFC 9162 section 2.1.3.2);\n"
            "  - checkpoint.note is a C2SP signed note (Ed25519), checked with the log key; witness\n"
            "    lines are C2SP tlog-cosignature/v1;\n"
            "  - timestamps/<n>.tsr are RFC 3161 responses over the checkpoint note as the log signed\n"
            "    it (the text, a blank line and the log's own signature line);\n"
            "  - payload_sha256 = SHA-256(salt || the bytes of disclosed/<index>.json);\n"
            "  - manifest.note is signed by the log key and lists the SHA-256 of every other file."
        ),
    },
    "zh": {
        "title": "证据包核验报告",
        "subject": "核验对象",
        "linked": "及其所代表的货物批次",
        "log": "存证日志",
        "checkpoint": "检查点",
        "size_root": "树大小 {size}，根哈希 {root}",
        "created": "证据包生成时间",
        "result": "核验结论",
        "passed": "通过：以下各项核验均成功。",
        "failed": "不通过：发现 {count} 个问题（列于最前）。请勿依赖此证据包。",
        "at_export": (
            "本报告由存证日志在导出证据包时自行生成，本身不构成证明：\n"
            "请使用 `coldpledge verify` 自行核验，并使用另行取得的日志公钥。"
        ),
        "trust": "所信任的公钥",
        "log_pinned": "日志公钥（由您指定，--log-key）：{key}",
        "log_packaged": (
            "日志公钥（取自证据包内 {file}）：{key}\n"
            "  这只能说明证据包完整且自洽，不能说明它出自您所信任的日志。\n"
            "  请将该公钥与日志公布的公钥（GET /api/v1/evidence/public-key）比对，\n"
            "  或使用 --log-key 重新核验。"
        ),
        "witness_pinned": "见证方公钥（由您指定，--witness-key）：{count} 个",
        "witness_packaged": "见证方公钥（取自证据包内 {file}，请与各见证方核对）：{count} 个",
        "cosigned": "  {name} 已联署：不晚于 {time} 已见到此检查点",
        "tsa_pinned": "时间戳机构根证书：由您指定（--tsa-roots）",
        "tsa_packaged": "时间戳机构根证书：取自证据包内 {file}，请与该机构公布的根证书核对",
        "stamped": "  {authority}：检查点及其中每条记录不晚于 {time} 已存在",
        "problems": "发现的问题",
        "unread": "证据包无法读取，其中内容均未核验。",
        "checks": "通过的核验项",
        "entries": "存证记录",
        "by": "操作人",
        "recorded": "写入时间 {time}；亦涉及：{related}",
        "commitment": "内容承诺值（加盐 SHA-256）：{digest}",
        "disclosed": "已披露，并已与承诺值核对一致：",
        "reason": "原因",
        "left_out": (
            "未包含：导出时另有关于该对象的较新记录尚未进入已签名的检查点（{count} 条：{list}）。\n"
            "请在下一个检查点生成后（通常几秒内）重新导出。"
        ),
        "proves": "核验通过说明什么",
        "proves_text": (
            "1. 上列每条记录逐字节就是日志 {origin} 的第 <序号> 个叶子：\n"
            "   其哈希可证明地包含在日志签名的检查点所对应的默克尔树（RFC 9162）中。\n"
            "   任何记录被修改、删除或调换顺序，根哈希都会改变，而日志已对该根哈希签名承诺。\n"
            "2. 每个联署的见证方在其声明的时间之前已见到该检查点，并会拒绝此后不包含它的\n"
            "   任何日志状态：日志无法在不被发现的情况下向他人展示另一版本的历史。\n"
            "3. 每个来自独立时间戳机构（RFC 3161）的时间戳令牌证明：\n"
            "   该检查点及其中每条记录不晚于令牌时间已存在。\n"
            "4. 已披露的内容（变更前 / 变更后 / 原因）正是该记录所承诺的内容：\n"
            "   其加盐 SHA-256 与记录中的 payload_sha256 一致。"
        ),
        "not_proves": "核验通过不能说明什么",
        "not_proves_text": (
            "1. 不能说明记录的内容在记录时真实（货物、重量、照片）：日志只证明记录此后\n"
            "   未被改动，不证明其正确（上链前的真实性另需审查）。\n"
            "2. 记录内的时间（at、recorded_at）是平台自己的陈述；只有时间戳令牌和见证方\n"
            "   联署给出独立的“不晚于”时间。\n"
            "3. 不能说明证据包包含了关于该对象的全部记录：记录由导出方选取。\n"
            "   包内的记录不可能被改动，但包外的记录并未被证明不存在。\n"
            "4. 除非您已将日志公钥与独立取得的副本核对，否则不能说明日志公钥由谁控制。\n"
            "5. 照片和单据只以其 SHA-256 出现（attachment:<哈希>）：如需核对，\n"
            "   请计算文件的 SHA-256 并比对。\n"
            "6. 未披露时只有变更内容的承诺值（加盐哈希）；平台可事后披露内容及其盐值，\n"
            "   任何人都可据记录核对。"
        ),
        "how": "如何自行核验",
        "how_text": (
            "使用 coldpledge（离线）：\n"
            "  coldpledge verify 证据包.zip --log-key '<日志公钥>' [--witness-key '<公钥>' ...]\n"
            "                               [--tsa-roots roots.pem] [--quorum N]\n"
            "不使用 coldpledge，可用任何 RFC 9162 / C2SP 实现：\n"
            "  - 叶哈希 = SHA-256(0x00 || entries/<序号>.json 的字节)；\n"
            "  - proofs/<序号>.tlog-proof 为 C2SP tlog-proof：\n"
            "    该叶在检查点中的包含证明（RFC 9162 第 2.1.3.2 节）；\n"
            "  - checkpoint.note 为 C2SP 签名文本（Ed25519），用日志公钥核验；\n"
            "    见证方签名行为 C2SP tlog-cosignature/v1；\n"
            "  - timestamps/<n>.tsr 为 RFC 3161 时间戳响应，其对象是日志签名时的检查点文本\n"
            "    （正文、空行及日志自己的签名行）；\n"
            "  - payload_sha256 = SHA-256(盐值 || disclosed/<序号>.json 的字节)；\n"
            "  - manifest.note 由日志公钥签名，列出其他每个文件的 SHA-256。"
        ),
    },
}


def render(result: Verification, lang: str, *, at_export: bool = False) -> str:
    words = _WORDS["zh" if lang == "zh" else "en"]
    manifest = result.manifest
    lines = [words["title"], "=" * 40]
    if not manifest:
        verdict = words["failed"].format(count=max(len(result.failures), 1))
        lines += [f"{words['result']}: {verdict}", "", words["unread"], "", words["problems"]]
        return "\n".join([*lines, *(f"  ✗ {finding.text(lang)}" for finding in result.failures)]) + "\n"
    subject = manifest.get("subject", "?")
    linked = [ref for ref in manifest.get("refs", []) if ref != subject]
    lines.append(
        f"{words['subject']}: {subject}" + (f" ({words['linked']}: {', '.join(linked)})" if linked else "")
    )
    lines.append(f"{words['log']}: {manifest.get('origin', '?')}")
    if result.checkpoint is not None:
        size_root = words["size_root"].format(size=result.checkpoint.size, root=result.checkpoint.root.hex())
        lines.append(f"{words['checkpoint']}: {size_root}")
    lines.append(f"{words['created']}: {manifest.get('created_at', '?')}")
    verdict = words["passed"] if result.ok else words["failed"].format(count=max(len(result.failures), 1))
    lines += [f"{words['result']}: {verdict}", ""]
    if at_export:
        lines += [words["at_export"], ""]
    lines += _trust(result, words)
    if result.failures:
        lines += ["", f"{words['problems']} ({len(result.failures)})"]
        lines += [f"  ✗ {finding.text(lang)}" for finding in result.failures]
    lines += ["", f"{words['checks']} ({len(result.passed)})"]
    lines += [f"  ✓ {finding.text(lang)}" for finding in result.passed]
    lines += ["", f"{words['entries']} ({len(result.entries)})"]
    for view in result.entries:
        lines += _entry(view, words)
    left_out: list[Mapping[str, Any]] = manifest.get("not_in_checkpoint", [])
    if left_out:
        listed = ", ".join(f"{item.get('type')} {item.get('at')}" for item in left_out)
        lines += ["", words["left_out"].format(count=len(left_out), list=listed)]
    origin = manifest.get("origin", "?")
    for heading, text in (("proves", "proves_text"), ("not_proves", "not_proves_text"), ("how", "how_text")):
        lines += ["", words[heading], words[text].format(origin=origin)]
    return "\n".join(lines) + "\n"


def _trust(result: Verification, words: Mapping[str, str]) -> list[str]:
    lines = [words["trust"]]
    if result.log_key_pinned:
        lines.append(words["log_pinned"].format(key=result.log_key))
    else:
        lines.append(words["log_packaged"].format(key=result.log_key or "?", file=LOG_KEY))
    count = len(result.witness_keys)
    if result.witness_keys_pinned:
        lines.append(words["witness_pinned"].format(count=count))
    else:
        lines.append(words["witness_packaged"].format(count=count, file=WITNESS_KEYS))
    lines += [words["cosigned"].format(name=name, time=time.isoformat()) for name, time in result.cosigned]
    if result.manifest.get("timestamps"):
        lines.append(
            words["tsa_pinned"] if result.tsa_roots_pinned else words["tsa_packaged"].format(file=TSA_ROOTS)
        )
        lines += [words["stamped"].format(authority=a, time=t.isoformat()) for a, t in result.stamped]
    return lines


def _entry(view: EntryView, words: Mapping[str, str]) -> list[str]:
    record = view.record
    head = f"  #{view.index}  {record['at']}  {record['type']}  {record['subject']}"
    lines = [
        f"{head}  {words['by']} {record['actor']}",
        "      "
        + words["recorded"].format(time=record["recorded_at"], related=", ".join(record["related"]) or "-"),
        "      " + words["commitment"].format(digest=record["payload_sha256"]),
    ]
    if view.disclosed is not None:
        lines.append("      " + words["disclosed"])
        before, after = view.disclosed.get("before") or {}, view.disclosed.get("after") or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                lines.append(f"        {key}: {_short(before.get(key))} → {_short(after.get(key))}")
        if view.disclosed.get("reason"):
            lines.append(f"        {words['reason']}: {view.disclosed['reason']}")
    return lines


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."
