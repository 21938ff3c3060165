/* anxin call-center console: plain JS, no build step, nothing from outside.
 *
 * Talks to anxind on the same origin (docs/console.md, the HTTP contract in
 * the lead's API docs). Every piece of data goes into the DOM through
 * textContent or attributes, never innerHTML: names, notes and addresses come
 * from county spreadsheets and from other operators. */
'use strict';

/* ---- words ------------------------------------------------------------ */

const SEVERITY = { critical: '紧急', high: '高', warning: '警告', medium: '中', low: '低', info: '提示' };
// The contract says critical/warning/info; the rule files say critical/high/
// medium/low. Both rank here so neither sorts as "unknown".
const SEVERITY_RANK = { critical: 0, high: 1, warning: 2, medium: 2, low: 3, info: 3 };
const STATE = {
  open: '待处理', acknowledged: '已确认', resolved: '已处理', cleared: '已恢复',
  silenced: '已静音', expired: '无人处理已过期',
};
const CATEGORY = {
  living_alone: '独居', empty_nest: '空巢', left_behind: '留守', disabled: '失能/残疾',
  severely_disabled: '重度失能', family_planning_special: '计生特殊家庭',
};
const KIND = {
  opened: '告警', step: '升级', escalate: '升级', notify: '通知', sent: '已发送',
  delivered: '已送达', undelivered: '未送达', failed: '发送失败', retry: '重试',
  answered: '已接听', not_answered: '未接听', not_reached: '未联系上', capped: '超出限额未发',
  key: '电话按键', acked: '已确认', resolved: '已处理', cleared: '已恢复', repeat: '再次触发',
  grouped: '合并', joined: '并入', silenced: '已静音', expired: '已过期',
  ack_timeout: '确认后未处理，重新通知', cancelled: '已取消',
};
const NSTATUS = {
  queued: '排队中', sending: '发送中', sent: '已发送', delivered: '已送达', failed: '失败',
  cancelled: '已取消', undelivered: '未送达', answered: '已接听', not_answered: '未接听',
  capped: '超出限额',
};
const CHANNEL = {
  sms: '短信', voice: '电话', console: '控制台', api: '接口', cli: '命令行', mqtt: '设备',
  timer: '定时', rule: '规则',
};
const CONTACT_ROLE = {
  family: '家属', neighbor: '邻居', grid_worker: '网格员', doctor: '医生', community: '社区',
  volunteer: '志愿者', call_center: '呼叫中心',
};
const ACCOUNT_ROLE = { viewer: '查看员', operator: '值班员', admin: '管理员' };
const OUTCOME = {
  false_alarm: '误报', assisted_on_site: '已上门协助', sent_to_hospital: '已送医',
  emergency_services: '已转120/110', device_fault: '设备故障', other: '其他',
};
const RISK = { high: '高', medium: '中', low: '低' };
// Titles of the default rules (conf/rules.d); other rules show their name.
const RULE = {
  sos: 'SOS紧急呼叫', fall: '跌倒', hazard: '烟雾/燃气/漏水', water_idle: '用水过少',
  water_excess: '用水过多', heart_rate: '心率异常', bathroom_long: '卫生间停留过久',
  device_offline: '设备离线', battery_low: '电量低',
};
const DETAIL = {
  note: '备注', outcome: '结果', contact: '联系人', to: '号码', role: '身份', step: '步骤',
  target: '对象', digits: '按键', reason: '原因', rule: '规则', device: '设备', event: '事件',
  error: '错误', detail: '说明', severity: '级别', why: '原因', value: '数值',
  acked_by: '确认人', after_ms: '间隔', attempt: '尝试', provider: '服务商', chain: '通知链',
  http_status: 'HTTP状态', channel: '方式', digits_ok: '按键', next_step: '下一步',
};
const DURATIONS = [['30m', '30 分钟'], ['2h', '2 小时'], ['1d', '1 天'], ['7d', '7 天']];
const LIVE = new Set(['open', 'acknowledged']);

const word = (map, key) => (key == null ? '' : map[key] || String(key));
const ruleTitle = (a) => a.title || word(RULE, a.rule);

/* ---- small DOM helpers -------------------------------------------------- */

const $ = (sel, root = document) => root.querySelector(sel);

/* el('p', {className: 'x', dataset: {id: 3}}, 'text', child, ...): strings
 * become text nodes, so data never becomes markup. */
