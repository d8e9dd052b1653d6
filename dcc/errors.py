"""One hierarchy of errors. Each carries its HTTP status and a message in French for the user."""

from __future__ import annotations


class DccError(Exception):
    status_code: int = 500
    code: str = "erreur_interne"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ValidationFailed(DccError):
    """Bad input: a field is missing, malformed, or out of its value set."""

    status_code = 422
    code = "donnee_invalide"


class UnknownCode(ValidationFailed):
    code = "code_inconnu"

    def __init__(self, *, field: str, value: str, value_set: str) -> None:
        super().__init__(
            f"Le code « {value} » du champ « {field} » n'appartient pas au jeu de valeurs {value_set}.",
            field=field,
        )
        self.value = value
        self.value_set = value_set


class InvalidIdentifier(ValidationFailed):
    code = "identifiant_invalide"


class IncompleteData(ValidationFailed):
    """A document cannot be generated: lists the missing fields in French."""

    code = "donnees_incompletes"

    def __init__(self, missing: list[str], *, what: str = "le document") -> None:
        super().__init__(f"Impossible de générer {what} : champs manquants : {', '.join(missing)}.")
        self.missing = missing


class NotFound(DccError):
    status_code = 404
    code = "introuvable"


class Conflict(DccError):
    status_code = 409
    code = "conflit"


class UndecidedCases(Conflict):
    """A session is validated while some of its cases have no decision: the coordinator must confirm
    (they are then sent back to assignment). Lists the cases."""

    code = "dossiers_sans_decision"

    def __init__(self, message: str, *, case_ids: list[str]) -> None:
        super().__init__(message, field="confirm")
        self.case_ids = case_ids

    def to_dict(self) -> dict[str, object]:
        return super().to_dict() | {"case_ids": list(self.case_ids)}


class QuorumNotMet(Conflict):
    """A decision taken without quorum is not a board decision: no Fiche RCP / PPS is produced or signed."""

    code = "quorum_non_atteint"


class IdentityConflict(Conflict):
    """Identity vigilance: the registration would merge or duplicate a patient. `candidates` are the ids of
    the existing patients concerned (the web layer shows those the user may see)."""

    code = "conflit_identite"

    def __init__(self, message: str, *, candidates: list[str] | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.candidates = list(candidates or [])

    def to_dict(self) -> dict[str, object]:
        return super().to_dict() | {"candidates": [{"id": c} for c in self.candidates]}


class ImmutableDocument(Conflict):
    code = "document_signe_immuable"


class SignatureRefused(DccError):
    status_code = 422
    code = "signature_refusee"


class SigningServiceUnavailable(DccError):
    """A service the signature needs (remote signing service, time-stamping authority) cannot be reached
    or failed on its side: nothing was signed, try again later."""

    status_code = 503
    code = "service_signature_indisponible"


class DeliveryError(DccError):
    """Sending to a destination failed. `permanent` errors go to dead letter at once."""

    status_code = 502
    code = "echec_envoi"

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None,
                 error_code: str = "", retry_after: float | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.error_code = error_code
        self.retry_after = retry_after
        self.excerpt = excerpt


class ConfigurationError(DccError):
    status_code = 500
    code = "configuration_invalide"


class DatabaseNotMigrated(ConfigurationError):
    code = "base_non_migree"


class DatabaseBusy(DccError):
    """The database could not serve the request within the bounded wait (SQLite write lock, PostgreSQL row
    lock, or no free connection): nothing was written, try again in `retry_after` seconds."""

    status_code = 503
    code = "base_occupee"

    def __init__(self, message: str = "La base de données est momentanément saturée : rien n'a été enregistré, "
                 "réessayez dans quelques secondes.", *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseDisconnected(DatabaseBusy):
    """The connection to the database was lost during the request (server restarted, failover): the pool is
    renewed, the request may be tried again."""

    code = "base_indisponible"

    def __init__(self) -> None:
        super().__init__("La connexion à la base de données a été interrompue : réessayez dans quelques secondes.")
