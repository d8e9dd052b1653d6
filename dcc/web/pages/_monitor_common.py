"""What the monitor's indicator pages share (dashboard `/suivi/`, activity report `/suivi/rapport`): the scope
filters (region, establishment, board), read from the query string and carried by the chart and CSV links, and
the CSV download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query
from fastapi.responses import Response


@dataclass
class ScopeFilters:
    """Region, establishment and board ids as typed in the query string ("" = all within the user's scope)."""

    region: str
    etablissement: str
    rcp: str

    def scope_ids(self) -> dict[str, str | None]:
        """The keyword arguments of the indicator services' scope (None = not filtered)."""
        return {"region_id": self.region or None, "establishment_id": self.etablissement or None,
                "board_id": self.rcp or None}

    def query_with(self, du: str, au: str) -> str:
        """The query string of these filters with the period `du`–`au` (empty values left out)."""
        params = {"du": du, "au": au, "region": self.region, "etablissement": self.etablissement, "rcp": self.rcp}
        return urlencode({k: v for k, v in params.items() if v})


def _scope(region: Annotated[str, Query(max_length=40)] = "",
           etablissement: Annotated[str, Query(max_length=40)] = "",
           rcp: Annotated[str, Query(max_length=40)] = "") -> ScopeFilters:
    return ScopeFilters(region=region, etablissement=etablissement, rcp=rcp)


Scope = Annotated[ScopeFilters, Depends(_scope)]


def csv_download(text: str, filename: str) -> Response:
    """A CSV export (UTF-8, as the services write it: BOM and `;`), downloaded as `filename`, never cached."""
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
