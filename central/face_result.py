"""The 人证核验 result a kiosk seals with a submission (issue 20), as the central keeps and shows it.

The kiosk's ``face_check`` field says ``pass``, ``fail`` or ``not_done`` with a score band, the attempts and why
(kiosk/journey/face_record.py). The result, its band and why carry no personal data: listings keep them (as they
keep a material's evidence level), so the staff who take the application on know whether to check the resident's
identity at the counter; the distance, the model and the face image stay in the sealed record, for the admin's
audited full view only. Anything else in those places is masked like any unknown field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KIND = "face_check"
RESULTS = ("pass", "fail", "not_done")
BANDS = ("high", "medium", "low", "none")

_RESULT = {"pass": ("通过", "Passed"), "fail": ("未通过", "Not passed"), "not_done": ("未进行", "Not done")}
_BAND = {"high": ("相似度高", "similarity high"), "medium": ("相似度中", "similarity medium"),
         "low": ("相似度低", "similarity low")}
_REASON = {
    "mismatch": ("人脸与身份证照片不一致", "the face does not match the ID card's photo"),
    "liveness": ("未按提示转头（活体检测未通过）", "the turn prompt was not followed (liveness)"),
    "no_face": ("未拍到人脸", "no face was seen"),
    "no_card_photo": ("身份证照片无法读取", "the ID card's photo could not be read"),
    "no_camera": ("人脸摄像头不可用", "the face camera was not available"),
    "error": ("设备故障", "a device fault"),
    "manual": ("申请人选择到窗口核验", "the applicant chose the counter's check"),
    "other_id": ("未通过身份证读卡核验身份", "not identified by the ID card reader"),
}
_COUNTER = ("请在窗口核验申请人身份", "check the applicant's identity at the counter")


def listed(field: Mapping[str, Any]) -> dict[str, Any]:
    """What a listing keeps of a ``face_check`` field beyond id, label and kind: the result, its band and why."""
    out: dict[str, Any] = {}
    if field.get("value") in RESULTS:
        out["value"] = field["value"]
        if field.get("band") in BANDS:
            out["band"] = field["band"]
        if field.get("reason") in _REASON:
            out["reason"] = field["reason"]
    return out


def words(field: Mapping[str, Any], lang: str) -> str:
    """The result in a sentence for the page's language (``en`` or Chinese): 通过（相似度高）, 未通过（...）：请在
    窗口核验申请人身份; a value the kiosk never sends comes out masked."""
    i = 1 if lang.startswith("en") else 0
    result = field.get("value")
    if result not in RESULTS:
        return "****"
    text = _RESULT[result][i]
    why = [_BAND[field["band"]][i]] if field.get("band") in _BAND else []
    if result != "pass" and field.get("reason") in _REASON:
        why.append(_REASON[field["reason"]][i])
    if why:
        text += f"（{'；'.join(why)}）" if i == 0 else f" ({'; '.join(why)})"
    if result != "pass":
        text += f"：{_COUNTER[0]}" if i == 0 else f": {_COUNTER[1]}"
    return text
