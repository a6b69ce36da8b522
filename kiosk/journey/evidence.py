"""How each material was obtained: its evidence level, following 国办函〔2016〕108号.

- **A**: an electronic document bearing its issuer's seal, verified: the ID card read from its chip (the
  reader's security module checks the issuing authority's signature), an e-licence (电子证照) or e-ID whose
  reference the issuing platform resolves and verifies (the kiosk checks its format and freshness, see
  ``drivers.codes.payloads.freshness_problem``);
- **B**: checked by staff (at the counter; the kiosk itself records none);
- **C**: photographed by the resident on the kiosk's document camera;
- **D**: the resident's own declaration (证明事项告知承诺制: 本人承诺代替).

A material not given yet (容缺, or an optional one left out) has no level. The level travels in the sealed
submission with each material (``evidence``, ``evidence_basis``) and is no personal data, so the central's
masked listings keep it.
"""

from __future__ import annotations

from kiosk.session import Material

LEVELS = ("A", "B", "C", "D")


def evidence(m: Material, identity_source: str | None) -> tuple[str, str]:
    """The level and what it rests on (``chip``, ``eid``, ``elicence``, ``photo``, ``declaration``), or ``("", "")``."""
    if m.state == "elicence":
        return "A", "elicence"
    if m.state == "exempt":  # the kiosk read the document itself
        if identity_source == "chip":
            return "A", "chip"
        if identity_source == "eid":
            return "A", "eid"
        return "A", "elicence"  # an ID-card e-licence QR
    if m.state == "captured":
        return "C", "photo"
    if m.state == "declared":
        return "D", "declaration"
    return "", ""
