// Chinese first, English switchable; the choice is kept in localStorage.
const STORAGE_KEY = "xueliang.lang";

const zh = {
  "app.title": "一屏观城乡",
  "login.subtitle": "视频联动网格事件 · 值班员登录",
  "login.username": "用户名",
  "login.password": "密码",
  "login.submit": "登录",
  "login.failed": "用户名或密码不正确",
  "login.expired": "登录已过期，请重新登录",
  "login.offline": "无法连接服务",
  "lang.switch": "English",
  "nav.map": "网格地图",
  "nav.cameras": "摄像头墙",
  "nav.dashboard": "今日统计",
  "nav.logout": "退出",
  "link.open": "实时连接正常",
  "link.connecting": "正在连接…",
  "link.retry": "连接中断，{s} 秒后重连",
  "sound.on": "声音：开",
  "sound.off": "声音：关",
  "role.admin": "管理员",
  "role.operator": "值班员",
  "role.viewer": "只读",
  "role.incident-system": "事件系统",
  "grid.all": "全部网格",
  "feed.title": "实时事件",
  "feed.grid": "网格",
  "feed.category": "类别",
  "feed.all": "全部",
  "feed.empty": "暂无事件",
  "feed.count": "{n} 条",
  "alarm.new": "新的 A 级事件：{what}（{where}）",
  "alarm.dismiss": "知道了",
  "severity": "{s} 级",
  "status.reported": "待核实",
  "status.filed": "已立案",
  "status.rejected": "误报",
  "status.dispatched": "已派遣",
  "status.handled": "已处置",
  "status.checked": "已核查",
  "status.closed": "已结案",
  "status.evaluated": "已评价",
  "step.file": "核实立案",
  "step.reject": "误报驳回",
  "step.dispatch": "指挥派遣",
  "step.redispatch": "改派",
  "step.handle": "处置反馈",
  "step.check": "核查通过",
  "step.send_back": "核查不通过，退回",
  "step.close": "结案",
  "step.evaluate": "考核评价",
  "light.green": "时限充足",
  "light.yellow": "时限过半",
  "light.red": "已超时",
  "incident.camera": "摄像头",
  "incident.grid": "网格",
  "incident.owner": "责任部门",
  "incident.assignee": "派遣至",
  "incident.opened": "发现时间",
  "incident.updated": "最近更新",
  "incident.ended": "画面中结束",
  "incident.ongoing": "仍在持续",
  "incident.deadline": "处置时限",
  "incident.left": "剩余 {t}",
  "incident.over": "超时 {t}",
  "incident.peak_count": "峰值人数",
  "incident.confidence": "最高置信度",
  "incident.status": "状态",
  "incident.snapshot": "证据截图",
  "incident.no_snapshot": "无截图",
  "incident.history": "处置记录",
  "incident.no_history": "尚无处置记录",
  "incident.steps": "下一步",
  "incident.no_steps": "当前角色没有可执行的步骤",
  "incident.not_found": "事件不存在或不在您的网格范围内",
  "incident.back": "返回地图",
  "form.reason": "误报原因",
  "form.department": "派遣部门",
  "form.staff": "处置人员",
  "form.note": "说明",
  "form.rating": "评分 (1-5)",
  "form.confirm": "确认",
  "form.cancel": "取消",
  "form.failed": "操作失败：{m}",
  "form.done": "已完成：{step}",
  "map.title": "网格地图",
  "map.legend.cell": "网格",
  "map.legend.open": "有未结事件",
  "map.open": "{n} 件未结",
  "map.no_geometry": "无边界：{names}",
  "cameras.title": "摄像头墙",
  "cameras.state.online": "在线",
  "cameras.state.connecting": "连接中",
  "cameras.state.stalled": "画面停滞",
  "cameras.state.offline": "离线",
  "cameras.state.unknown": "未知",
  "cameras.since": "状态始于",
  "cameras.fps": "分析帧率",
  "cameras.frames": "已解码 / 丢弃",
  "cameras.error": "最近错误",
  "cameras.no_thumbnail": "暂无画面",
  "cameras.zone": "区域",
  "cameras.line": "警戒线",
  "cameras.none": "您的网格内没有摄像头",
  "dash.title": "今日统计",
  "dash.total": "今日事件",
  "dash.open": "未结",
  "dash.overdue": "超时",
  "dash.false_rate": "误报率",
  "dash.by_grid": "按网格",
  "dash.by_category": "按类别",
  "dash.by_status": "按状态",
  "dash.none": "—",
  "time.s": "{n} 秒",
  "time.m": "{n} 分钟",
  "time.h": "{h} 小时 {m} 分",
};

