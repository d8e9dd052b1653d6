"""Regional monitor pages: deliveries per destination and state (last error in plain French, requeue for
coordinators); sessions held, quorum rate, cases discussed vs registered, delay registration → session,
with charts rendered server-side as SVG (Altair + vl-convert). No clinical field is shown here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.errors import DccError, NotFound, ValidationFailed
from dcc.services import access, delivery, indicators
from dcc.web.deps import Today, Uow
from dcc.web.pages import _scope as scope
from dcc.web.pages._common import PageRoute, PageUser, check_csrf, redirect, render, require_role

router = APIRouter(prefix="/suivi", route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator", "admin"))]
DeliveryViewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator"))]
Coordinator = Annotated[PageUser, Depends(require_role("coordinator"))]

STATES = ("dead", "pending", "held", "blocked", "delivered")

# Plain-French explanation of a delivery error code (the adapters' codes), shown before the raw message.
ERROR_EXPLANATIONS = {
    "delai_depasse": "Le DMP n'a pas répondu à temps (délai dépassé).",
    "connexion_interrompue": "La connexion avec le DMP a été interrompue ou refusée.",
    "reponse_illisible": "Le DMP a renvoyé une réponse illisible.",
    "metadonnees_invalides": "Les métadonnées du document ont été refusées avant l'envoi.",
    "metadonnees_incoherentes": "Les métadonnées du document sont incohérentes.",
    "entree_refusee": "Le DMP a refusé le document.",
    "document_inconnu": "Le DMP ne connaît pas le document à mettre à jour.",
    "destination_inconnue": "Aucun point d'accès n'est configuré pour cette destination.",
    "erreur_interne": "Erreur interne de dcc pendant l'envoi.",
}


def plain_error(error_code: str, status_code: int | None, last_error: str) -> str:
    lead = ERROR_EXPLANATIONS.get(error_code, "")
    if not lead and status_code:
        if status_code >= 500:
            lead = f"Le DMP est en erreur ou indisponible (code HTTP {status_code})."
        elif status_code in (401, 403):
            lead = f"Le DMP a refusé l'authentification de l'établissement (code HTTP {status_code})."
        elif status_code >= 400:
            lead = f"Le DMP a refusé la requête (code HTTP {status_code})."
    detail = " ".join((last_error or "").split())[:300]
    if lead and detail:
        return f"{lead} Détail : {detail}"
    return lead or detail or "Aucune erreur enregistrée."


# ------------------------------------------------------------------------------------- deliveries


def _outbox_query(user: PageUser) -> Any:
    return select(m.OutboxMessage, m.Document.unique_id, m.Document.kind).join(
        m.Document, m.Document.id == m.OutboxMessage.document_id).where(access.delivery_filter(user))


@router.get("/envois", response_class=HTMLResponse)
def deliveries(request: Request, user: DeliveryViewer, uow: Uow, etat: Annotated[str, Query()] = "dead") -> Response:
    if etat not in STATES:
        etat = "dead"
    counts_q = select(m.OutboxMessage.destination, m.OutboxMessage.state, func.count()).where(
        access.delivery_filter(user)).group_by(m.OutboxMessage.destination, m.OutboxMessage.state)
    table: dict[str, dict[str, int]] = {}
    for dest, state, n in uow.session.execute(counts_q).all():
        table.setdefault(dest, {})[state] = n
    rows = uow.session.execute(_outbox_query(user).where(m.OutboxMessage.state == etat)
                               .order_by(m.OutboxMessage.created_at.desc()).limit(200)).all()
    ids = [msg.id for msg, _, _ in rows]
    last: dict[str, m.DeliveryAttempt] = {}
    if ids:
        for attempt in uow.session.scalars(select(m.DeliveryAttempt).where(m.DeliveryAttempt.message_id.in_(ids))
                                       .order_by(m.DeliveryAttempt.at)):
            last[attempt.message_id] = attempt  # the latest attempt wins
    messages = []
    for msg, unique_id, kind in rows:
        att: m.DeliveryAttempt | None = last.get(msg.id)
        messages.append({
            "msg": msg, "unique_id": unique_id, "kind": kind, "last_attempt": att.at if att else None,
            "error": plain_error(att.error_code if att else "", att.status_code if att else None, msg.last_error)
            if msg.state != "delivered" else "",
            "hold": msg.hold_reason,
        })
    return render(request, "monitor/deliveries.html.j2", {
        "table": dict(sorted(table.items())), "states": STATES, "state": etat, "messages": messages,
        "can_requeue": user.role == "coordinator"})


@router.post("/envois/{message_id}/relancer", response_class=HTMLResponse)
async def requeue(request: Request, message_id: str, user: Coordinator, uow: Uow) -> Response:
    await check_csrf(request)
    scope.delivery_in_scope(uow, user, message_id)
    try:
        delivery.requeue(uow, message_id=message_id, actor=user.login)
    except DccError as exc:
        return redirect("/suivi/envois", f"Relance refusée : {exc.message}")
    return redirect("/suivi/envois?etat=pending", "Envoi remis en file : il partira au prochain passage de l'envoi.")


# ------------------------------------------------------------------------------------------ stats


@dataclass
class Period:
    """The dashboard's filters, read from the query string (also carried by the chart and CSV links)."""

    start: date
    end: date
    mois: int | None
    region: str
    etablissement: str
    rcp: str

    def query(self) -> str:
        params = {"du": self.start.isoformat(), "au": self.end.isoformat(), "region": self.region,
                  "etablissement": self.etablissement, "rcp": self.rcp}
        return urlencode({k: v for k, v in params.items() if v})


