"""Regional monitor pages: deliveries per destination and state (last error in plain French, requeue for
coordinators); sessions held, quorum rate, cases discussed vs registered, delay registration → session,
with charts rendered server-side as SVG (Altair + vl-convert). No clinical field is shown here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dcc.errors import NotFound, ValidationFailed
from dcc.services import deliveries as deliveries_service
from dcc.services import indicators, referentials
from dcc.web.deps import Today, Uow
from dcc.web.pages._common import CsrfForm, PageRoute, PageUser, form_list, redirect, render, require_role
from dcc.web.pages._monitor_common import Scope, ScopeFilters, csv_download

router = APIRouter(prefix="/suivi", route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator", "admin"))]
DeliveryViewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator"))]
# the posted form, CSRF checked (an async dependency: the handlers touching the database stay plain `def`)

STATES = deliveries_service.STATES
plain_error = deliveries_service.plain_error  # (kept for callers of the former page helper)


# ------------------------------------------------------------------------------------- referentials


@router.get("/referentiels", response_class=HTMLResponse)
def referential_versions(request: Request, user: Viewer, uow: Uow) -> Response:
    """The version of each referential in force (one set per database: the region's, as `dcc referentials
    import` and the refresh_referentials flow left it), with what its import changed, and the regional
    guidelines the decision form offers."""
    return render(request, "monitor/referentials.html.j2", {
        "versions": referentials.versions_in_force(uow), "guidelines": referentials.list_guidelines(uow)})


# ------------------------------------------------------------------------------------- deliveries


@router.get("/envois", response_class=HTMLResponse)
def deliveries(request: Request, user: DeliveryViewer, uow: Uow, etat: Annotated[str, Query()] = "dead") -> Response:
    if etat not in STATES:
        etat = "dead"
    listing = deliveries_service.list_deliveries(uow, user, state=etat)
    return render(request, "monitor/deliveries.html.j2", {
        "listing": listing, "table": listing.counts, "states": STATES, "state": etat, "messages": listing.rows,
        "can_requeue": listing.can_requeue, "confirm": False, "chosen": []})


def _requeue_ids(form: dict[str, Any]) -> list[str]:
    return form_list(form, "envoi")[:deliveries_service.MAX_BATCH + 1]


@router.post("/envois/relancer", response_class=HTMLResponse)
def requeue_many(request: Request, user: DeliveryViewer, uow: Uow, form: CsrfForm) -> Response:
    """Step 1 (no `confirme`): the chosen dead letters, to confirm; step 2 (`confirme=oui`): requeue them."""
    ids = _requeue_ids(form)
    if not ids:
        return redirect("/suivi/envois", "Cochez au moins un envoi à relancer.")
    if form.get("confirme") != "oui":
        listing = deliveries_service.list_deliveries(uow, user, state="dead", limit=deliveries_service.MAX_BATCH)
        chosen = [row for row in listing.rows if row.id in set(ids)]
        if not chosen:
            return redirect("/suivi/envois", "Aucun des envois cochés n'est une lettre morte de votre périmètre.")
        return render(request, "monitor/deliveries.html.j2", {
            "listing": listing, "table": listing.counts, "states": STATES, "state": "dead", "messages": [],
            "can_requeue": listing.can_requeue, "confirm": True, "chosen": chosen})
    result = deliveries_service.requeue_deliveries(uow, user, ids)
    n = len(result.requeued)
    message = (f"{n} envoi{'s' if n > 1 else ''} remis en file : {'ils partiront' if n > 1 else 'il partira'} "
               "au prochain passage de l'envoi." if n else "Aucun envoi relancé.")
    if result.refused:
        message += f" {len(result.refused)} refusé(s) : " + " ; ".join(sorted(set(result.refused.values())))
    return redirect("/suivi/envois?etat=pending" if n else "/suivi/envois", message)


@router.post("/envois/{message_id}/relancer", response_class=HTMLResponse)
def requeue(request: Request, message_id: str, user: DeliveryViewer, uow: Uow, form: CsrfForm) -> Response:
    """One dead letter: the same confirmation step as a batch."""
    return requeue_many(request, user, uow, {**form, "envoi": [message_id]})


# ------------------------------------------------------------------------------------------ stats


@dataclass
class Period(ScopeFilters):
    """The dashboard's filters, read from the query string (also carried by the chart and CSV links)."""

    start: date
    end: date
    mois: int | None

    def query(self) -> str:
        return self.query_with(self.start.isoformat(), self.end.isoformat())


def _period(today: date, mois: int | None, du: str, au: str, scope: ScopeFilters) -> Period:
    try:
        start = date.fromisoformat(du) if du else None
        end = date.fromisoformat(au) if au else None
    except ValueError as exc:
        raise ValidationFailed("Date invalide : utilisez le format JJ/MM/AAAA.", field="du") from exc
    if start is None:
        start = indicators.month_start(end or today, mois or 12)
    return Period(start=start, end=end or today, mois=None if du else (mois or 12), region=scope.region,
                  etablissement=scope.etablissement, rcp=scope.rcp)


def _filters(today: Today, scope: Scope, mois: Annotated[int | None, Query(ge=1, le=36)] = None,
             du: Annotated[str, Query(max_length=10)] = "", au: Annotated[str, Query(max_length=10)] = "") -> Period:
    return _period(today, mois, du, au, scope)


Filters = Annotated[Period, Depends(_filters)]


def _compute(uow: Any, user: PageUser, period: Period) -> indicators.Indicators:
    return indicators.compute(uow, user, start=period.start, end=period.end, **period.scope_ids())


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
    return csv_download(text, f"indicateurs-rcp-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv")


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
