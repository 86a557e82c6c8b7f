"""The log's public read API: what outside verifiers and witnesses use. No sign-in.

Proofs are RFC 9162 inclusion and consistency proofs; checkpoints are C2SP signed notes with the
witnesses' cosignature lines after the log's signature.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from coldpledge.errors import N_, InvalidInput, NotFound, Unavailable
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import KeyFileMissing, load_log_signer
from coldpledge.web.deps import ReadSession, RuntimeDep
from coldpledge.web.openapi import errors

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
MAX_INDEX = 2**53  # far beyond any log, and still exact in every JSON parser
TEXT: dict[str, Any] = {"content": {"text/plain": {}}}


class EntryOut(BaseModel):
    index: int
    leaf_input: str = Field(description="Base64 of the exact bytes hashed into the leaf")
    leaf_hash: str = Field(description="Hex SHA-256(0x00 ‖ leaf_input)")


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    hashes: list[str] = Field(description="Hex, from the leaf's sibling up (RFC 9162 §2.1.3.1)")


class ConsistencyOut(BaseModel):
    first: int
    second: int
    hashes: list[str] = Field(description="Hex, RFC 9162 §2.1.4.1")


class CosignatureIn(BaseModel):
    tree_size: int = Field(strict=True, gt=0, le=MAX_INDEX)
    cosignature: str = Field(min_length=10, max_length=600, description="The C2SP tlog-cosignature line")


class WitnessOut(BaseModel):
    name: str
    vkey: str


@router.get("/checkpoint", response_class=PlainTextResponse, responses={200: TEXT, **errors(404)})
def latest_checkpoint(session: ReadSession) -> PlainTextResponse:
    """The latest checkpoint: the log's signed note, then the cosignatures collected so far."""
    checkpoint = evidence_log.latest_checkpoint(session)
    if checkpoint is None:
        raise NotFound(N_("The log has not signed a checkpoint yet."))
    return PlainTextResponse(
        evidence_log.rendered(session, checkpoint), headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/checkpoints/{tree_size}", response_class=PlainTextResponse, responses={200: TEXT, **errors(404)}
)
def checkpoint_of_size(tree_size: int, session: ReadSession) -> PlainTextResponse:
    """An earlier checkpoint of this exact size, with its cosignatures."""
    # A size no log reaches would overflow the database's integers: it names no checkpoint.
    checkpoint = evidence_log.checkpoint_of_size(session, tree_size) if 0 < tree_size <= MAX_INDEX else None
    if checkpoint is None:
        raise NotFound(N_("The log signed no checkpoint of size {size}."), size=tree_size)
    return PlainTextResponse(evidence_log.rendered(session, checkpoint))


@router.get("/public-key", response_class=PlainTextResponse, responses={200: TEXT, **errors(503)})
def public_key(rt: RuntimeDep) -> PlainTextResponse:
    """The log's C2SP verifier key: ``name+keyid+base64key``."""
    try:
        signer = load_log_signer(rt.settings)
    except KeyFileMissing as missing:
        log.error("%s", missing)
        raise Unavailable(N_("The log's signing key is not configured on this server yet.")) from missing
    return PlainTextResponse(signer.verifier.vkey + "\n")


@router.get("/witnesses", response_model=list[WitnessOut])
def witnesses(session: ReadSession) -> list[WitnessOut]:
    """The witnesses whose cosignatures the log accepts, with their verifier keys."""
    return [WitnessOut(name=w.name, vkey=w.vkey) for w in evidence_log.witnesses(session)]


@router.get("/entries/{index}", response_model=EntryOut, responses=errors(404))
def entry(index: int, session: ReadSession) -> EntryOut:
    found = evidence_log.entry_at(session, index) if 0 <= index <= MAX_INDEX else None
    if found is None:
        raise NotFound(N_("The log has no entry {index}."), index=index)
    return EntryOut(
        index=found.index,
        leaf_input=base64.b64encode(found.leaf_input).decode(),
        leaf_hash=found.leaf_hash.hex(),
    )


@router.get("/proof/inclusion", response_model=InclusionOut, responses=errors(422))
def inclusion(
    session: ReadSession,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> InclusionOut:
    try:
        hashes = evidence_log.inclusion_proof(session, index, tree_size)
    except evidence_log.ProofRequestError as exc:
        raise InvalidInput(N_("No such proof: {reason}."), field="tree_size", reason=str(exc)) from exc
    return InclusionOut(index=index, tree_size=tree_size, hashes=[h.hex() for h in hashes])


@router.get("/proof/consistency", response_model=ConsistencyOut, responses=errors(422))
def consistency(
    session: ReadSession,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    second: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> ConsistencyOut:
    try:
        hashes = evidence_log.consistency_proof(session, first, second)
    except evidence_log.ProofRequestError as exc:
        raise InvalidInput(N_("No such proof: {reason}."), field="second", reason=str(exc)) from exc
    return ConsistencyOut(first=first, second=second, hashes=[h.hex() for h in hashes])


@router.post("/cosignatures", status_code=201, responses=errors(422))
def cosign(data: Annotated[CosignatureIn, Body()], rt: RuntimeDep) -> dict[str, str]:
    """A registered witness hands in its cosignature of a checkpoint. The cosignature is its own
    credential: it must verify against the witness's registered key."""
    try:
        saved = evidence_log.add_cosignature(rt.write_session, data.tree_size, data.cosignature)
    except evidence_log.ProofRequestError as exc:
        raise InvalidInput(
            N_("The cosignature was refused: {reason}."), field="cosignature", reason=str(exc)
        ) from exc
    return {"status": "accepted", "cosigned_at": saved.cosigned_at.isoformat()}
