"""The simulated registry and repository: stored documents, their versions and the registry errors.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

# --- registry state ---------------------------------------------------------------------------------


@dataclass
class StoredDocument:
    unique_id: str
    entry_uuid: str
    patient_id: str
    content: bytes
    sha1: str
    type_code: str
    confidentiality: list[str]
    submission_set_unique_id: str
    submissions: int = 1
    replaced_by: str | None = None
    version: int = 1  # ITI-57: bumped by each metadata update; entry_uuid stays the logicalId
    current_entry_uuid: str = ""  # entryUUID of the current version ("" = entry_uuid)
    tls_client: str = ""  # DN of the TLS client certificate of the first submission ("" over plain HTTP)

    def as_state(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id,
            "entry_uuid": self.entry_uuid,
            "patient_id": self.patient_id,
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "type_code": self.type_code,
            "confidentiality": list(self.confidentiality),
            "submissions": self.submissions,
            "visible_to_patient": "INVISIBLE_PATIENT" not in self.confidentiality,
            "replaced_by": self.replaced_by,
            "tls_client": self.tls_client,
        }


class XdsError(Exception):
    """One or more registry errors, answered as a RegistryResponse Failure."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{code}: {context}" for code, context, _ in errors))
        self.errors = errors


def _err(code: str, context: str, location: str = "") -> XdsError:
    return XdsError([(code, context, location)])


class SoapFault(Exception):
    def __init__(self, subcode: str, reason: str, *, sender: bool = True) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.sender = sender