function el(tag, props, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'dataset') Object.assign(n.dataset, v);
    else if (k === 'className' || k === 'textContent' || k === 'htmlFor' || k === 'value' ||
             k === 'disabled' || k === 'hidden' || k === 'required' || k === 'checked' ||
             k === 'type' || k === 'href' || k === 'onclick' || k === 'onsubmit')
      n[k] = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

/* Replaces a container's children and puts the keyboard focus back on the
 * element with the same data-key: live updates must not yank focus away
 * from someone tabbing through the list. */
function replaceKeepFocus(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  container.replaceChildren(...children.flat(Infinity));
  if (key) {
    const again = container.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (again) again.focus();
  }
}

const pad = (n) => String(n).padStart(2, '0');

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + '秒';
  const m = Math.floor(s / 60);
  if (m < 60) return m + '分' + pad(s % 60) + '秒';
  const h = Math.floor(m / 60);
  if (h < 24) return h + '小时' + pad(m % 60) + '分';
  return Math.floor(h / 24) + '天' + (h % 24) + '小时';
}

// County time whatever the desk computer's zone is: the records and the
// phone calls are all in county time. anxind gives the county's UTC offset at
// login ([anxind] utc_offset); a time shifted by it reads as county time in UTC.
let countyOffsetMin = 480;
const timeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'UTC', month: '2-digit', day: '2-digit', hour: '2-digit',
  minute: '2-digit', second: '2-digit', hour12: false,
});
const fmtTime = (ms) => (ms == null ? '' : timeFmt.format(new Date(ms + countyOffsetMin * 60000)));

/* A span that the one-second tick keeps current: time since `since`, or the
 * fixed span until `until` once the alert is over. */
function sinceSpan(since, until, className) {
  const s = el('span', { className, dataset: { since: since ?? '' } });
  if (until != null) s.dataset.until = until;
  tickOne(s);
  return s;
}

function tickOne(s) {
  const since = Number(s.dataset.since);
  if (!s.dataset.since || !since) { s.textContent = '—'; return; }
  const until = s.dataset.until ? Number(s.dataset.until) : Date.now();
  s.textContent = duration(until - since);
}

/* ---- talking to anxind --------------------------------------------------- */

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || 'HTTP ' + status);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  // The header is anxind's CSRF guard: a form on another site cannot set it.
  const opts = {
    method, credentials: 'same-origin',
    headers: { 'X-Anxin-Console': '1', Accept: 'application/json' },
  };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, { error: 'network', detail: '无法连接服务器' });
  }
  let data = null;
  if (r.status !== 204) {
    try { data = await r.json(); } catch (_) { data = null; }
  }
  if (r.status === 401 && path !== '/api/v1/session') sessionLost();
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

function errorText(e) {
  const d = e.body && e.body.detail ? '：' + e.body.detail : '';
  switch (e.status) {
    case 0: return '无法连接服务器，请检查网络';
    case 400: return '填写有误' + d;
    case 401: return '登录已失效，请重新登录';
    case 403: return '没有权限' + d;
    case 404: return '找不到' + d;
    case 409: return '操作冲突（可能已被其他人处理）' + d;
    case 429: return '令牌错误次数过多，请稍后再试' + d;
    case 503: return '服务暂时不可用（数据库未连接），请稍后再试或电话处理' + d;
    default: return '出错了（' + e.status + '）' + d;
  }
}

let statusTimer;
function say(text, isError) {
  const s = $('#status');
  s.textContent = text;
  s.className = 'status' + (isError ? ' error' : ' ok');
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { s.textContent = ''; s.className = 'status'; }, 8000);
}

/* ---- state ------------------------------------------------------------- */

const st = {
  user: null,          // {name, role}
  alerts: [],
  filter: 'live',
  current: null,       // alert id shown in the detail pane
  detail: null,        // GET /api/v1/alerts/{id}
  silences: [],
  revealed: new Map(), // contact id -> full number, for the current alert only
  seen: null,          // alert ids already announced (null until the first list)
  es: null,
  streamUp: null,
  listSeq: 0,
  detailSeq: 0,
};

const canAct = () => st.user && (st.user.role === 'operator' || st.user.role === 'admin');

/* ---- login ------------------------------------------------------------- */

