"""The decision form, shared by the physician's page and the coordinator's meeting mode: the form's values
from a recorded decision or a posted form, its context, and the call to `boards.record_decision`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from dcc.errors import DccError
from dcc.services import boards as board_services
from dcc.services import codes, queries, referentials
from dcc.services import proposal_entries as pe
from dcc.services.schemas import DecisionInput
from dcc.web.pages._common import form_list

TREATMENT_VS = "JDV_TypeTraitement_FRCP_CISIS"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def treatments(uow: Any, checked: list[str]) -> list[dict[str, Any]]:
    """The proposal's treatment kinds from the version in force in the database (not the package's JSON);
    a checked kind a later version retired stays listed, marked, so the physician sees what to change."""
    return [{"code": c.code, "display": _cap(c.display) + ("" if c.active else " (code retiré du référentiel)"),
             "active": c.active} for c in codes.choices(uow, TREATMENT_VS, keep=checked)]


def stored_values(decision: Any) -> dict[str, Any]:
    return {"case_status": decision.case_status if decision else "discussed",
            "proposal_codes": list(decision.proposal_codes) if decision else [],
            "proposal_text": decision.proposal_text if decision else "",
            "drug_codes": pe.codes_of(decision.proposal_entries or [], pe.DRUG) if decision else [],
            "act_codes": pe.codes_of(decision.proposal_entries or [], pe.ACT) if decision else [],
            "drug_query": "", "act_query": "",
            "conform": {True: "oui", False: "non", None: ""}[decision.conform_to_referential] if decision else "",
            "departure_justification": decision.departure_justification if decision else "",
            "trial_proposed": "oui" if decision and decision.trial_proposed else "",
            "trial_name": decision.trial_name if decision else "",
            "comment": decision.comment if decision else "", "referential_name": ""}


ENTRY_BLOCKS = {
    pe.DRUG: {"kind": pe.DRUG, "slug": "medicament", "field": "drug_codes", "query": "drug_query",
              "title": "Médicaments proposés", "add_label": "Ajouter un médicament",
              "hint": "code ATC (ex. L01CD01) ou UCD, ou les premières lettres du nom pour des suggestions",
              "button": "Ajouter le médicament", "none": "Aucun médicament codé."},
    pe.ACT: {"kind": pe.ACT, "slug": "acte", "field": "act_codes", "query": "act_query",
             "title": "Actes proposés (CCAM)", "add_label": "Ajouter un acte",
             "hint": "code CCAM (ex. QEFA003), ou les premières lettres du libellé pour des suggestions",
             "button": "Ajouter l'acte", "none": "Aucun acte codé."},
}
KIND_OF_SLUG = {b["slug"]: kind for kind, b in ENTRY_BLOCKS.items()}


def entries_block(uow: Any, kind: str, values: dict[str, Any], message: str = "", error: bool = False
                  ) -> dict[str, Any]:
    """What the form's block of one kind shows: the entries posted or recorded (labels from the database, an
    unknown or retired code marked), the query typed, the last message."""
    block = ENTRY_BLOCKS[kind]
    return {**block, "items": pe.describe(uow, kind, values.get(block["field"], [])),
            "query_value": values.get(block["query"], ""), "message": message, "error": error}


def edit_entries(uow: Any, values: dict[str, Any], form: dict[str, Any]) -> tuple[str, str, bool] | None:
    """A click on « Ajouter » or « Retirer » of a drug or act (htmx, or the whole form without JavaScript):
    `values` updated in place, nothing recorded; (kind, French message, is an error). None for another
    submit."""
    for kind, block in ENTRY_BLOCKS.items():
        field, query = block["field"], block["query"]
        removed = str(form.get(f"retirer_{kind}") or "")
        if removed:
            values[field] = [c for c in values[field] if pe.normalise(c) != pe.normalise(removed)]
            gone = pe.describe(uow, kind, [removed])
            name = f"{gone[0].label} ({gone[0].system} {gone[0].code})" if gone and gone[0].known else removed[:40]
            return kind, f"Retiré : {name}.", False
        if str(form.get("ajouter") or "") == kind:
            code = pe.normalise(values[query])
            if not code:
                return kind, f"{block['add_label']} : saisissez un code ou choisissez une suggestion.", True
            if code in [pe.normalise(c) for c in values[field]]:
                values[query] = ""
                return kind, f"Déjà dans la proposition : {code}.", False
            if len(values[field]) >= pe.MAX_ENTRIES:
                return kind, f"Au plus {pe.MAX_ENTRIES} par proposition.", True
            try:
                found = codes.check(uow, [codes.CodedEntry(query, pe.LABELS[kind], pe.system_of(kind, code), code)])
            except DccError as exc:
                return kind, exc.message, True
            values[field] = [*values[field], code]
            values[query] = ""
            label = next(iter(found.values())).display
            return kind, f"Ajouté : {label} ({pe.system_of(kind, code)} {code}).", False
    return None


def posted_values(form: dict[str, Any]) -> dict[str, Any]:
    return {"case_status": str(form.get("case_status") or ""), "proposal_codes": form_list(form, "proposal_codes"),
            "proposal_text": str(form.get("proposal_text") or ""), "conform": str(form.get("conform") or ""),
            "drug_codes": form_list(form, "drug_codes")[:pe.MAX_ENTRIES + 1],
            "act_codes": form_list(form, "act_codes")[:pe.MAX_ENTRIES + 1],
            "drug_query": str(form.get("drug_query") or "")[:200], "act_query": str(form.get("act_query") or "")[:200],
            "departure_justification": str(form.get("departure_justification") or ""),
            "trial_proposed": str(form.get("trial_proposed") or ""), "trial_name": str(form.get("trial_name") or ""),
            "comment": str(form.get("comment") or ""),
            "referential_name": (str(form.get("referential_choice") or "").strip()
                                 or str(form.get("referential_name") or "").strip())}


def guideline_label(g: Any) -> str:
    """How a regional guideline is named on the case (case.referential_name): its name and version."""
    return f"{g.name} (version {g.version})"


def context(uow: Any, case: Any, *, values: dict[str, Any] | None, error: str, form_action: str,
            back: str, back_label: str, edited: tuple[str, str, bool] | None = None) -> dict[str, Any]:
    view = queries.get_case(uow, case.id)
    session = queries.session_status(uow, case.session_id)
    decision = view.decision
    values = values or stored_values(decision)
    values.setdefault("referential_name", "")
    if not values["referential_name"]:
        values["referential_name"] = case.referential_name or ""
    guidelines = [{"value": guideline_label(g), "label": f"{g.name}, version {g.version} du {g.date:%d/%m/%Y}"}
                  for g in referentials.guidelines_for_case(uow, case.id)]
    listed = any(g["value"] == values["referential_name"] for g in guidelines)
    return {"case": case, "view": view, "session": session, "values": values, "guidelines": guidelines,
            "entries": {kind: entries_block(uow, kind, values, *(edited[1:] if edited and edited[0] == kind else ()))
                        for kind in (pe.DRUG, pe.ACT)},
            "recorded_entries": {kind: pe.recorded(decision.proposal_entries or [], kind) if decision else []
                                 for kind in (pe.DRUG, pe.ACT)},
            "referential_listed": listed,
            "error": error, "treatments": treatments(uow, values["proposal_codes"]), "form_action": form_action,
            "back": back, "back_label": back_label,
            "locked": bool(decision and decision.locked) or session.status == "validated",
            "topography_label": topography_label(uow, case.topography_code)}


def topography_label(uow: Any, code: str) -> str:
    """The database's label of the case's topography ("" when the database never had the code)."""
    label = codes.labels(uow, "JDV_Tumeur_CISIS", [code]).get(code, "")
    return "" if label == code else label


def record(uow: Any, case: Any, values: dict[str, Any], *, actor: str, now: datetime) -> tuple[str, int]:
    """Record the posted decision; ("", 0) when written, else (French message, HTTP status)."""
    for block in ENTRY_BLOCKS.values():  # a code typed but not added is not silently dropped
        typed = str(values.get(block["query"]) or "").strip()
        if typed:
            return (f"{block['add_label']} : « {typed[:40]} » a été saisi mais pas ajouté ; cliquez « "
                    f"{block['button']} » ou videz le champ. Rien n'a été enregistré."), 422
    try:
        data = DecisionInput(
            session_id=case.session_id or "", case_status=values["case_status"],
            proposal_codes=values["proposal_codes"], proposal_text=values["proposal_text"],
            drug_codes=values.get("drug_codes", []), act_codes=values.get("act_codes", []),
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
