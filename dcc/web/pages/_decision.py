"""The decision form, shared by the physician's page and the coordinator's meeting mode: the form's values
from a recorded decision or a posted form, its context, and the call to `boards.record_decision`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dcc import valuesets
from dcc.errors import DccError
from dcc.services import boards as board_services
from dcc.services import queries, referentials
from dcc.services.meeting import treatment_label
from dcc.services.schemas import DecisionInput
from dcc.web.pages._common import form_list

TREATMENTS = [{"code": c.code, "display": treatment_label(c.code)}
              for c in valuesets.concepts("JDV_TypeTraitement_FRCP_CISIS")]


def stored_values(decision: Any) -> dict[str, Any]:
    return {"case_status": decision.case_status if decision else "discussed",
            "proposal_codes": list(decision.proposal_codes) if decision else [],
            "proposal_text": decision.proposal_text if decision else "",
            "conform": {True: "oui", False: "non", None: ""}[decision.conform_to_referential] if decision else "",
            "departure_justification": decision.departure_justification if decision else "",
            "trial_proposed": "oui" if decision and decision.trial_proposed else "",
            "trial_name": decision.trial_name if decision else "",
            "comment": decision.comment if decision else "", "referential_name": ""}


def posted_values(form: dict[str, Any]) -> dict[str, Any]:
    return {"case_status": str(form.get("case_status") or ""), "proposal_codes": form_list(form, "proposal_codes"),
            "proposal_text": str(form.get("proposal_text") or ""), "conform": str(form.get("conform") or ""),
            "departure_justification": str(form.get("departure_justification") or ""),
            "trial_proposed": str(form.get("trial_proposed") or ""), "trial_name": str(form.get("trial_name") or ""),
            "comment": str(form.get("comment") or ""),
            "referential_name": (str(form.get("referential_choice") or "").strip()
                                 or str(form.get("referential_name") or "").strip())}


def guideline_label(g: Any) -> str:
    """How a regional guideline is named on the case (case.referential_name): its name and version."""
    return f"{g.name} (version {g.version})"


def context(uow: Any, case: Any, *, values: dict[str, Any] | None, error: str, form_action: str,
            back: str, back_label: str) -> dict[str, Any]:
    view = queries.get_case(uow, case.id)
    session = queries.session_status(uow, case.session_id)
    decision = view.decision
    topo = valuesets.contains("JDV_Tumeur_CISIS", case.topography_code)
    values = values or stored_values(decision)
    values.setdefault("referential_name", "")
    if not values["referential_name"]:
        values["referential_name"] = case.referential_name or ""
    guidelines = [{"value": guideline_label(g), "label": f"{g.name}, version {g.version} du {g.date:%d/%m/%Y}"}
                  for g in referentials.guidelines_for_case(uow, case.id)]
    listed = any(g["value"] == values["referential_name"] for g in guidelines)
    return {"case": case, "view": view, "session": session, "values": values, "guidelines": guidelines,
            "referential_listed": listed,
            "error": error, "treatments": TREATMENTS, "form_action": form_action, "back": back,
            "back_label": back_label,
            "locked": bool(decision and decision.locked) or session.status == "validated",
            "topography_label": valuesets.lookup("JDV_Tumeur_CISIS", case.topography_code).display if topo else ""}


def record(uow: Any, case: Any, values: dict[str, Any], *, actor: str, now: datetime) -> tuple[str, int]:
    """Record the posted decision; ("", 0) when written, else (French message, HTTP status)."""
    try:
        data = DecisionInput(
            session_id=case.session_id or "", case_status=values["case_status"],
            proposal_codes=values["proposal_codes"], proposal_text=values["proposal_text"],
            conform_to_referential={"oui": True, "non": False}.get(values["conform"]),
            departure_justification=values["departure_justification"],
            trial_proposed=values["trial_proposed"] == "oui", trial_name=values["trial_name"],
            comment=values["comment"], referential_name=values.get("referential_name", ""))
        board_services.record_decision(uow, case_id=case.id, data=data, actor=actor, now=now)
    except ValidationError as exc:
        from dcc.web.app import validation_error_body

        return validation_error_body(exc.errors())["message"], 422  # type: ignore[arg-type]
    except DccError as exc:
        return exc.message, exc.status_code
    return "", 0