function showLogin(message) {
  st.user = null;
  closeStream();
  $('#app').hidden = true;
  $('#who').hidden = true;
  $('#stream-banner').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message || '';
  $('#token').focus();
}

function sessionLost() {
  if (st.user) showLogin('登录已失效，请重新登录。');
}

async function onLogin(ev) {
  ev.preventDefault();
  const input = $('#token');
  const token = input.value.trim();
  if (!token) return;
  const button = ev.target.querySelector('button');
  button.disabled = true;
  try {
    const who = await api('POST', '/api/v1/session', { token });
    input.value = '';   // the token lives only in anxind's session, not here
    startApp(who);
  } catch (e) {
    $('#login-error').textContent = e.status === 401 ? '令牌无效、已过期或已吊销。' : errorText(e);
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  try { await api('DELETE', '/api/v1/session'); } catch (_) { /* gone anyway */ }
  st.revealed.clear();
  location.hash = '';
  showLogin('已退出。');
}

function startApp(who) {
  st.user = who;
  if (Number.isInteger(who.utc_offset_min)) countyOffsetMin = who.utc_offset_min;
  st.seen = null;
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#who').hidden = false;
  $('#user').textContent = who.name + '（' + word(ACCOUNT_ROLE, who.role) + '）';
  document.body.classList.toggle('read-only', !canAct());
  openStream();
  loadList();
  route();
}

/* ---- the live list ------------------------------------------------------- */

function urgency(a, b) {
  const r = (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9);
  if (r) return r;
  // Within a severity, nobody-has-it-yet before someone-is-on-it.
  const o = (a.state === 'open' ? 0 : 1) - (b.state === 'open' ? 0 : 1);
  if (o) return o;
  return (a.opened || 0) - (b.opened || 0);
}

async function loadList() {
  const seq = ++st.listSeq;
  try {
    const list = await api('GET', '/api/v1/alerts?state=' + encodeURIComponent(st.filter));
    if (seq !== st.listSeq) return;     // a newer answer is on its way
    const urgentFirst = st.filter === 'live' || st.filter === 'open' || st.filter === 'acked';
    list.sort(urgentFirst ? urgency : (a, b) => (b.opened || 0) - (a.opened || 0));
    announce(list);
    st.alerts = list;
    renderList();
  } catch (e) {
    if (e.status !== 401) say('告警列表未能刷新：' + errorText(e), true);
  }
}

/* New urgent alerts: a sound (if wanted), a highlighted row, and the count
 * in the tab title, for a desk whose window is behind another one. */
function announce(list) {
  const fresh = [];
  const ids = new Set(list.map((a) => a.id));
  if (st.seen) {
    for (const a of list) {
      if (!st.seen.has(a.id) && a.state === 'open') fresh.push(a.id);
    }
  }
  st.seen = new Set([...(st.seen || []), ...ids]);
  st.fresh = new Set(fresh);
  if (fresh.some((id) => {
    const a = list.find((x) => x.id === id);
    return (SEVERITY_RANK[a.severity] ?? 9) <= 1;
  })) beep();
}

let audioCtx;
function beep() {
  if (!$('#sound').checked) return;
  try {
    audioCtx = audioCtx || new AudioContext();
    const o = audioCtx.createOscillator();
    const g = audioCtx.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.15;
    o.connect(g).connect(audioCtx.destination);
    o.start();
    o.stop(audioCtx.currentTime + 0.35);
  } catch (_) { /* no sound device: the highlighted row still shows it */ }
}

function notifiedChips(notified) {
  // One chip per person and channel, with the latest state.
  const last = new Map();
  for (const n of notified || []) last.set(n.contact + '|' + n.channel, n);
  const all = [...last.values()];
  const chips = all.slice(0, 4).map((n) => el('span', { className: 'chip n-' + n.status },
    n.contact + ' ' + word(CHANNEL, n.channel) + ' ' + word(NSTATUS, n.status)));
  if (all.length > 4) chips.push(el('span', { className: 'chip more' }, '等' + all.length + '项'));
  if (!chips.length) chips.push(el('span', { className: 'muted' }, '尚未通知'));
  return chips;
}

function stepText(a) {
  // step_reached counts the chain's lines that have fired (from 0), not
  // minutes: a chain with two lines "at 0s" is at 第2步 from the start.
  return a.step_reached == null || a.step_reached < 0 ? '—' : '第' + (a.step_reached + 1) + '步';
}

function renderList() {
  const open = st.alerts.filter((a) => a.state === 'open').length;
  $('#count').textContent = '（' + st.alerts.length + '）';
  document.title = (open ? '(' + open + ') ' : '') + '安心 · 呼叫中心';
  $('#empty').hidden = st.alerts.length > 0;
  const rows = st.alerts.map((a) => {
    const over = LIVE.has(a.state) ? null : (a.resolved || a.acked || null);
    const link = el('a', {
      href: '#alert/' + a.id, className: 'row', dataset: { key: 'row-' + a.id },
      'aria-current': String(a.id) === String(st.current) ? 'true' : null,
    },
      el('span', { className: 'sev' }, word(SEVERITY, a.severity)),
      sinceSpan(a.opened, over, 'since'),
      el('span', { className: 'elder' }, el('strong', {}, a.elder_name || a.elder || ''),
        el('span', { className: 'place' }, [a.village, a.township].filter(Boolean).join(' · '))),
      el('span', { className: 'rule' }, ruleTitle(a)),
      el('span', { className: 'step', title: '通知链进行到的步骤' }, stepText(a)),
      el('span', { className: 'state' }, word(STATE, a.state)),
      el('span', { className: 'notified' }, notifiedChips(a.notified)));
    return el('li', {
      className: 'alert sev-' + a.severity + ' st-' + a.state + (st.fresh && st.fresh.has(a.id) ? ' fresh' : ''),
      dataset: { id: a.id, state: a.state },
    }, link);
  });
  replaceKeepFocus($('#alerts'), rows);
}

/* ---- one alert ----------------------------------------------------------- */

function route() {
  const m = /^#alert\/(\d+)$/.exec(location.hash);
  const id = m ? m[1] : null;
  document.body.classList.toggle('detail-open', !!id);
  if (id !== st.current) {
    st.current = id;
    st.detail = null;
    st.revealed.clear();
    for (const a of document.querySelectorAll('#alerts a[aria-current]')) a.removeAttribute('aria-current');
    const cur = id && document.querySelector('#alerts li[data-id="' + id + '"] a');
    if (cur) cur.setAttribute('aria-current', 'true');
    buildDetail();
    if (id) loadSilences();   // a silenced elder shows it without opening 静音
  }
  if (id) loadDetail(true);
}

/* The detail pane's frame is built once per alert; refreshes replace only
 * the parts inside it, so a half-written note survives a live update. */
function buildDetail() {
  const pane = $('#detail-pane');
  if (!st.current) {
    pane.replaceChildren(el('p', { className: 'placeholder' }, '在左侧选择一条告警查看详情。'));
    return;
  }
  const back = el('button', { type: 'button', className: 'back quiet', onclick: backToList }, '← 返回列表');
  pane.replaceChildren(
    back,
    el('div', { id: 'd-head', className: 'd-head' }, el('p', { className: 'muted' }, '正在载入……')),
    buildActions(),
    el('section', { id: 'd-elder', className: 'card', 'aria-label': '老人信息' }),
    el('section', { id: 'd-notes', className: 'card', 'aria-label': '通知记录' }),
    el('section', { id: 'd-timeline', className: 'card', 'aria-label': '处理经过' }));
}

function backToList() {
  const id = st.current;
  location.hash = '';
  const row = document.querySelector('#alerts li[data-id="' + id + '"] a');
  (row || $('#list-pane')).focus();
}

function field(id, label, control, hint) {
  control.id = id;
  return el('div', { className: 'field' }, el('label', { htmlFor: id }, label), control,
    hint ? el('p', { className: 'hint' }, hint) : null);
}

function buildActions() {
  if (!canAct()) {
    return el('section', { id: 'd-actions', className: 'card actions' },
      el('p', { className: 'muted' }, '只读账号：可以查看，不能确认或处理告警。'));
  }
  const ackForm = el('form', { className: 'act', id: 'ack-form', onsubmit: onAck },
    field('ack-note', '备注（可选）', el('input', { type: 'text', maxlength: 500, placeholder: '如：已电话联系家属' })),
    el('button', { type: 'submit', className: 'primary big', id: 'ack-btn' }, '确认'),
    el('p', { className: 'hint' }, '确认后立即停止继续通知其他人。'));

  const outcome = el('select', { required: true },
    el('option', { value: '' }, '请选择处理结果'),
    Object.entries(OUTCOME).map(([v, t]) => el('option', { value: v }, t)));
  const resolveForm = el('form', { className: 'act', id: 'resolve-form', onsubmit: onResolve },
    field('resolve-outcome', '处理结果', outcome),
    field('resolve-note', '处理情况（必填，存档）', el('textarea', { rows: 3, required: true, maxlength: 2000 })),
    el('button', { type: 'submit', id: 'resolve-btn' }, '处理完毕'),
    el('p', { className: 'error', role: 'alert', id: 'resolve-error' }));

  const dur = el('select', {}, DURATIONS.map(([v, t]) => el('option', { value: v }, t)));
  dur.value = '2h';
  const silenceForm = el('form', { className: 'act', id: 'silence-form', onsubmit: onSilence },
    field('silence-for', '静音时长', dur),
    field('silence-reason', '原因（必填）', el('input', { type: 'text', required: true, maxlength: 500, placeholder: '如：住院' })),
    el('button', { type: 'submit', id: 'silence-btn' }, '静音'),
    el('p', { className: 'hint' }, '静音期间该老人的新告警只记录、不通知任何人。眼前这条告警仍需确认和处理。'),
    el('p', { className: 'error', role: 'alert', id: 'silence-error' }),
    el('div', { id: 'silence-list' }));
  const silence = el('details', { className: 'silence', id: 'silence' },
    el('summary', {}, '静音此老人……'), silenceForm);

  return el('section', { id: 'd-actions', className: 'card actions', 'aria-label': '处理' },
    ackForm, resolveForm, silence);
}

async function loadDetail(focusHeading) {
  const id = st.current;
  if (!id) return;
  const seq = ++st.detailSeq;
  try {
    const d = await api('GET', '/api/v1/alerts/' + encodeURIComponent(id));
    if (seq !== st.detailSeq || id !== st.current) return;
    st.detail = d;
    renderDetail();
    if (focusHeading) {
      const h = $('#d-title');
      if (h) h.focus();
    }
  } catch (e) {
    if (seq !== st.detailSeq || id !== st.current) return;
    if (e.status === 401) return;
    const head = $('#d-head');
    if (head) head.replaceChildren(el('p', { className: 'error' }, '告警 #' + id + ' 无法载入：' + errorText(e)));
  }
}

function renderDetail() {
  const { alert: a, timeline, notifications, elder } = st.detail;
  const over = LIVE.has(a.state) ? null : (a.resolved || null);
  const facts = [
    ['开始', fmtTime(a.opened)],
    ['设备', a.device],
    ['触发次数', a.fire_count],
    ['确认码', a.ack_code],
    a.acked ? ['确认', fmtTime(a.acked) + ' ' + actorText(a.acked_by)] : null,
    a.resolved ? ['结束', fmtTime(a.resolved)] : null,
    a.outcome ? ['处理结果', word(OUTCOME, a.outcome)] : null,
    a.note ? ['处理情况', a.note] : null,
  ].filter((f) => f && f[1] != null && f[1] !== '');
  replaceKeepFocus($('#d-head'),
    el('h2', { id: 'd-title', tabindex: -1, className: 'sev-' + a.severity },
      ruleTitle(a) + ' · ' + (a.elder_name || a.elder)),
    el('p', { className: 'badges sev-' + a.severity },
      el('span', { className: 'sev' }, word(SEVERITY, a.severity)),
      el('span', { className: 'state', id: 'd-state', dataset: { state: a.state } }, word(STATE, a.state)),
      el('span', {}, over ? '历时 ' : '已持续 ', sinceSpan(a.opened, over, 'since')),
      el('span', {}, '通知 ', stepText(a)),
      el('span', { className: 'muted' }, '#' + a.id)),
    el('dl', { className: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))])));

  // What can still be done with it.
  const ackBtn = $('#ack-btn');
  if (ackBtn) {
    ackBtn.disabled = a.state !== 'open';
    $('#ack-note').disabled = a.state !== 'open';
    const live = LIVE.has(a.state);
    for (const n of document.querySelectorAll('#resolve-form select, #resolve-form textarea, #resolve-form button'))
      n.disabled = !live;
  }
  renderElder(elder, a);
  renderNotifications(notifications || []);
  renderTimeline(timeline || []);
  renderSilences();
}

