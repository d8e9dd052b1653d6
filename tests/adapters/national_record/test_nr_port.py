"""The national-record adapters implement the whole port the delivery service calls (submit and the two
metadata updates); the secure-messaging transport implements only submission."""

from __future__ import annotations

from pathlib import Path

from dcc.bootstrap import MhdNationalRecord, XdsNationalRecord
from dcc.domain.ports import NationalRecord, Transport


def test_both_national_record_adapters_implement_the_port(tmp_path: Path) -> None:
    xds = XdsNationalRecord("http://dmp.invalid/xds/iti41", identity_dir=tmp_path, structure_name="CH d'Angers",
                            structure_id_nat="1750100125")
    mhd = MhdNationalRecord("http://dmp.invalid")
    try:
        assert isinstance(xds, NationalRecord) and isinstance(mhd, NationalRecord)
    finally:
        xds.close()
        mhd.close()


def test_a_submit_only_transport_is_not_a_national_record() -> None:
    class SubmitOnly:
        def submit(self, submission: object) -> object:
            return None

    assert isinstance(SubmitOnly(), Transport) and not isinstance(SubmitOnly(), NationalRecord)
