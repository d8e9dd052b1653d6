"""Who receives what by MSSanté, read from the signed CDA: per document kind, never its author or signer.

Fiche RCP: the GP (INF), the requesting physician (REFB) and the correspondents (CON). PPS: the GP (INF) and
the care team (CON). The patient is never mailed (the PPS is handed over, GEN-178)."""

from __future__ import annotations

from dataclasses import replace

from dcc.adapters.cda.builder import build_frcp, build_pps
from dcc.adapters.messaging import recipients_from_cda
from dcc.bench.samples import (
    CHIRURGIEN,
    GENERALISTE,
    ONCOLOGUE,
    PATHOLOGISTE,
    PEDIATRE,
    RADIOTHERAPEUTE,
    sample_frcp,
    sample_pps,
)
from dcc.domain.documents import Signature


def addresses(cda: bytes) -> list[str]:
    return [addr for addr, _ in recipients_from_cda(cda)]


def test_fiche_rcp_goes_to_the_gp_the_requester_and_the_correspondents() -> None:
    frcp = sample_frcp(requester=CHIRURGIEN, referring_gp=GENERALISTE, correspondents=(PATHOLOGISTE,),
                       presenter=CHIRURGIEN, quorum_members=(ONCOLOGUE, RADIOTHERAPEUTE, PEDIATRE))
    assert frcp.author == ONCOLOGUE
    got = addresses(build_frcp(frcp))
    assert sorted(got) == sorted([GENERALISTE.mssante, CHIRURGIEN.mssante, PATHOLOGISTE.mssante])
    # quorum members and the coordinator are participants, not recipients; the author never
    assert ONCOLOGUE.mssante not in got and RADIOTHERAPEUTE.mssante not in got and PEDIATRE.mssante not in got


def test_fiche_rcp_is_not_mailed_back_to_its_author_even_as_requester_or_correspondent() -> None:
    frcp = sample_frcp(requester=ONCOLOGUE, referring_gp=GENERALISTE, correspondents=(ONCOLOGUE, PATHOLOGISTE))
    assert addresses(build_frcp(frcp)) == [GENERALISTE.mssante, PATHOLOGISTE.mssante]
    # nor to the legal authenticator when another physician signs
    signed_by = replace(frcp, legal=Signature(PATHOLOGISTE, frcp.legal.signed_at))
    assert addresses(build_frcp(signed_by)) == [GENERALISTE.mssante]


def test_pps_goes_to_the_gp_and_the_care_team_never_its_author() -> None:
    pps = sample_pps(referring_gp=GENERALISTE, care_team=(RADIOTHERAPEUTE, ONCOLOGUE, CHIRURGIEN))
    assert pps.author == ONCOLOGUE
    got = addresses(build_pps(pps))
    assert got == [GENERALISTE.mssante, RADIOTHERAPEUTE.mssante, CHIRURGIEN.mssante]
    assert ONCOLOGUE.mssante not in got
    # a plan whose only named professional is its author: the GP only
    assert addresses(build_pps(sample_pps(referring_gp=GENERALISTE, care_team=(ONCOLOGUE,)))) == [GENERALISTE.mssante]
    # no GP, no care team besides the author: nobody to mail (the DMP still receives it)
    assert addresses(build_pps(sample_pps(referring_gp=None, care_team=(ONCOLOGUE,)))) == []


def test_only_health_professionals_are_mailed() -> None:
    """A participant that is not a health professional (associatedEntity classCode other than PROV), e.g. the
    patient or a relative with a mailbox, never gets the document by mail: the PPS is handed to the patient."""
    cda = build_pps(sample_pps(referring_gp=GENERALISTE, care_team=(RADIOTHERAPEUTE,)))
    assert addresses(cda) == [GENERALISTE.mssante, RADIOTHERAPEUTE.mssante]
    gp_entity = b'<associatedEntity classCode="PROV">'
    assert cda.count(gp_entity) == 2
    as_agent = cda.replace(gp_entity, b'<associatedEntity classCode="AGNT">', 1)
    assert addresses(as_agent) == [RADIOTHERAPEUTE.mssante]