function renderElder(e, a) {
  const box = $('#d-elder');
  if (!e) {
    box.replaceChildren(el('h3', {}, '老人信息'), el('p', { className: 'muted' }, '无登记信息'));
    return;
  }
  const age = e.birth_year ? new Date().getFullYear() - e.birth_year + '岁' : '';
  const plan = e.care_plan;
  const planItems = plan ? [
    plan.risk ? '风险：' + word(RISK, plan.risk) : null,
    plan.visit_every_days ? '探访：每' + plan.visit_every_days + '天' : null,
    plan.params && Object.keys(plan.params).length
      ? '参数：' + Object.entries(plan.params).map(([k, v]) => k + ' = ' + v).join('，') : null,
  ].filter(Boolean) : [];
  const contacts = (e.contacts || []).slice().sort((x, y) => (x.priority || 9) - (y.priority || 9));
  replaceKeepFocus(box,
    el('h3', {}, '老人信息'),
    el('p', { className: 'elder-name' }, el('strong', {}, e.name || e.id), ' ', age,
      el('span', { className: 'muted' }, ' 编号 ' + e.id)),
    el('p', { className: 'cats' }, (e.categories || []).map((c) => el('span', { className: 'chip cat' }, word(CATEGORY, c)))),
    el('p', {}, [e.township, e.village].filter(Boolean).join(' · '), e.address ? ' · ' + e.address : ''),
    el('p', { className: 'plan' }, plan ? '照护计划：' + (planItems.join('；') || '（无）') : '无照护计划'),
    el('h4', {}, '联系人'),
    contacts.length ? el('ul', { className: 'contacts' }, contacts.map((c) => contactItem(c, a))) :
      el('p', { className: 'muted' }, '无联系人'));
}

