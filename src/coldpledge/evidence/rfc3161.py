"""RFC 3161 timestamps: asking an authority and checking its tokens. Pure of the database, so
the offline package verifier can use it on a machine with nothing but the package.

A timestamp authority (TSA) signs, with a certificate good for nothing else, "this digest existed
at genTime". We send it the SHA-256 of a checkpoint's signed note, exactly the bytes we stored, so
a token proves one thing: **this checkpoint existed no later than genTime** (within the accuracy
the authority states). It says nothing about how long before genTime the checkpoint was made. With
an inclusion proof to the checkpoint, it proves the same for every entry of the tree; later
checkpoints reach back to earlier ones by consistency proofs, so a checkpoint the authority never
saw (it was down) is covered by the next one it stamped.

None of this needs trust in us: ``verify_token`` checks a token with nothing but the note, the
token and the authority's root certificates, offline (the evidence package verifier calls it).

Timestamping is best effort. When the authority is down or answers nonsense, ``stamp_latest`` logs
it and stores nothing; the checkpoint stays unstamped and the next round asks again. No transaction
or lock is held while the authority is asked, so other writers and workers never wait on it.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# A response is a signature and a few certificates (1-10 KB); anything far bigger is not one.
MAX_RESPONSE_BYTES = 1024 * 1024


class TimestampError(Exception):
    """A token could not be obtained, or does not prove what it should. The message says which
    and what to do about it."""


# --- asking an authority ---------------------------------------------------------------------


def request_token(url: str, data: bytes, *, timeout: float = 10) -> tuple[bytes, int]:
    """Ask the authority at ``url`` to timestamp SHA-256(``data``). Returns the response exactly
    as the authority sent it (a DER TimeStampResp, the thing to keep) and the request's nonce.

    The token is not verified here; ``verify_token`` does that, with the nonce.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TimestampError(f"the timestamp authority URL {url!r} must start with http:// or https://")
    # A random nonce ties the answer to this request (no replayed token); cert_req asks the
    # authority to include its certificate, so the token can be checked with the roots alone.
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    nonce = request.nonce
    if nonce is None:
        raise TimestampError("the timestamp request was built without a nonce")
    post = urllib.request.Request(  # noqa: S310 - the scheme was checked above
        url,
        data=request.as_bytes(),
        headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
        method="POST",
    )
    try:
        with urllib.request.urlopen(post, timeout=timeout) as answer:  # noqa: S310 - scheme checked
            raw: bytes = answer.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(
            f"the timestamp authority at {url} answered HTTP {exc.code} {exc.reason}; "
            "it is down or refused the request, try again later"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise TimestampError(f"could not reach the timestamp authority at {url}: {reason}") from exc
    if len(raw) > MAX_RESPONSE_BYTES:
        raise TimestampError(f"the timestamp authority at {url} sent more than {MAX_RESPONSE_BYTES} bytes")
    response = _parse(raw, f"the answer of {url}")
    if response.status != PKIStatus.GRANTED:
        said = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(
            f"the timestamp authority at {url} did not grant a timestamp "
            f"(status {_status_name(response.status)}: {said})"
        )
    try:
        response.tst_info  # noqa: B018 - parsed on access; a grant must carry a token
    except ValueError as exc:
        raise TimestampError(f"the timestamp authority at {url} granted but sent no token ({exc})") from exc
    return raw, nonce


# --- checking a token ------------------------------------------------------------------------


def verify_token(token: bytes, data: bytes, roots_pem: bytes, *, nonce: int | None = None) -> datetime:
    """Check that ``token`` (a DER TimeStampResp) timestamps exactly ``data``, was signed by a
    timestamping certificate that chains to one of ``roots_pem`` (valid at genTime), and, when
    ``nonce`` is given, answers the request of that nonce. Returns genTime, aware UTC.

    Pure: no database, no network; the offline package verifier relies on that.
    """
    try:
        roots = x509.load_pem_x509_certificates(roots_pem)
    except ValueError as exc:
        raise TimestampError(
            f"the trusted timestamp roots are not PEM certificates ({exc}); "
            "give the PEM file of the authority's root certificate"
        ) from exc
    response = _parse(token, "the timestamp token")
    builder = VerifierBuilder()
    for root in dict.fromkeys(roots):  # the library refuses the same root twice
        builder = builder.add_root_certificate(root)
    if nonce is not None:
        if nonce < 0:
            raise TimestampError(f"a request nonce is never negative, got {nonce}")
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(response, data)
        gen_time = response.tst_info.gen_time
    except VerificationError as exc:
        raise TimestampError(_explain(str(exc))) from exc
    except ValueError as exc:  # the library's word for a part that is missing or malformed
        raise TimestampError(f"the timestamp token is incomplete ({exc})") from exc
    return gen_time.astimezone(UTC)


def _explain(reason: str) -> str:
    """The library's reason, preceded by what it means for the evidence and what to do."""
    if "Mismatch between messages" in reason:
        meaning = (
            "the token timestamps other bytes than the ones given: the checkpoint note was altered, "
            "or the token belongs to another checkpoint"
        )
    elif "Nonce mismatch" in reason:
        meaning = "the token answers another request (its nonce differs); it may be replayed, ask again"
    elif "purpose" in reason or "EKU" in reason:
        meaning = (
            "the signing certificate is not a timestamping certificate (RFC 3161 §2.3 requires a "
            "critical extendedKeyUsage of id-kp-timeStamping alone); do not trust this authority"
        )
    elif "verifying certificates" in reason:
        meaning = (
            "the token's signature does not chain to the trusted roots: it comes from another "
            "authority, its certificate was not valid at genTime, or it was forged; check the roots file"
        )
    elif "not GRANTED" in reason:
        meaning = "the authority did not grant this token"
    else:
        meaning = "the timestamp token does not verify"
    return f"{meaning} ({reason})"


def _parse(raw: bytes, what: str) -> TimeStampResponse:
    try:
        return decode_timestamp_response(_certificates_in_der_order(raw))
    except ValueError as exc:
        raise TimestampError(f"{what} is not an RFC 3161 timestamp response ({exc})") from exc


def _status_name(status: int) -> str:
    try:
        return PKIStatus(status).name.lower()
    except ValueError:
        return str(status)


# --- DER order of the certificate set ---------------------------------------------------------
#
# SignedData.certificates is a SET OF, which DER sorts by encoding. OpenSSL's TSA (and others that
# send their chain) writes it in chain order, signer first, and rfc3161-client refuses to parse
# such a set. The set is outside what the authority signed and its order carries no meaning, so
# we sort a copy before parsing; the stored token stays byte for byte what the authority sent.


def _certificates_in_der_order(token: bytes) -> bytes:
    try:
        _tag, start, end = _element(token, 0)
        content_info = _children(token, start, end)[1]  # TimeStampResp: status, timeStampToken
        explicit = _children(token, content_info[2], content_info[3])[1]  # ContentInfo: type, [0]
        signed_data = _children(token, explicit[2], explicit[3])[0]
        for tag, _at, first, last in _children(token, signed_data[2], signed_data[3]):
            if tag == 0xA0:  # certificates [0] IMPLICIT SET OF
                parts = sorted(token[at:stop] for _t, at, _c, stop in _children(token, first, last))
                return token[:first] + b"".join(parts) + token[last:]
    except (IndexError, ValueError):
        pass  # not the shape we know (or a rejection without a token): the parser will say why
    return token


def _element(buf: bytes, at: int) -> tuple[int, int, int]:
    """Tag, start of contents and end of the DER element at ``at``."""
    tag, first = buf[at], buf[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(buf[at : at + count], "big")
        at += count
    if at + length > len(buf):
        raise ValueError("DER element runs past the end")
    return tag, at, at + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, contents start, end) of each element inside ``buf[start:end]``."""
    found = []
    while start < end:
        tag, contents, stop = _element(buf, start)
        found.append((tag, start, contents, stop))
        start = stop
    if start != end:
        raise ValueError("DER elements overrun their parent")
    return found
