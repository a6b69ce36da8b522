"""What a decision says to the resident, in plain Chinese and English: the preset reasons, results and ways to
collect, and the sentence a kiosk shows under the status (``compose``)."""

from __future__ import annotations

from datetime import date
from typing import Any

# 不予受理: the reasons counters give most often.
REASONS: dict[str, tuple[str, str]] = {
    "not_in_scope": ("申请事项不属于本机关职权范围", "This office does not handle this kind of application"),
    "not_eligible": ("申请人不符合办理条件", "The applicant does not meet the conditions"),
    "materials_invalid": ("申请材料不真实或不符合要求", "The materials are not valid"),
    "duplicate": ("已有相同的申请正在办理", "The same application is already being handled"),
    "supplement_expired": ("逾期未补正材料", "The missing materials were not brought in time"),
    "other": ("其他原因（见说明）", "Another reason (see the note)"),
}
# 办结: the outcome.
RESULTS: dict[str, tuple[str, str]] = {
    "approved": ("准予办理", "Approved"),
    "partly": ("部分准予", "Partly approved"),
    "refused": ("不予批准", "Not approved"),
}
# How the resident gets the result.
COLLECT: dict[str, tuple[str, str]] = {
    "counter": ("请带身份证到服务中心窗口领取", "Collect it at the service centre counter with your ID card"),
    "post": ("已邮寄到您登记的地址", "Sent by post to the address you gave"),
    "elicence": ("已发放电子证照，可在手机上查看", "Issued as an e-licence; see it on your phone"),
    "kiosk": ("可在本机打印", "Print it at this kiosk"),
    "none": ("无需领取", "Nothing to collect"),
}


def date_text(d: date, lang: str) -> str:
    return d.strftime("%d %b %Y").lstrip("0") if lang == "en" else f"{d.year}年{d.month}月{d.day}日"


def compose(status: str, detail: dict[str, Any], lang: str) -> str:
    """The sentence under the status on the kiosk (and in the console), from a decision's detail."""
    zh = lang != "en"
    parts: list[str] = []
    if status == "rejected" and detail.get("reason") in REASONS:
        r = REASONS[detail["reason"]]
        parts.append(("不予受理原因：" + r[0]) if zh else ("Reason: " + r[1]))
    if status == "supplement":
        names = detail.get("missing_names") or []
        if names:
            parts.append(("请补交：" + "、".join(n[0] for n in names)) if zh
                         else ("Please bring: " + ", ".join(n[1] for n in names)))
        if detail.get("deadline"):
            d = date.fromisoformat(detail["deadline"])
            parts.append(f"请在{date_text(d, 'zh')}前到服务中心窗口补交" if zh
                         else f"Bring them to the service centre counter by {date_text(d, 'en')}")
    if status == "completed":
        if detail.get("result") in RESULTS:
            r = RESULTS[detail["result"]]
            parts.append(("办理结果：" + r[0]) if zh else ("Result: " + r[1]))
        if detail.get("collect") in COLLECT:
            c = COLLECT[detail["collect"]]
            parts.append(c[0] if zh else c[1])
    if detail.get("note"):
        parts.append(("说明：" if zh else "Note: ") + str(detail["note"]))
    return ("。" if zh else ". ").join(p.rstrip("。.") for p in parts) + ("。" if zh else ".") if parts else ""


__all__ = ["COLLECT", "REASONS", "RESULTS", "compose", "date_text"]
