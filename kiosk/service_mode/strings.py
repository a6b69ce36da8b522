"""The service mode's own screen texts (Chinese first), laid over ``kiosk.i18n``'s table: the technician's
screens change without touching the resident's strings."""

from __future__ import annotations

from kiosk.i18n import table

SERVICE_STRINGS: dict[str, tuple[str, str]] = {
    # Joints and failures put together in code: in the screen's language, no full-width marks in English.
    "svcSentenceSep": ("。", ". "),
    "svcClauseSep": ("，", "; "),
    "svcFailed": ("操作失败（{e}）", "The action failed ({e})"),
    "svcProvisionFailed": ("开通失败（{e}）", "Provisioning failed ({e})"),
    "svcResetFailed": ("恢复出厂设置失败（{e}）", "The factory reset failed ({e})"),
    "svcResetRefused": ("还有未送达的申请：请先导出到 U 盘，再恢复出厂设置",
                        "Undelivered applications remain: export them to USB first, then reset"),
    "svcUsbUpdate": ("从 U 盘安装软件更新", "Install an update from USB"),
    "svcUsbStaged": ("已从 U 盘取得 {version} 版：验证签名后将在无人办理时安装，并检查运行正常（否则自动退回）",
                     "Release {version} taken from USB: after its signature is checked it installs between "
                     "residents and is checked healthy (else rolled back)"),
    "svcUsbNone": ("U 盘上没有签名的软件更新（street-kiosk-版本.tar.gz 及其 .release.json）",
                   "No signed update on the USB stick (street-kiosk-VERSION.tar.gz and its .release.json)"),
    "svcPinLocked": ("错误次数过多，已锁定 {m} 分钟", "Too many wrong PINs: locked for {m} min"),
    "svcAlarmSent": ("平台已收到告警", "the central has the alarm"),
    "svcAlarmQueued": ("告警已记录，联网后送达平台", "the alarm is queued and reaches the central when online"),
    "svcPinReset": ("本机的维护密码已被平台重置：请设置新的维护密码（6–12 位数字）",
                   "The service PIN was reset by the central: set a new one (6–12 digits)"),
    "svcDevice": ("本机信息", "This kiosk"),
    "svcDeviceId": ("终端编号", "Device id"),
    "svcSite": ("所属站点", "Site"),
    "svcSiteName": ("站点显示名称", "Site display name"),
    "svcVersion": ("软件版本", "Software version"),
    "svcAddresses": ("本机网络地址", "Network addresses"),
    "svcCertExpiry": ("证书有效期至", "Certificate valid until"),
    "svcNoCert": ("未使用 TLS 证书", "No TLS certificate"),
    "svcNotProvisioned": ("未开通", "not provisioned"),
    "svcDoneTitle": ("开通完成", "Provisioning done"),
    "svcDoneChecking": ("正在连接平台…", "Connecting to the central…"),
    "svcDoneOnline": ("✔ 已在平台上线", "✔ Online at the central"),
    "svcDonePending": ("已保存开通信息，平台尚未确认：联网后自动完成",
                       "Saved; the central has not confirmed yet: it completes once online"),
    "svcDoneFinish": ("完成", "Finish"),
    "svcDaemonStarted": ("同步服务已启动，正在连接平台", "The sync service was started and is connecting"),
    "svcDaemonDown": ("同步服务未运行", "The sync service is not running"),
    "svcDaemonDownHint": ("同步服务未运行：请重启本机；仍不行请联系平台",
                          "The sync service is not running: restart the kiosk; if it persists, call the central"),
    "svcRetryAsked": ("已通知同步服务立即重试", "The sync service was asked to retry now"),
    "svcScanNeedsCamera": ("扫码摄像头未连接：请检查 USB 线，插好后点「全部自检」重试",
                           "The scanner camera is not connected: check its USB cable, then tap Test all"),
    "svcPrintFail": ("打印失败：{e}", "Printing failed: {e}"),
    "svcSelftestFailed": ("自检未能完成：请重试；仍不行请重启本机",
                          "The self-test could not run: try again, or restart the kiosk"),
    "svcScanToken": ("扫描开通二维码", "Scan the enrolment QR code"),
    "svcScanTokenHint": ("请把平台签发的开通二维码对准扫码摄像头",
                         "Hold the enrolment QR code up to the scanner camera"),
    "svcOr": ("或输入开通码", "or type the token"),
    "svcLangDefault": ("默认语言", "Default language"),
    "svcLangZh": ("中文", "Chinese"),
    "svcLangEn": ("English", "English"),
    "svcIdle": ("无操作超时（秒）", "Idle time-out (s)"),
    "svcHeartbeat": ("心跳间隔（秒）", "Heartbeat interval (s)"),
    "svcRange": ("范围 {lo}–{hi}", "range {lo}–{hi}"),
    "svcElderDefault": ("默认大字模式", "Large text by default"),
    "svcOn": ("开", "On"),
    "svcOff": ("关", "Off"),
    "svcOutOfRange": ("{name}应在 {lo}–{hi} 之间（未做任何修改）",
                      "{name} must be between {lo} and {hi} (nothing changed)"),
    "svcBadValue": ("{name}的值无效（未做任何修改）", "{name}: invalid value (nothing changed)"),
    "svcTooLong": ("{name}最多 {hi} 个字（未做任何修改）", "{name}: at most {hi} characters (nothing changed)"),
    "svcExportedLogs": ("日志已导出到 {path}", "Logs exported to {path}"),
    "svcResetWorking": ("正在恢复出厂设置…", "Factory reset in progress…"),
}


def service_table(lang: str) -> dict[str, str]:
    base = table(lang)
    i = 0 if lang == "zh" else 1
    return {**base, **{k: v[i] for k, v in SERVICE_STRINGS.items()}}