function contactItem(c, a) {
  const full = st.revealed.get(String(c.id));
  const number = full
    ? el('a', { href: 'tel:' + full, className: 'phone revealed', dataset: { key: 'tel-' + c.id } }, full)
    : el('span', { className: 'phone' }, c.phone || '');
  const btn = canAct() && !full
    ? el('button', {
      type: 'button', className: 'reveal', dataset: { key: 'reveal-' + c.id, contact: c.id },
      'aria-label': '显示' + (c.name || '') + '的完整号码', onclick: () => reveal(c, a),
    }, '显示号码')
    : null;
  return el('li', { dataset: { contact: c.id } },
    el('span', { className: 'c-name' }, c.name || ''),
    el('span', { className: 'muted' }, word(CONTACT_ROLE, c.role) + (c.priority ? ' · 第' + c.priority + '顺位' : '')),
    number, btn,
    el('span', { className: 'muted' }, (c.channels || []).map((x) => word(CHANNEL, x)).join('/')),
    full ? el('span', { className: 'muted small' }, '（查看已记录）') : null);
}

async function reveal(c, a) {
  try {
    const r = await api('POST', '/api/v1/contacts/' + encodeURIComponent(c.id) + '/reveal',
      { alert: a ? a.id : null });
    const forAlert = st.current;
    st.revealed.set(String(c.id), r.phone);
    renderElder(st.detail.elder, st.detail.alert);
    const link = document.querySelector('[data-key="tel-' + c.id + '"]');
    if (link) link.focus();
    // A full number stays on screen only as long as a call takes to dial.
    setTimeout(() => {
      if (st.current !== forAlert || !st.revealed.delete(String(c.id))) return;
      if (st.detail) renderElder(st.detail.elder, st.detail.alert);
    }, 120000);
  } catch (e) {
    say('号码未能显示：' + errorText(e), true);
  }
}

