"""Regional monitor pages: deliveries per destination and state (last error in plain French, requeue for
coordinators); sessions held, quorum rate, cases discussed vs registered, delay registration → session,
with charts rendered server-side as SVG (Altair + vl-convert). No clinical field is shown here."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from dcc.adapters.db import models as m
from dcc.domain.calendar import PARIS
from dcc.errors import DccError, NotFound
from dcc.services import access, delivery
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
class MonthStats:
    month: date
    held: int = 0
    quorum_met: int = 0
    discussed: int = 0
    registered_only: int = 0
    cases_registered: int = 0


@dataclass
class Stats:
    start: date
    end: date
    months: list[MonthStats] = field(default_factory=list)
    held: int = 0
    quorum_met: int = 0
    cases_registered: int = 0
    discussed: int = 0
    registered_only: int = 0
    delays: list[int] = field(default_factory=list)

    @property
    def quorum_rate(self) -> float | None:
        return self.quorum_met / self.held if self.held else None

    @property
    def delay_median(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def delay_mean(self) -> float | None:
        return statistics.fmean(self.delays) if self.delays else None

    def delay_buckets(self) -> list[tuple[str, int]]:
        edges = [(0, 7, "0 à 7 j"), (8, 14, "8 à 14 j"), (15, 21, "15 à 21 j"), (22, 28, "22 à 28 j"),
                 (29, 10_000, "plus de 28 j")]
        return [(label, sum(1 for d in self.delays if lo <= d <= hi)) for lo, hi, label in edges]


def _month(d: date) -> date:
    return d.replace(day=1)


def compute_stats(uow: Any, user: PageUser, today: date, months: int) -> Stats:
    first = _month(today)
    for _ in range(months - 1):
        first = _month(first - timedelta(days=1))
    stats = Stats(start=first, end=today)
    buckets: dict[date, MonthStats] = {}
    cursor = first
    while cursor <= today:
        buckets[cursor] = MonthStats(month=cursor)
        cursor = _month(cursor + timedelta(days=32))
    board_ids = scope.stats_board_ids(uow, user)
    start_dt = datetime.combine(first, datetime.min.time(), tzinfo=PARIS)
    end_dt = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    sessions = list(uow.session.scalars(select(m.Session).where(
        m.Session.board_id.in_(board_ids), m.Session.starts_at >= start_dt, m.Session.starts_at < end_dt)))
    by_id = {s.id: s for s in sessions}
    for s in sessions:
        if s.status not in ("held", "validated"):
            continue
        month = _month(s.starts_at.astimezone(PARIS).date())
        stats.held += 1
        buckets[month].held += 1
        if s.quorum == "met":
            stats.quorum_met += 1
            buckets[month].quorum_met += 1
    for decision in uow.session.scalars(select(m.Decision).where(m.Decision.session_id.in_(list(by_id)))):
        month = _month(by_id[decision.session_id].starts_at.astimezone(PARIS).date())
        if decision.case_status == "discussed":
            stats.discussed += 1
            buckets[month].discussed += 1
        else:
            stats.registered_only += 1
            buckets[month].registered_only += 1
    cases = list(uow.session.scalars(select(m.Case).where(
        m.Case.board_id.in_(board_ids), m.Case.created_at >= start_dt, m.Case.created_at < end_dt)))
    for c in cases:
        month = _month(c.created_at.astimezone(PARIS).date())
        stats.cases_registered += 1
        if month in buckets:
            buckets[month].cases_registered += 1
    held_cases = uow.session.execute(select(m.Case.created_at, m.Session.starts_at).join(
        m.Session, m.Session.id == m.Case.session_id).where(
        m.Case.board_id.in_(board_ids), m.Session.status.in_(["held", "validated"]),
        m.Session.starts_at >= start_dt, m.Session.starts_at < end_dt)).all()
    stats.delays = [max(0, (starts.astimezone(PARIS).date() - created.astimezone(PARIS).date()).days)
                    for created, starts in held_cases]
    stats.months = list(buckets.values())
    return stats


MONTH_ABBR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]


def _month_label(d: date) -> str:
    return f"{MONTH_ABBR[d.month - 1]} {d.year}"


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, uow: Uow, today: Today,
              mois: Annotated[int, Query(ge=1, le=24)] = 12) -> Response:
    stats = compute_stats(uow, user, today, mois)
    return render(request, "monitor/dashboard.html.j2", {"stats": stats, "mois": mois,
                                                         "month_label": _month_label})


# ----------------------------------------------------------------------------------------- charts

BLUE, ORANGE, GREY = "#1f4e79", "#a04000", "#595959"


def _svg(chart: Any) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_dict()))


def chart_svg(name: str, stats: Stats) -> str:
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
                           for i, (label, n) in enumerate(stats.delay_buckets())])
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
def chart(name: str, user: Viewer, uow: Uow, today: Today,
          mois: Annotated[int, Query(ge=1, le=24)] = 12) -> Response:
    svg = chart_svg(name, compute_stats(uow, user, today, mois))
    return Response(svg, media_type="image/svg+xml", headers={
        # an image document: its own inline styles only, no script
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
        "Cache-Control": "no-store"})
