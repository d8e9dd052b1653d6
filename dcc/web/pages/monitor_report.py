"""The network's monthly indicators (INCa / 3C annual activity report) in the monitor's pages: read from the
table the nightly `compute_indicators` flow fills (dcc.services.indicator_table), per region, establishment
and board, with charts rendered on the server (Altair + vl-convert, SVG in the page, PNG to download; no
script, no CDN), each followed by the table of its values, and the report's CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dcc.domain import indicators as ind
from dcc.errors import NotFound, ValidationFailed
from dcc.services import indicator_table
from dcc.services.indicators import LEVEL_LABELS
from dcc.web.deps import Today, Uow
from dcc.web.pages._common import PageRoute, PageUser, render, require_role
from dcc.web.pages._monitor_common import Scope, ScopeFilters, csv_download

router = APIRouter(prefix="/suivi", route_class=PageRoute, include_in_schema=False)
Viewer = Annotated[PageUser, Depends(require_role("monitor", "coordinator", "admin"))]
BLUE, ORANGE, GREY, GREEN = "#1f4e79", "#a04000", "#595959", "#2e6b30"


@dataclass
class Months(ScopeFilters):
    """The page's filters: a range of months and the scope (also carried by the chart and CSV links)."""

    start: date
    end: date

    def query(self) -> str:
        return self.query_with(f"{self.start:%Y-%m}", f"{self.end:%Y-%m}")


def _month(value: str, field: str) -> date:
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise ValidationFailed("Mois invalide : utilisez le format AAAA-MM.", field=field) from exc


def _filters(today: Today, scope: Scope, du: Annotated[str, Query(max_length=10)] = "",
             au: Annotated[str, Query(max_length=10)] = "") -> Months:
    end = _month(au, "au") if au else ind.first_of_month(today)
    start = _month(du, "du") if du else indicator_table.months_to_refresh(end, 11)[0]
    return Months(start=start, end=end, region=scope.region, etablissement=scope.etablissement, rcp=scope.rcp)


def _read(uow: Any, user: PageUser, f: Months) -> indicator_table.Report:
    return indicator_table.report(uow, user, start=f.start, end=f.end, **f.scope_ids())


Filters = Annotated[Months, Depends(_filters)]


@router.get("/rapport", response_class=HTMLResponse)
def report_page(request: Request, user: Viewer, uow: Uow, months: Filters) -> Response:
    context: dict[str, Any] = {"f": months, "LEVELS": LEVEL_LABELS, "month_name": indicator_table.month_name,
                               "num": indicator_table.fr_number}
    try:
        rep = _read(uow, user, months)
    except ValidationFailed as exc:
        return render(request, "monitor/report.html.j2", context | {"rep": None, "error": exc.message},
                      status_code=422)
    return render(request, "monitor/report.html.j2", context | {"rep": rep, "error": ""})


@router.get("/rapport.csv")
def report_csv(user: Viewer, uow: Uow, months: Filters) -> Response:
    text = indicator_table.to_report_csv(_read(uow, user, months))
    return csv_download(text, f"rapport-activite-rcp-{months.start:%Y%m}-{months.end:%Y%m}.csv")


# ----------------------------------------------------------------------------------------- charts

CHARTS = ("activite", "delais", "qualite")


def _points(rep: indicator_table.Report, series: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    return [{"mois": indicator_table.month_name(month), "ordre": i, "indicateur": label, "valeur": get(c)}
            for i, (month, c) in enumerate(rep.months) for label, get in series if get(c) is not None]


def chart_spec(name: str, rep: indicator_table.Report) -> dict[str, Any]:
    """The Vega-Lite specification of a chart (the values are the page's tables)."""
    import altair as alt

    axis = alt.Axis(labelColor=GREY, titleColor=GREY, labelFontSize=12, titleFontSize=12)
    x = alt.X("mois:N", sort=alt.SortField("ordre"), title="Mois",
              axis=alt.Axis(labelColor=GREY, titleColor=GREY, labelFontSize=12, titleFontSize=12, labelAngle=0))
    if name == "activite":
        data = _points(rep, (("Nouveaux dossiers", lambda c: c.new_cases), ("Avis rendus", lambda c: c.opinions),
                             ("Représentations", lambda c: c.re_presentations)))
        chart: Any = alt.Chart(alt.Data(values=data)).mark_bar().encode(
            x=x, xOffset="indicateur:N", y=alt.Y("valeur:Q", title="Nombre de dossiers", axis=axis),
            color=alt.Color("indicateur:N", scale=alt.Scale(range=[BLUE, ORANGE, GREY]), title=None))
        title = "Nouveaux dossiers, avis rendus et représentations, par mois"
    elif name == "delais":
        data = _points(rep, (("Diagnostic → RCP, médiane", lambda c: c.diagnosis_rcp_median),
                             ("Diagnostic → RCP, 90e centile", lambda c: c.diagnosis_rcp_p90),
                             ("RCP → 1er traitement, médiane", lambda c: c.rcp_treatment_median),
                             ("RCP → 1er traitement, 90e centile", lambda c: c.rcp_treatment_p90)))
        chart = alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(
            x=x, y=alt.Y("valeur:Q", title="Jours", axis=axis),
            color=alt.Color("indicateur:N", scale=alt.Scale(range=[BLUE, GREEN, ORANGE, GREY]), title=None),
            shape=alt.Shape("indicateur:N", legend=None))
        title = "Délais (jours) : médiane et 90e centile, par mois"
    elif name == "qualite":
        data = _points(rep, (("Quorum", lambda c: _pct(c.quorum_rate)),
                             ("Conformes au référentiel", lambda c: _pct(c.conform_rate)),
                             ("Discutés avant le 1er traitement", lambda c: _pct(c.before_treatment_rate)),
                             ("Versés au DMP sous 7 jours", lambda c: _pct(c.dmp_rate))))
        chart = alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(
            x=x, y=alt.Y("valeur:Q", title="%", scale=alt.Scale(domain=[0, 100]), axis=axis),
            color=alt.Color("indicateur:N", scale=alt.Scale(range=[BLUE, ORANGE, GREEN, GREY]), title=None),
            shape=alt.Shape("indicateur:N", legend=None))
        title = "Taux (%) par mois"
    else:
        raise NotFound("Graphique introuvable.")
    spec: dict[str, Any] = chart.properties(title=title, width=520, height=220).configure(
        background="#ffffff", font="DejaVu Sans").configure_title(color="#1a1a1a", fontSize=14).configure_legend(
        labelLimit=320, labelFontSize=12, orient="bottom", columns=2).to_dict()
    return spec


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


@router.get("/rapport/graphiques/{name}.{fmt}")
def report_chart(name: str, fmt: str, user: Viewer, uow: Uow, months: Filters) -> Response:
    import vl_convert as vlc

    if name not in CHARTS or fmt not in ("svg", "png"):
        raise NotFound("Graphique introuvable.")
    spec = chart_spec(name, _read(uow, user, months))
    if fmt == "png":
        return Response(bytes(vlc.vegalite_to_png(spec, scale=2)), media_type="image/png", headers={
            "Content-Disposition": f'attachment; filename="{name}-{months.start:%Y%m}-{months.end:%Y%m}.png"',
            "Cache-Control": "no-store"})
    return Response(str(vlc.vegalite_to_svg(spec)), media_type="image/svg+xml", headers={
        # an image document: its own inline styles only, no script
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
        "Cache-Control": "no-store"})