const en = {
  "app.title": "City at a glance",
  "login.subtitle": "Video-linked grid incidents · operator sign-in",
  "login.username": "User name",
  "login.password": "Password",
  "login.submit": "Sign in",
  "login.failed": "Wrong user name or password",
  "login.expired": "Your session expired; please sign in again",
  "login.offline": "Cannot reach the service",
  "lang.switch": "中文",
  "nav.map": "Grid map",
  "nav.cameras": "Camera wall",
  "nav.dashboard": "Today",
  "nav.logout": "Sign out",
  "link.open": "Live",
  "link.connecting": "Connecting…",
  "link.retry": "Link lost, retrying in {s} s",
  "sound.on": "Sound: on",
  "sound.off": "Sound: off",
  "role.admin": "admin",
  "role.operator": "operator",
  "role.viewer": "viewer",
  "role.incident-system": "incident system",
  "grid.all": "All cells",
  "feed.title": "Live incidents",
  "feed.grid": "Grid",
  "feed.category": "Category",
  "feed.all": "All",
  "feed.empty": "No incidents",
  "feed.count": "{n}",
  "alarm.new": "New A-level incident: {what} ({where})",
  "alarm.dismiss": "Got it",
  "severity": "Grade {s}",
  "status.reported": "Reported",
  "status.filed": "Filed",
  "status.rejected": "False alarm",
  "status.dispatched": "Dispatched",
  "status.handled": "Handled",
  "status.checked": "Checked",
  "status.closed": "Closed",
  "status.evaluated": "Evaluated",
  "step.file": "Verify & file",
  "step.reject": "Reject as false alarm",
  "step.dispatch": "Dispatch",
  "step.redispatch": "Redispatch",
  "step.handle": "Report handling",
  "step.check": "Check passed",
  "step.send_back": "Send back",
  "step.close": "Close case",
  "step.evaluate": "Evaluate",
  "light.green": "On time",
  "light.yellow": "Half time used",
  "light.red": "Overdue",
  "incident.camera": "Camera",
  "incident.grid": "Grid",
  "incident.owner": "Owner department",
  "incident.assignee": "Dispatched to",
  "incident.opened": "Seen at",
  "incident.updated": "Last update",
  "incident.ended": "Ended on camera",
  "incident.ongoing": "still ongoing",
  "incident.deadline": "Deadline",
  "incident.left": "{t} left",
  "incident.over": "{t} over",
  "incident.peak_count": "Peak people",
  "incident.confidence": "Peak confidence",
  "incident.status": "Status",
  "incident.snapshot": "Evidence",
  "incident.no_snapshot": "No snapshot",
  "incident.history": "History",
  "incident.no_history": "No steps taken yet",
  "incident.steps": "Next steps",
  "incident.no_steps": "Your role has no step to take here",
  "incident.not_found": "No such incident in your grid",
  "incident.back": "Back to map",
  "form.reason": "Why it is a false alarm",
  "form.department": "Department",
  "form.staff": "Staff member",
  "form.note": "Note",
  "form.rating": "Rating (1-5)",
  "form.confirm": "Confirm",
  "form.cancel": "Cancel",
  "form.failed": "Failed: {m}",
  "form.done": "Done: {step}",
  "map.title": "Grid map",
  "map.legend.cell": "Grid cell",
  "map.legend.open": "Open incidents",
  "map.open": "{n} open",
  "map.no_geometry": "No boundary: {names}",
  "cameras.title": "Camera wall",
  "cameras.state.online": "online",
  "cameras.state.connecting": "connecting",
  "cameras.state.stalled": "stalled",
  "cameras.state.offline": "offline",
  "cameras.state.unknown": "unknown",
  "cameras.since": "Since",
  "cameras.fps": "Analysed fps",
  "cameras.frames": "Decoded / dropped",
  "cameras.error": "Last error",
  "cameras.no_thumbnail": "No picture yet",
  "cameras.zone": "Zone",
  "cameras.line": "Line",
  "cameras.none": "No cameras in your grid",
  "dash.title": "Today",
  "dash.total": "Incidents today",
  "dash.open": "Open",
  "dash.overdue": "Overdue",
  "dash.false_rate": "False-alarm rate",
  "dash.by_grid": "By grid cell",
  "dash.by_category": "By category",
  "dash.by_status": "By status",
  "dash.none": "—",
  "time.s": "{n} s",
  "time.m": "{n} min",
  "time.h": "{h} h {m} min",
};

// Category names come from the config (in Chinese); English names for the demo's categories.
const categoriesEn = {
  crowd_gathering: "Crowd gathering",
  fire_hazard: "Fire hazard",
  camera_fault: "Camera fault",
  zone_intrusion: "Zone intrusion",
  loitering: "Loitering",
  line_crossing: "Line crossing (wrong way)",
  camera_tamper: "Camera tampered / picture abnormal",
  fall_detected: "Person fallen",
  illegal_parking: "Illegal parking / lane occupied",
};
const groupsEn = { 社会治安: "Public order", 安全生产: "Safety", 城市管理: "City management", 民生服务: "Public services" };

const dictionaries = { zh, en };
let lang = localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key, params = {}) {
  const text = dictionaries[lang][key] ?? zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function categoryName(incident) {
  if (lang === "en") return categoriesEn[incident.category_code] ?? incident.category_name;
  return incident.category_name;
}

export function categoryGroup(incident) {
  if (lang === "en") return groupsEn[incident.category_group] ?? incident.category_group;
  return incident.category_group;
}

/** Fill every element marked `data-i18n` with its text in the current language. */
export function translatePage(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll(".lang-switch")) el.textContent = t("lang.switch");
}

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, 2026-03-01 16:05:09. */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Time of day only, for the feed. */
export function formatClock(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDuration(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 60) return t("time.s", { n: s });
  if (s < 3600) return t("time.m", { n: Math.round(s / 60) });
  return t("time.h", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}
