"""Driver states in the technician's words: what is wrong and what to do, never a bare code.

``explain(code, lang)`` turns a driver's health code (``drivers.health``; the printer's status problems, the
ID-card reader's error codes, the self-test's own ``selftest_timeout`` / ``selftest_error:...``) into one
sentence with a remedy, in the screen's language. An unknown code still gets a sentence (and the code in
brackets, for the hotline).
"""

from __future__ import annotations

# code -> (Chinese, English)
_TEXTS: dict[str, tuple[str, str]] = {
    "camera_unplugged": ("摄像头未连接：请检查 USB 线，插好后点重试",
                         "Camera not connected: check its USB cable, then tap Retry"),
    "camera_open_failed": ("摄像头无法打开：请拔下 USB 线重新插好，再点重试",
                           "The camera cannot be opened: unplug and replug its USB cable, then tap Retry"),
    "camera_read_failed": ("摄像头没有画面：请检查镜头和 USB 线，再点重试",
                           "The camera gives no picture: check the lens and USB cable, then tap Retry"),
    "sim_source_unreadable": ("模拟摄像头的图片无法读取：请检查模拟设备目录",
                              "The simulated camera's picture cannot be read: check the simulator folder"),
    "printer_paper_out": ("打印机缺纸：请装入热敏纸卷，合上盖子后点重试",
                          "The printer is out of paper: load a thermal roll, close the cover, tap Retry"),
    "printer_paper_near_end": ("打印纸快用完了：请尽快更换纸卷",
                               "The paper roll is nearly used up: replace it soon"),
    "printer_cover_open": ("打印机盖子没有合上：请合上盖子后点重试",
                           "The printer cover is open: close it, then tap Retry"),
    "printer_offline": ("打印机离线：请检查电源和连接线，再点重试",
                        "The printer is offline: check its power and cable, then tap Retry"),
    "printer_unreachable": ("找不到打印机：请检查电源和 USB/网线，再点重试",
                            "The printer cannot be reached: check its power and USB/network cable, then tap Retry"),
    "printer_no_reply": ("打印机没有应答：请关闭打印机电源再打开，然后点重试",
                         "The printer does not answer: switch it off and on, then tap Retry"),
    "printer_bad_reply": ("打印机应答异常：请关闭打印机电源再打开，然后点重试",
                          "The printer answers garbled: switch it off and on, then tap Retry"),
    "printer_cutter_error": ("打印机切刀卡住：请打开盖子清除卡纸，再点重试",
                             "The printer's cutter is jammed: open the cover, clear the paper, tap Retry"),
    "printer_unrecoverable_error": ("打印机故障：请关闭电源再打开；仍不行请联系维修",
                                    "Printer fault: switch it off and on; if it persists, call for repair"),
    "printer_recoverable_error": ("打印机暂时出错：请检查纸张和盖子，再点重试",
                                  "Temporary printer error: check the paper and cover, then tap Retry"),
    "printer_write_failed": ("数据发送到打印机失败：请检查连接线，再点重试",
                             "Could not send to the printer: check the cable, then tap Retry"),
    "printer_write_timeout": ("打印机长时间不接收数据：请检查纸张和连接线，再点重试",
                              "The printer stopped taking data: check the paper and cable, then tap Retry"),
    "printer_degraded": ("打印机需要注意：请检查纸张和盖子", "The printer needs attention: check paper and cover"),
    "no-response": ("读卡器没有应答：请检查读卡器的电源和连接线，再点重试",
                    "The card reader does not answer: check its power and cable, then tap Retry"),
    "serial-io": ("读卡器通信出错：请拔下连接线重新插好，再点重试",
                  "Card reader communication failed: replug its cable, then tap Retry"),
    "serial-open": ("读卡器的串口打不开：请检查连接线和设备设置，再点重试",
                    "The card reader's port cannot be opened: check the cable and device settings, then tap Retry"),
    "card-removed": ("读卡时身份证被拿开了：请把卡放稳后重试",
                     "The card was lifted during the read: hold it still and retry"),
    "closed": ("读卡器已关闭：请重启本机", "The card reader is closed: restart the kiosk"),
    "selftest_timeout": ("设备自检没有在规定时间内完成：请检查设备电源和连接线，再点重试",
                         "The device did not finish its self-test in time: check its power and cable, then tap Retry"),
    "selftest_error": ("设备自检出错：请重启本机；仍不行请联系维修",
                       "The device's self-test failed: restart the kiosk; if it persists, call for repair"),
}
_LABELS: dict[str, tuple[str, str]] = {
    "camera.scanner": ("扫码摄像头", "Scanner camera"),
    "camera.document": ("证件/材料摄像头", "Document camera"),
    "idcard": ("身份证读卡器", "ID-card reader"),
    "printer": ("凭条打印机", "Receipt printer"),
}
_FALLBACK = ("设备故障：请检查电源和连接线，再点重试", "Device fault: check its power and cable, then tap Retry")


def explain(code: str | None, lang: str = "zh") -> str:
    """One sentence with a remedy for a driver's error code ("" for no error)."""
    if not code:
        return ""
    base = code.split(":", 1)[0]
    text = _TEXTS.get(code) or _TEXTS.get(base)
    if text is None and base.startswith("idcard"):
        text = _TEXTS["no-response"]
    pair = text or _FALLBACK
    sentence = pair[0] if lang == "zh" else pair[1]
    return sentence if text is not None else f"{sentence}（{code}）"


def driver_label(name: str, lang: str = "zh") -> str:
    """What the technician calls a driver ("扫码摄像头"), not its registry name."""
    pair = _LABELS.get(name)
    return (pair[0] if lang == "zh" else pair[1]) if pair else name


def printer_problem(report: dict[str, object]) -> str | None:
    """The first problem a printer self-test report names (its error, else its status's problems)."""
    error = report.get("error")
    if isinstance(error, str) and error:
        return error
    status = report.get("status")
    problems = status.get("problems") if isinstance(status, dict) else None
    if isinstance(problems, list) and problems:
        return str(problems[0])
    return None
