"""The submission set's signature: TD2 sends "un lot de soumission signé en XAdES" (IHE ITI-41 for the DMP,
ansforge/IG-FHIR-PDSM4DMP-EEDS transaction_td2.md; domain-notes §3), as an IHE DSG signature document.

IHE Document Digital Signature (ITI TF-3 §5.5): the signature is an XML document of its own, carried in the
same submission set as the documents it signs. Its `ds:Signature` is XAdES (ETSI EN 319 132, signxml's
XAdESSigner: SignedProperties with the signing time and the signer certificate's digest) enveloping a
`ds:Object` whose `ds:Manifest` holds one `ds:Reference` per signed document: URI = the document's
uniqueId (`urn:oid:` form), DigestValue = SHA-256 of the document's bytes. The seal certificate of the
sending structure signs it, as it signs the VIHF.

Its DocumentEntry: classCode `urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1` "Digital Signature" (URN), typeCode
`E1762` "Full Document" (ASTM; in the kit's JDV_J07_XdsTypeCode_CISIS), formatCode
`http://www.w3.org/2000/09/xmldsig#` "Default signature style" (URN), mimeType text/xml; author, patient,
confidentiality and facility codes those of the signed document. The class and format codes are the DMP's own
(confirmed 2026-12-04, no longer [U]):
- classCode: JDV_J57_ClassCode_DMP (OID 1.2.250.1.213.1.1.5.6, https://mos.esante.gouv.fr/NOS/JDV_J57-ClassCode-DMP,
  version 20230922120000, published in ansforge/IG-terminologie-de-sante "Terminologies de Santé" 1.12.0)
  includes TRE_A10-NomenclatureURN#urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1 "Digital Signature";
- formatCode: JDV_J60_FormatCode_DMP (OID 1.2.250.1.213.1.1.5.8, version 20260928120000;
  ansforge/IG-terminologie-de-sante, DM/input/fsh/Done/Ontoserver/JDV_J60_FormatCode_DMP.fsh) includes
  TRE_A10-NomenclatureURN#http://www.w3.org/2000/09/xmldsig# "Default signature style" (it also lists
  urn:ihe:iti:dsg:detached:2014 "Signature détachée", from TRE_A11; dcc keeps the former, which the DMP lists);
- the pair typeCode E1762 -> classCode urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1: the DMP's ASS_X16-CorrespondanceType-
  Classe-DMP (version 20240223120000; ansforge/IG-terminologie-de-sante, DM/input/fsh/ASS-X16-CorrespondanceType-
  Classe-DMP.fsh), group TRE_A12-NomenclatureASTM -> TRE_A10-NomenclatureURN;
- codingScheme `URN`: "TRE_A10-NomenclatureURN, OID : URN" (the ANS PDSm profiles' binding description of
  DocumentReference.category, e.g. pdsm-comprehensive-document-reference).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Sequence

from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, methods
from signxml.xades import XAdESSigner

from dcc.adapters.national_record.ebrim import DS, _q, new_oid
from dcc.adapters.national_record.metadata import CodedValue, DocumentEntry
from dcc.adapters.national_record.vihf import SenderIdentity

DSG_CLASS = CodedValue("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
DSG_TYPE = CodedValue("E1762", "ASTM", "Full Document")
DSG_FORMAT = CodedValue("http://www.w3.org/2000/09/xmldsig#", "URN", "Default signature style")  # JDV_J60's display
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def document_uri(unique_id: str) -> str:
    """The Manifest reference URI of a document: its uniqueId, as a URN."""
    return unique_id if unique_id.startswith("urn:") else f"urn:oid:{unique_id}"


def sign_submission_set(identity: SenderIdentity, documents: Sequence[tuple[str, bytes]]) -> bytes:
    """The XAdES signature document over `documents` ((uniqueId, bytes) of each document of the set)."""
    manifest = etree.Element(_q(DS, "Manifest"), nsmap={"ds": DS}, Id="submission-set-manifest")
    for unique_id, content in documents:
        reference = etree.SubElement(manifest, _q(DS, "Reference"), URI=document_uri(unique_id))
        etree.SubElement(reference, _q(DS, "DigestMethod"), Algorithm=SHA256)
        etree.SubElement(reference, _q(DS, "DigestValue")).text = base64.b64encode(
            hashlib.sha256(content).digest()).decode("ascii")
    signer = XAdESSigner(method=methods.enveloping, signature_algorithm=SignatureMethod.RSA_SHA256,
                         digest_algorithm=DigestAlgorithm.SHA256)
    signature: etree._Element = signer.sign(manifest, key=identity.private_key(),
                                            cert=identity.cert_pem().decode("ascii"))
    return bytes(etree.tostring(signature, xml_declaration=True, encoding="UTF-8"))


def signature_entry(signed: DocumentEntry, signature: bytes) -> DocumentEntry:
    """The DocumentEntry of the signature document of `signed`'s submission set."""
    return dataclasses.replace(
        signed,
        unique_id=new_oid(),
        title="Signature du lot de soumission",
        type_code=DSG_TYPE,
        class_code=DSG_CLASS,
        format_code=DSG_FORMAT,
        hash_sha1=hashlib.sha1(signature).hexdigest(),
        size=len(signature),
        replaces=None,
        mime_type="text/xml",
        legal_authenticator=None,
    )