function renderNotifications(list) {
  const rows = list.map((n) => el('tr', { className: 'n-' + n.status },
    el('td', {}, n.contact || ''), el('td', {}, word(CONTACT_ROLE, n.role)),
    el('td', {}, word(CHANNEL, n.channel)), el('td', { className: 'phone' }, n.to || ''),
    el('td', {}, word(NSTATUS, n.status)), el('td', {}, n.provider || ''),
    el('td', {}, n.attempts ?? ''), el('td', {}, fmtTime(n.sent))));
  replaceKeepFocus($('#d-notes'), el('h3', {}, '通知记录（' + list.length + '）'),
    list.length ? el('div', { className: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, ['联系人', '身份', '方式', '号码', '状态', '服务商', '尝试', '发出'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, rows))) : el('p', { className: 'muted' }, '还没有通知。'));
}

function actorText(actor) {
  if (!actor) return '';
  const i = actor.indexOf(':');
  const k = i < 0 ? actor : actor.slice(0, i);
  const v = i < 0 ? '' : actor.slice(i + 1);
  switch (k) {
    case 'anxind': return '系统';
    case 'token': return v;
    case 'contact': return '联系人#' + v;
    case 'provider': return '服务商 ' + v;
    case 'cli': return '命令行 ' + v;
    default: return actor;
  }
}