@dataclass
class Candidate:
    """A validated DocumentEntry waiting to be committed."""

    unique_id: str
    entry_uuid: str
    patient_id: str
    content: bytes
    sha1: str
    type_code: str
    confidentiality: list[str]
    replaces_entry_uuid: str | None = None
    replaces_unique_id: str | None = None  # MHD relatesTo: the target is named by its uniqueId
    replaces_version: str | None = None  # MHD: meta.versionId of the superseded DocumentReference (PUT)


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.documents: dict[str, StoredDocument] = {}
        self.submission_sets: set[str] = set()

    def reset(self) -> None:
        with self._lock:
            self.documents.clear()
            self.submission_sets.clear()

    def state(self) -> list[dict[str, Any]]:
        with self._lock:
            return [doc.as_state() for doc in self.documents.values()]

    def get(self, unique_id: str) -> StoredDocument | None:
        with self._lock:
            return self.documents.get(unique_id)

    def find_by_entry_uuid(self, entry_uuid: str) -> StoredDocument | None:
        with self._lock:
            return next((d for d in self.documents.values() if d.entry_uuid == entry_uuid), None)

    def update_confidentiality(self, unique_id: str, codes: list[str]) -> StoredDocument | None:
        """Metadata update (MHD PATCH securityLabel): same uniqueId, same bytes, new confidentiality."""
        with self._lock:
            doc = self.documents.get(unique_id)
            if doc is not None:
                doc.confidentiality = list(codes)
            return doc

    def apply_metadata_update(
        self, *, logical_id: str, unique_id: str, patient_id: str, previous_version: str, new_entry_uuid: str,
        codes: list[str],
    ) -> StoredDocument:
        """ITI-57: a new version of a DocumentEntry (same uniqueId, same bytes, new confidentiality)."""
        with self._lock:
            doc = next((d for d in self.documents.values() if d.entry_uuid == logical_id), None)
            if doc is None:
                raise _err("UnresolvedReferenceException", f"logicalId {logical_id} inconnu")
            if doc.unique_id != unique_id:
                raise _err("XDSMetadataIdentifierError", f"uniqueId {unique_id} ≠ {doc.unique_id} (lid {logical_id})")
            if doc.patient_id != patient_id:
                raise _err("XDSPatientIDReconciliationError", "patientId différent de la version précédente")
            if previous_version != str(doc.version):
                raise _err(
                    "XDSMetadataVersionError",
                    f"PreviousVersion {previous_version} ≠ version courante {doc.version}",
                )
            known = {d.entry_uuid for d in self.documents.values()} | {
                d.current_entry_uuid for d in self.documents.values()
            }
            if new_entry_uuid in known:
                raise _err("XDSMetadataIdentifierError", f"entryUUID {new_entry_uuid} déjà utilisé")
            doc.confidentiality = list(codes)
            doc.version += 1
            doc.current_entry_uuid = new_entry_uuid
            return doc

    def commit(self, ss_unique_id: str, candidates: list[Candidate], *, client: str = "") -> None:
        """Check against stored state, then store all or nothing (`client`: the TLS client's DN, if any)."""
        with self._lock:
            errors: list[tuple[str, str, str]] = []
            if ss_unique_id in self.submission_sets or ss_unique_id in self.documents:
                errors.append(
                    ("XDSDuplicateUniqueIdInRegistry", f"SubmissionSet uniqueId {ss_unique_id}", "")
                )
            by_uuid = {d.entry_uuid: d for d in self.documents.values()}
            # RPLC targets the entryUUID of the entry's current version, as an ITI-18 query returns it (after an
            # ITI-57 update the first version is Deprecated and no longer a valid target).
            by_current = {(d.current_entry_uuid or d.entry_uuid): d for d in self.documents.values()}
            new: list[Candidate] = []
            for cand in candidates:
                if cand.replaces_unique_id is not None and cand.replaces_entry_uuid is None:
                    target_doc = self.documents.get(cand.replaces_unique_id)
                    cand.replaces_entry_uuid = (
                        (target_doc.current_entry_uuid or target_doc.entry_uuid)
                        if target_doc is not None
                        else f"uniqueId {cand.replaces_unique_id}"
                    )
                existing = self.documents.get(cand.unique_id)
                if cand.unique_id in self.submission_sets:
                    errors.append(
                        ("XDSDuplicateUniqueIdInRegistry", f"uniqueId {cand.unique_id}", cand.entry_uuid)
                    )
                elif existing is not None:
                    if existing.sha1 != cand.sha1:
                        errors.append(
                            (
                                "XDSNonIdenticalHash",
                                f"uniqueId {cand.unique_id} déjà enregistré avec une autre empreinte",
                                cand.entry_uuid,
                            )
                        )
                    elif existing.patient_id != cand.patient_id:
                        errors.append(
                            ("XDSPatientIdDoesNotMatch", f"uniqueId {cand.unique_id} : autre patient", "")
                        )
                    continue
                elif cand.entry_uuid in by_uuid:
                    errors.append(
                        ("XDSDuplicateUniqueIdInRegistry", f"entryUUID {cand.entry_uuid} déjà utilisé", "")
                    )
                    continue
                if cand.replaces_entry_uuid is not None:
                    target = by_current.get(cand.replaces_entry_uuid)
                    if target is None:
                        # The DMP answers an RPLC whose target is not a current entry of its registry with
                        # XDSRegistryError (the reference cannot be resolved).
                        outdated = cand.replaces_entry_uuid in by_uuid
                        errors.append(
                            (
                                "XDSRegistryError",
                                f"Association RPLC : document cible {cand.replaces_entry_uuid} "
                                + ("n'est pas la version courante" if outdated else "inconnu"),
                                cand.entry_uuid,
                            )
                        )
                    elif cand.replaces_unique_id is not None and target.unique_id != cand.replaces_unique_id:
                        errors.append(
                            (
                                "XDSRegistryMetadataError",
                                f"relatesTo : la cible {cand.replaces_entry_uuid} n'est pas le document "
                                f"{cand.replaces_unique_id}",
                                cand.entry_uuid,
                            )
                        )
                    elif cand.replaces_version is not None and cand.replaces_version != str(target.version):
                        # PDSm constr-cdr-maj: an update names the version of the fiche it updates
                        errors.append(
                            (
                                "XDSRegistryMetadataError",
                                f"mise à jour de {target.unique_id} : version {cand.replaces_version}, "
                                f"version courante {target.version}",
                                cand.entry_uuid,
                            )
                        )
                    elif target.replaced_by not in (None, cand.unique_id):
                        errors.append(
                            (
                                "XDSRegistryMetadataError",
                                f"Association RPLC : le document {target.unique_id} est déjà remplacé",
                                cand.entry_uuid,
                            )
                        )
                    elif target.patient_id != cand.patient_id:
                        errors.append(
                            (
                                "XDSPatientIdDoesNotMatch",
                                "Association RPLC : le document remplacé est d'un autre patient",
                                "",
                            )
                        )
                new.append(cand)
            if errors:
                raise XdsError(errors)
            self.submission_sets.add(ss_unique_id)
            for cand in candidates:
                existing = self.documents.get(cand.unique_id)
                if existing is not None:
                    existing.submissions += 1
            for cand in new:
                self.documents[cand.unique_id] = StoredDocument(
                    unique_id=cand.unique_id,
                    entry_uuid=cand.entry_uuid,
                    patient_id=cand.patient_id,
                    content=cand.content,
                    sha1=cand.sha1,
                    type_code=cand.type_code,
                    confidentiality=cand.confidentiality,
                    submission_set_unique_id=ss_unique_id,
                    tls_client=client,
                )
                if cand.replaces_entry_uuid is not None:
                    for doc in self.documents.values():
                        if (doc.current_entry_uuid or doc.entry_uuid) == cand.replaces_entry_uuid:
                            doc.replaced_by = cand.unique_id
                            if cand.replaces_version is not None:  # MHD: the PUT is a new version of the fiche
                                doc.version += 1

