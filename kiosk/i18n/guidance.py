# ruff: noqa: E501  (a table of screen texts: one entry per line reads best)
"""Texts of guidance, voice, calling staff and the printed receipt: key -> (中文, English).

Kept apart from ``strings.py`` so these features can change without touching the screens' table;
:mod:`kiosk.i18n` merges both (a key may be defined in one of them only).
"""

from __future__ import annotations

GUIDANCE: dict[str, tuple[str, str]] = {
    # voice
    "voiceRepeat": ("再听一遍", "Hear again"),
    "voiceItem": ("请阅读办事指南，点击“开始办理”", "Read the guide, then tap Start"),
    "voiceThanks": ("谢谢您，再见", "Thank you, goodbye"),
    # guidance pictures
    "guideCard": ("把身份证平放在读卡区，听到“嘀”声后拿开", "Lay the ID card flat on the reader; lift it after the beep"),
    "guideReaderPad": ("读卡区", "Reader"),  # written on the reader in the placement picture
    "guideQr": ("把手机上的二维码对准扫码口，距离约10厘米", "Hold the QR code on your phone to the scanner, about 10 cm away"),
    "guideDocument": ("把材料平放在框内，文字朝上", "Lay the document flat inside the frame, text up"),
    # document camera quality check
    "qualityOk": ("照片清晰，可以使用", "The photo is clear"),
    "qualityBlur": ("照片模糊：请放稳材料，手离开后再拍", "The photo is blurred: keep the document still and take your hand away"),
    "qualityGlare": ("反光太强：请把材料稍微倾斜或移开灯光", "Too much glare: tilt the document a little or move it out of the light"),
    "qualityNoDocument": ("没有找到材料：请把材料放在框内", "No document found: put it inside the frame"),
    "qualityDark": ("照片太暗：请把材料放在拍摄台中央", "The photo is too dark: put the document in the middle of the stand"),
    "qualityRetake": ("重拍", "Retake"),
    "qualityUseAnyway": ("仍然使用这张", "Use it anyway"),
    "shutter": ("咔嚓，已拍照", "Photo taken"),
    # calling staff
    "callStaff": ("呼叫工作人员", "Call staff"),
    "callStaffSent": ("工作人员已收到呼叫，马上过来，请稍候", "Staff have received your call and are coming; please wait"),
    "callStaffQueued": ("已记录呼叫，网络恢复后通知工作人员；也可以到人工窗口求助", "Your call is saved and staff are told when the network returns; you can also go to the counter"),
    "callStaffFailed": ("呼叫没有发出，请到人工窗口求助", "The call could not be made; please go to the counter"),
    "callStaffWait": ("正在呼叫工作人员，请稍候", "Calling staff; please wait"),
    # printed receipt
    "rcTitle": ("受理回执", "Receipt"),
    "rcSite": ("办理地点", "Service centre"),
    "rcItem": ("办理事项", "Service"),
    "rcApplicant": ("申请人", "Applicant"),
    "rcNumber": ("受理编号", "Receipt no."),
    "rcTime": ("提交时间", "Submitted"),
    "rcStateOnline": ("状态：已保存，正在提交至政务服务平台", "Status: saved, being sent to the government service platform"),
    "rcStateOffline": ("状态：本机暂时离线，申请已保存，联网后自动提交", "Status: this kiosk is offline; saved, it is sent automatically when online"),
    "rcTimeLimit": ("承诺办理时限", "Processing time"),
    "rcBring": ("尚需补交的材料", "Still to bring"),
    "rcBringBy": ("请于{date}前（{n}个工作日内）带原件到{site}窗口补交，逾期本次申请将不予办理。", "Bring the originals to the counter at {site} by {date} ({n} working days), or this application lapses."),
    "rcNothingToBring": ("材料已齐全，无需补交", "All documents received; nothing to bring"),
    "rcQuery": ("扫描下方二维码或凭受理编号在自助机查询办理进度", "Scan the QR code below, or use the receipt number at a kiosk, to see the progress"),
    "rcHotline": ("咨询电话", "Hotline"),
    "rcKeep": ("请妥善保管本回执", "Please keep this receipt"),
    "rcSiteUnknown": ("本街道便民服务中心", "this service centre"),
    # the technician's settings
    "svcVoice": ("语音提示", "Voice prompts"),
    "svcVoiceVolume": ("语音音量（%）", "Voice volume (%)"),
    "svcHotline": ("咨询电话（印在回执上）", "Hotline (printed on receipts)"),
}
