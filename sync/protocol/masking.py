"""The one masking policy the whole product uses for personal data on screens, receipts and listings.

ID numbers show the first 6 and last 4 characters at most; names keep the first character; phones keep
the first 3 and last 4 digits.
"""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    v = value.strip()
    if len(v) <= 10:
        return "*" * len(v)
    return v[:6] + "*" * (len(v) - 10) + v[-4:]


def mask_name(value: str) -> str:
    v = value.strip()
    if not v:
        return ""
    return v[0] + "*" * max(1, len(v) - 1)


def mask_phone(value: str) -> str:
    v = value.strip()
    if len(v) < 8:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_text(value: str) -> str:
    """Free text (addresses, reasons): only its length shows."""
    return "*" * min(len(value.strip()), 12)


_BY_KIND = {
    "name": mask_name,
    "id_number": mask_id_number,
    "phone": mask_phone,
}


def mask_field(kind: str, value: object) -> str:
    """Mask a form field by its kind (the catalogue's field type); unknown kinds hide everything."""
    text = "" if value is None else str(value)
    return _BY_KIND.get(kind, mask_text)(text)
