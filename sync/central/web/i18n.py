"""The dashboard's words: Simplified Chinese by default, English on request (per session)."""

from __future__ import annotations

DEFAULT_LANG = "zh_CN"
LANGS = ("zh_CN", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (zh_CN, en)
    "app.title": ("自助终端运维平台", "Kiosk fleet operations"),
    "nav.fleet": ("设备总览", "Fleet"),
    "nav.alarms": ("告警", "Alarms"),
    "nav.events": ("事件", "Events"),
    "nav.submissions": ("办件", "Submissions"),
    "nav.ratings": ("好差评", "Ratings"),
    "nav.enrolment": ("设备注册", "Enrolment"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.logout": ("退出", "Log out"),
    "lang.other": ("English", "中文"),
    "login.title": ("运维人员登录", "Operator login"),
    "login.user": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong user name or password"),
    "role.viewer": ("查看员", "viewer"),
    "role.operator": ("操作员", "operator"),
    "role.admin": ("管理员", "admin"),
    "state.online": ("在线", "online"),
    "state.late": ("延迟", "late"),
    "state.offline": ("离线", "offline"),
    "state.total": ("合计", "total"),
    "col.device": ("设备", "Device"),
    "col.site": ("站点", "Site"),
    "col.state": ("状态", "State"),
    "col.queue": ("待发队列", "Queue"),
    "col.oldest": ("最久未送达", "Oldest pending"),
    "col.last_seen": ("最后联系", "Last seen"),
    "col.alarms": ("告警", "Alarms"),
    "col.version": ("版本", "Version"),
    "col.disk": ("磁盘剩余", "Disk free"),
    "col.drivers": ("外设", "Drivers"),
    "col.time": ("时间", "Time"),
    "col.type": ("类型", "Type"),
    "col.detail": ("详情", "Detail"),
    "col.code": ("代码", "Code"),
    "col.severity": ("级别", "Severity"),
    "col.raised": ("产生时间", "Raised"),
    "col.cleared": ("解除时间", "Cleared"),
    "col.cleared_by": ("解除者", "Cleared by"),
    "col.receipt": ("回执号", "Receipt"),
    "col.service": ("事项", "Service"),
    "col.received": ("接收时间", "Received"),
    "col.fields": ("内容（已脱敏）", "Fields (masked)"),
    "col.actor": ("操作人", "Who"),
    "col.action": ("操作", "Action"),
    "col.target": ("对象", "Target"),
    "col.command": ("命令", "Command"),
    "col.result": ("结果", "Result"),
    "col.count": ("数量", "Count"),
    "col.bad": ("差评", "Negative"),
    "col.good_rate": ("满意率", "Satisfied"),
    "fleet.title": ("设备总览", "Fleet overview"),
    "fleet.empty": ("暂无设备", "No kiosks yet"),
    "fleet.live": ("实时更新", "live"),
    "device.title": ("设备详情", "Kiosk"),
    "device.telemetry": ("遥测趋势", "Telemetry over time"),
    "device.no_telemetry": ("尚无遥测数据", "No telemetry yet"),
    "device.drivers": ("外设状态", "Drivers"),
    "device.events": ("最近事件", "Recent events"),
    "device.commands": ("远程命令", "Commands"),
    "device.maintenance_message": ("维护提示语", "Maintenance message"),
    "device.maintenance_default": ("设备维护中，请稍后再来", "Under maintenance, please come back later"),
    "device.maintenance_on": ("开启维护模式", "Maintenance on"),
    "device.maintenance_off": ("关闭维护模式", "Maintenance off"),
    "device.diagnostics": ("采集诊断信息", "Diagnostics"),
    "device.sent_commands": ("已发命令", "Sent commands"),
    "device.waiting": ("等待结果…", "waiting for the result…"),
    "device.maintenance": ("维护模式", "maintenance"),
    "device.refusing": ("暂停受理", "refusing submissions"),
    "chart.queue": ("待发队列", "queue"),
    "chart.oldest": ("最久未送达（分钟）", "oldest pending (min)"),
    "confirm.title": ("确认发送命令", "Confirm command"),
    "confirm.question": ("确定向设备 {device} 发送“{action}”吗？", "Send “{action}” to {device}?"),
    "confirm.yes": ("确认发送", "Send"),
    "confirm.no": ("取消", "Cancel"),
    "command.sent": ("命令已发送：{id}", "Command sent: {id}"),
    "command.unavailable": ("命令功能尚不可用：{why}", "Commands are not available: {why}"),
    "command.failed": ("命令发送失败：{why}", "Sending the command failed: {why}"),
    "alarms.title": ("告警", "Alarms"),
    "alarms.open": ("未解除告警", "Open alarms"),
    "alarms.recent": ("最近解除", "Recently cleared"),
    "alarms.none": ("没有未解除的告警", "No open alarms"),
    "alarms.clear": ("解除", "Clear"),
    "events.title": ("事件", "Events"),
    "submissions.title": ("办件（个人信息已脱敏）", "Submissions (personal data masked)"),
    "submissions.full": ("查看完整信息", "Full view"),
    "submissions.full_title": ("办件完整信息（已记录审计）", "Submission, full view (audited)"),
    "submissions.full_note": ("此查看已记入审计日志。", "This view has been written to the audit log."),
    "ratings.title": ("好差评统计", "Ratings summary"),
    "ratings.by_site": ("按站点", "By site"),
    "ratings.by_service": ("按事项", "By service"),
    "ratings.none": ("暂无评价", "No ratings yet"),
    "enrolment.title": ("设备注册令牌", "Enrolment tokens"),
    "enrolment.placeholder": ("设备注册功能尚未提供；令牌将在此列出。",
                              "Enrolment is not available yet; tokens will be listed here."),
    "audit.title": ("审计日志", "Audit log"),
    "error.forbidden": ("无权执行此操作", "You may not do this"),
    "error.csrf": ("请求缺少有效的安全令牌，已拒绝", "Refused: the request carries no valid security token"),
    "error.not_found": ("未找到", "Not found"),
    "none": ("无", "none"),
    "alarm.offline": ("离线过久", "offline too long"),
    "alarm.queue_growing": ("队列持续增长", "queue growing"),
    "alarm.oldest_pending": ("积压过久", "oldest pending too old"),
    "alarm.driver_unhealthy": ("外设故障", "driver unhealthy"),
    "alarm.disk_low": ("磁盘空间不足", "disk low"),
    "alarm.submissions_refused": ("暂停受理", "submissions refused"),
    "alarm.db_quarantined": ("数据库已隔离", "database quarantined"),
    # application statuses pushed down to the kiosks (sync.central.status_push)
    "col.app_status": ("办理状态", "Status"),
    "app_status.set": ("设置", "Set"),
    "app_status.none": ("未设置", "not set"),
    "app_status.saved": ("办件 {receipt} 状态已设为“{status}”，已推送到 {n} 台终端",
                         "{receipt} set to “{status}”, pushed to {n} kiosk(s)"),
    "app_status.not_pushed": ("办件 {receipt} 状态已保存，但未能推送：{why}", "{receipt} saved but not pushed: {why}"),
    "app_status.failed": ("未能设置状态：{why}", "Status not set: {why}"),
    "app_status.received": ("已接收", "received"),
    "app_status.accepted": ("已受理", "accepted"),
    "app_status.processing": ("办理中", "in progress"),
    "app_status.supplement": ("待补正", "needs materials"),
    "app_status.completed": ("已办结", "completed"),
    "app_status.returned": ("已退回", "returned"),
    "app_status.ready": ("待领取", "ready to collect"),
    "revoke.title": ("吊销设备", "Revoke kiosk"),
    "revoke.button": ("吊销证书并断开", "Revoke and disconnect"),
    "revoke.reason": ("原因（不含个人信息）", "Reason (no personal data)"),
    "revoke.question": ("确定吊销设备 {device} 吗？其证书作废、连接断开，中心不再接收它的任何消息；恢复须重新开通。",
                        "Revoke {device}? Its certificates are void, its connection is cut and the central "
                        "accepts nothing more from it; only re-enrolment brings it back."),
    "revoke.yes": ("确认吊销", "Revoke"),
    "revoke.done": ("设备 {device} 已吊销（{n} 张证书）", "{device} revoked ({n} certificate(s))"),
    "revoke.failed": ("吊销失败：{why}", "Revocation failed: {why}"),
    "revoke.revoked": ("已吊销", "revoked"),
}

RATING_LEVELS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
NEGATIVE_LEVELS = frozenset({"不满意", "非常不满意"})

ACTION_KEYS = {"maintenance_on": "device.maintenance_on", "maintenance_off": "device.maintenance_off",
               "diagnostics": "device.diagnostics"}


def norm_lang(lang: str | None) -> str:
    return lang if lang in LANGS else DEFAULT_LANG


def translate(lang: str, key: str, **values: object) -> str:
    pair = _TEXT.get(key)
    text = key if pair is None else pair[0 if norm_lang(lang) == "zh_CN" else 1]
    return text.format(**values) if values else text


def table(lang: str) -> dict[str, str]:
    """All words in one language (for the page's live-update script)."""
    i = 0 if norm_lang(lang) == "zh_CN" else 1
    return {k: v[i] for k, v in _TEXT.items()}