function detailText(kind, d) {
  if (!d || typeof d !== 'object') return '';
  const parts = [];
  for (const [k, v] of Object.entries(d)) {
    if (v == null || v === '' || k === 'notification' || k === 'ref' || k === 'late_ms') continue;
    let val = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (k === 'outcome') val = word(OUTCOME, v);
    else if (k === 'severity') val = word(SEVERITY, v);
    else if (k === 'role') val = word(CONTACT_ROLE, v);
    else if (k === 'rule') val = word(RULE, v);
    else if (k === 'after_ms') val = duration(Number(v));
    else if (k === 'step' && typeof v === 'number') val = '第' + (v + 1) + '步';
    parts.push((DETAIL[k] || k) + '：' + val);
  }
  return parts.join('，');
}

function renderTimeline(events) {
  const items = events.map((ev) => el('li', { className: 'k-' + ev.kind, dataset: { kind: ev.kind } },
    el('time', { datetime: ev.at ? new Date(ev.at).toISOString() : null }, fmtTime(ev.at)),
    el('span', { className: 'kind' }, word(KIND, ev.kind)),
    el('span', { className: 'actor', title: ev.actor || '' }, actorText(ev.actor),
      ev.channel ? '（' + word(CHANNEL, ev.channel) + '）' : ''),
    el('span', { className: 'd' }, detailText(ev.kind, ev.detail))));
  replaceKeepFocus($('#d-timeline'), el('h3', {}, '处理经过'),
    el('ol', { className: 'timeline' }, items));
}

/* ---- acting on it ------------------------------------------------------- */

async function onAck(ev) {
  ev.preventDefault();
  const id = st.current;
  const note = $('#ack-note').value.trim();
  const btn = $('#ack-btn');
  btn.disabled = true;
  try {
    await api('POST', '/api/v1/alerts/' + id + '/ack', note ? { note } : {});
    $('#ack-note').value = '';
    say('已确认告警 #' + id + '，通知已停止。');
  } catch (e) {
    say('确认失败：' + errorText(e), true);
  }
  refreshNow();
}

async function onResolve(ev) {
  ev.preventDefault();
  const id = st.current;
  const outcome = $('#resolve-outcome').value;
  const note = $('#resolve-note').value.trim();
  const err = $('#resolve-error');
  if (!outcome || !note) {
    err.textContent = !outcome ? '请选择处理结果。' : '请填写处理情况。';
    (!outcome ? $('#resolve-outcome') : $('#resolve-note')).focus();
    return;
  }
  err.textContent = '';
  $('#resolve-btn').disabled = true;
  try {
    await api('POST', '/api/v1/alerts/' + id + '/resolve', { outcome, note });
    $('#resolve-note').value = '';
    $('#resolve-outcome').value = '';
    say('告警 #' + id + ' 已处理完毕并存档。');
  } catch (e) {
    err.textContent = '未能提交：' + errorText(e);
  }
  refreshNow();
}

async function onSilence(ev) {
  ev.preventDefault();
  const elder = st.detail && st.detail.alert.elder;
  const reason = $('#silence-reason').value.trim();
  const dur = $('#silence-for');
  const err = $('#silence-error');
  if (!elder) return;
  if (!reason) {
    err.textContent = '请填写静音原因。';
    $('#silence-reason').focus();
    return;
  }
  err.textContent = '';
  try {
    const s = await api('POST', '/api/v1/silences', { scope: 'elder', target: elder, for: dur.value, reason });
    $('#silence-reason').value = '';
    say('已静音 ' + (st.detail.alert.elder_name || elder) + ' ' + dur.selectedOptions[0].textContent +
      (s && s.id != null ? '（静音 #' + s.id + '）' : '') + '。');
  } catch (e) {
    err.textContent = '未能静音：' + errorText(e);
  }
  loadSilences();
}

