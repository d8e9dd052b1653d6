"""Fault injection of the simulator: the fault spec, its state, and the dropped connection.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

# --- faults ----------------------------------------------------------------------------------------


@dataclass
class FaultSpec:
    fail: float = 0.0
    drop_after_commit: float = 0.0
    latency_ms: float = 0.0
    outage_s: float = 0.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        out = cls()
        for item in (spec or "").replace(";", ",").split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in {"fail", "drop_after_commit", "latency_ms", "outage_s", "seed"}:
                raise ValueError(
                    f"Paramètre de panne inconnu « {item.strip()} » (attendu : fail, drop_after_commit, "
                    "latency_ms, outage_s, seed)."
                )
            try:
                if key == "seed":
                    out.seed = int(value)
                else:
                    setattr(out, key, float(value))
            except ValueError:
                raise ValueError(f"Valeur invalide pour « {key} » : « {value} ».") from None
        for key in ("fail", "drop_after_commit"):
            if not 0.0 <= getattr(out, key) <= 1.0:
                raise ValueError(f"« {key} » doit être une probabilité entre 0 et 1.")
        return out


class _Faults:
    """The current fault spec; `monotonic` is the clock the outage is counted on (a test's clock in tests)."""

    def __init__(self, spec: FaultSpec, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self.set(spec)

    def set(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.started = self.monotonic()

    def outage_remaining(self) -> float:
        return max(0.0, self.spec.outage_s - (self.monotonic() - self.started))

    def roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability


class SimulatedConnectionDrop(RuntimeError):
    """Raised mid-answer to break the connection after the commit (fault `drop_after_commit`)."""


async def _dropped_body() -> AsyncIterator[bytes]:
    yield b"--MIMEBoundary_partial\r\n"
    raise SimulatedConnectionDrop("connexion coupée après l'enregistrement (panne simulée)")

