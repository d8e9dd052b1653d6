"""The scope filters the monitor's indicator pages share (dashboard `/suivi/`, activity report `/suivi/rapport`):
region, establishment and board, read from the query string and carried by the chart and CSV links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query


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