async function loadSilences() {
  if (!canAct()) return;
  try {
    st.silences = (await api('GET', '/api/v1/silences')) || [];
  } catch (_) {
    st.silences = [];
  }
  renderSilences();
}

function renderSilences() {
  const box = $('#silence-list');
  if (!box || !st.detail) return;
  const elder = st.detail.alert.elder;
  const mine = st.silences.filter((s) => s.scope === 'elder' && s.target === elder);
  if (mine.length && !$('#silence').open) $('#silence').open = true;
  replaceKeepFocus(box, mine.length ? el('ul', { className: 'silences' }, mine.map((s) => el('li', {},
    '静音中' + (s.ends ? '，至 ' + fmtTime(s.ends) : '') + (s.reason ? '：' + s.reason : '') + ' ',
    el('button', {
      type: 'button', className: 'quiet', dataset: { key: 'unsilence-' + s.id },
      onclick: () => unsilence(s.id),
    }, '取消静音')))) : []);
}

async function unsilence(id) {
  try {
    await api('DELETE', '/api/v1/silences/' + encodeURIComponent(id));
    say('已取消静音。');
  } catch (e) {
    say('未能取消静音：' + errorText(e), true);
  }
  loadSilences();
}

/* ---- live updates ------------------------------------------------------- */

let refreshTimer;
let refreshDetailToo = false;
// Events come in bursts (one alert: opened, several sends, deliveries):
// one refetch per burst is enough.
function refreshSoon(detailToo) {
  refreshDetailToo = refreshDetailToo || detailToo;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshNow(refreshDetailToo), 250);
}

function refreshNow(detailToo = true) {
  clearTimeout(refreshTimer);
  refreshDetailToo = false;
  loadList();
  if (detailToo && st.current) loadDetail(false);
}

function onStreamEvent(ev) {
  let data = null;
  try { data = JSON.parse(ev.data); } catch (_) { /* a ping or garbage: refresh anyway */ }
  const same = data && st.current != null && String(data.alert) === String(st.current);
  refreshSoon(same);
}

function setStream(up) {
  st.streamUp = up;
  $('#stream-banner').hidden = up || !st.user;
  document.body.classList.toggle('stream-down', !up);
}

function openStream() {
  closeStream();
  const es = new EventSource('/api/v1/stream');
  st.es = es;
  es.onopen = () => {
    setStream(true);
    refreshSoon(true);     // whatever happened while it was down
  };
  es.onerror = () => {
    if (st.es !== es) return;
    setStream(false);
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an error status, such as 401 after the
      // session ended): find out why, and try again if still logged in.
      st.es = null;
      setTimeout(async () => {
        if (!st.user || st.es) return;
        try {
          await api('GET', '/api/v1/session');
          openStream();
        } catch (e) {
          if (e.status === 401) sessionLost();
          else setTimeout(() => st.user && !st.es && openStream(), 5000);
        }
      }, 3000);
    }
  };
  es.addEventListener('alert', onStreamEvent);
  es.onmessage = onStreamEvent;
}

function closeStream() {
  if (st.es) st.es.close();
  st.es = null;
}

/* ---- start ------------------------------------------------------------- */

function tick() {
  for (const s of document.querySelectorAll('[data-since]')) {
    if (!s.dataset.until) tickOne(s);
  }
}

async function main() {
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', onLogout);
  $('#filter').addEventListener('change', (e) => {
    st.filter = e.target.value;
    st.seen = null;
    loadList();
  });
  const sound = $('#sound');
  sound.checked = localStorage.getItem('anxin.sound') !== 'off';
  sound.addEventListener('change', () => localStorage.setItem('anxin.sound', sound.checked ? 'on' : 'off'));
  window.addEventListener('hashchange', () => st.user && route());
  setInterval(tick, 1000);
  // While the stream is down the list is still polled, slowly.
  setInterval(() => { if (st.user && st.streamUp === false) refreshNow(); }, 15000);
  document.addEventListener('toggle', (e) => {
    if (e.target.id === 'silence' && e.target.open) loadSilences();
  }, true);
  try {
    startApp(await api('GET', '/api/v1/session'));
  } catch (e) {
    showLogin(e.status && e.status !== 401 ? errorText(e) : '');
  }
}

main();