def _period(today: date, mois: int | None, du: str, au: str, region: str, etablissement: str, rcp: str) -> Period:
    try:
        start = date.fromisoformat(du) if du else None
        end = date.fromisoformat(au) if au else None
    except ValueError as exc:
        raise ValidationFailed("Date invalide : utilisez le format JJ/MM/AAAA.", field="du") from exc
    if start is None:
        start = indicators.month_start(end or today, mois or 12)
    return Period(start=start, end=end or today, mois=None if du else (mois or 12), region=region,
                  etablissement=etablissement, rcp=rcp)


def _filters(today: Today, mois: Annotated[int | None, Query(ge=1, le=36)] = None,
             du: Annotated[str, Query(max_length=10)] = "", au: Annotated[str, Query(max_length=10)] = "",
             region: Annotated[str, Query(max_length=40)] = "",
             etablissement: Annotated[str, Query(max_length=40)] = "",
             rcp: Annotated[str, Query(max_length=40)] = "") -> Period:
    return _period(today, mois, du, au, region, etablissement, rcp)


Filters = Annotated[Period, Depends(_filters)]


def _compute(uow: Any, user: PageUser, period: Period) -> indicators.Indicators:
    return indicators.compute(uow, user, start=period.start, end=period.end, region_id=period.region or None,
                              establishment_id=period.etablissement or None, board_id=period.rcp or None)


MONTH_ABBR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]


def _month_label(d: date) -> str:
    return f"{MONTH_ABBR[d.month - 1]} {d.year}"


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, uow: Uow, period: Filters) -> Response:
    try:
        stats = _compute(uow, user, period)
    except ValidationFailed as exc:
        return render(request, "monitor/dashboard.html.j2", {
            "stats": None, "period": period, "error": exc.message, "month_label": _month_label,
            "LEVELS": indicators.LEVEL_LABELS}, status_code=422)
    return render(request, "monitor/dashboard.html.j2", {"stats": stats, "period": period, "error": "",
                                                         "month_label": _month_label,
                                                         "LEVELS": indicators.LEVEL_LABELS})


@router.get("/indicateurs.csv")
def indicators_csv(user: Viewer, uow: Uow, period: Filters) -> Response:
    text = indicators.to_csv(_compute(uow, user, period))
    name = f"indicateurs-rcp-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------------------- charts

BLUE, ORANGE, GREY = "#1f4e79", "#a04000", "#595959"


def _svg(chart: Any) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_dict()))


def chart_svg(name: str, stats: indicators.Indicators) -> str:
    import altair as alt

    alt.data_transformers.disable_max_rows()
    axis = alt.Axis(labelColor=GREY, titleColor=GREY, labelFontSize=12, titleFontSize=12)
    if name == "seances":
        df = alt.Data(values=[{"mois": _month_label(ms.month), "ordre": i, "indicateur": label, "nombre": value}
                           for i, ms in enumerate(stats.months)
                           for label, value in (("Séances tenues", ms.held), ("Quorum atteint", ms.quorum_met))])
        chart = alt.Chart(df).mark_bar().encode(
            x=alt.X("mois:N", sort=alt.SortField("ordre"), title="Mois", axis=axis),
            xOffset="indicateur:N",
            y=alt.Y("nombre:Q", title="Nombre de séances", axis=axis),
            color=alt.Color("indicateur:N", scale=alt.Scale(range=[ORANGE, BLUE]), title=None),
        )
        title = "Séances tenues et quorum atteint, par mois"
    elif name == "dossiers":
        df = alt.Data(values=[{"mois": _month_label(ms.month), "ordre": i, "indicateur": label, "nombre": value}
                           for i, ms in enumerate(stats.months)
                           for label, value in (("Inscrits", ms.cases_registered), ("Discutés", ms.discussed),
                                                ("Enregistrés (standard)", ms.registered_only))])
        chart = alt.Chart(df).mark_bar().encode(
            x=alt.X("mois:N", sort=alt.SortField("ordre"), title="Mois", axis=axis),
            xOffset="indicateur:N",
            y=alt.Y("nombre:Q", title="Nombre de dossiers", axis=axis),
            color=alt.Color("indicateur:N", scale=alt.Scale(range=[ORANGE, BLUE, GREY]), title=None),
        )
        title = "Dossiers inscrits, discutés et enregistrés, par mois"
    elif name == "delais":
        df = alt.Data(values=[{"delai": label, "ordre": i, "nombre": n}
                           for i, (label, n) in enumerate(stats.total.delay_buckets())])
        chart = alt.Chart(df).mark_bar(color=BLUE).encode(
            x=alt.X("delai:N", sort=alt.SortField("ordre"), title="Délai inscription → séance", axis=axis),
            y=alt.Y("nombre:Q", title="Nombre de dossiers", axis=axis),
        )
        title = "Délai entre l'inscription et la séance"
    else:
        raise NotFound("Graphique introuvable.")
    chart = chart.properties(title=title, width=520, height=220).configure(
        background="#ffffff", font="DejaVu Sans").configure_title(color="#1a1a1a", fontSize=14)
    return _svg(chart)


@router.get("/graphiques/{name}.svg")
def chart(name: str, user: Viewer, uow: Uow, period: Filters) -> Response:
    svg = chart_svg(name, _compute(uow, user, period))
    return Response(svg, media_type="image/svg+xml", headers={
        # an image document: its own inline styles only, no script
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
        "Cache-Control": "no-store"})
