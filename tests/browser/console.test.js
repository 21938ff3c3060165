/* The web console in headless Chromium, driven like a call-center desk would
 * use it. tests/integration/test_console.py runs it beside a real anxind and
 * plays the other side: it publishes the SOS, checks the database, stops the
 * daemon. The two talk through lines, never through sleeps:
 *
 *   this script prints            the driver answers on stdin
 *   READY        (logged in, stream open)   -> publishes an SOS (no answer)
 *   SEEN <id>    (row appeared, no reload)
 *   REVEALED <contact id>
 *   ACKED <id>                               RESOLVE  (after checking paging stopped)
 *   RESOLVED <id>
 *   SILENCED
 *   STOP_DAEMON                              STOPPED
 *   BANNER       (the disconnected banner shows)
 *   OK                                       (exit 0; FAIL <why> and exit 1 otherwise)
 *
 * Environment: BASE_URL (http://127.0.0.1:PORT), TOKEN (an operator bearer
 * token), ELDER_NAME (the elder whose SOS comes, default 测试老人1),
 * SCREENSHOT_DIR (optional), CHROMIUM (default /usr/bin/chromium),
 * STEP_TIMEOUT_MS (default 20000), COUNTY_OFFSET_MIN (anxind's utc_offset in
 * minutes, default 480) and DESK_ZONE (the browser's own time zone, default
 * Asia/Shanghai): times on the page must be the county's whatever the desk's. */
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const BASE = (process.env.BASE_URL || '').replace(/\/$/, '');
const TOKEN = process.env.TOKEN || '';
const ELDER = process.env.ELDER_NAME || '测试老人1';
const SHOTS = process.env.SCREENSHOT_DIR || '';
const STEP = Number(process.env.STEP_TIMEOUT_MS || 20000);
const COUNTY_OFFSET_MIN = Number(process.env.COUNTY_OFFSET_MIN || 480);
const DESK_ZONE = process.env.DESK_ZONE || 'Asia/Shanghai';
const t0 = Date.now();

function say(line) {
  process.stdout.write(line + '\n');
}
function note(line) {
  process.stderr.write('[console.test ' + ((Date.now() - t0) / 1000).toFixed(1) + 's] ' + line + '\n');
}

// Lines from the driver, queued until asked for.
const lines = [];
let lineWaiter = null;
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  lines.push(l.trim());
  if (lineWaiter) lineWaiter();
});
async function expectLine(word) {
  const deadline = Date.now() + STEP * 3;
  for (;;) {
    const i = lines.findIndex((l) => l.split(' ')[0] === word);
    if (i >= 0) return lines.splice(i, 1)[0];
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('driver never said ' + word);
    await new Promise((res) => {
      lineWaiter = res;
      setTimeout(res, Math.min(left, 1000));
    });
  }
}

async function shot(page, name, fullPage = false) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage });
  note('screenshot ' + name);
}

async function noHorizontalScroll(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(over <= 0, what + ' scrolls sideways by ' + over + ' px');
}

async function main() {
  assert.ok(BASE && TOKEN, 'BASE_URL and TOKEN are required');
  const origin = new URL(BASE).origin;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const failures = [];
  let page;
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 }, locale: 'zh-CN', timezoneId: DESK_ZONE,
    });
    page = await context.newPage();
    page.setDefaultTimeout(STEP);
    page.on('pageerror', (e) => failures.push('page error: ' + e.message));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      note('browser console: ' + m.text());
      // anxind serves the console with a strict Content-Security-Policy.
      if (/Content Security Policy/i.test(m.text())) failures.push('CSP: ' + m.text());
    });
    // Nothing may come from anywhere but anxind itself (no CDN, no fonts).
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('data:')) failures.push('outside request: ' + u);
    });

    // ---- login
    await page.goto(BASE + '/console/');
    await page.getByRole('heading', { name: '登录' }).waitFor();
    assert.match(await page.title(), /安心/);
    await shot(page, 'login.png');
    await page.getByLabel('访问令牌').fill('axn_wrong');
    await page.getByRole('button', { name: '登录' }).click();
    await page.locator('#login-error', { hasText: '令牌无效' }).waitFor();

    const stream = page.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
    await page.getByLabel('访问令牌').fill(TOKEN);
    await page.getByRole('button', { name: '登录' }).click();
    await page.locator('#user', { hasText: '值班员' }).waitFor();
    assert.equal((await stream).status(), 200, 'the event stream answers 200');
    const kept = await page.evaluate(() => JSON.stringify([location.href, { ...localStorage }, { ...sessionStorage }]));
    assert.ok(!kept.includes(TOKEN), 'the token is kept nowhere in the page');
    const cookie = (await context.cookies()).find((c) => c.name === 'anxin_session');
    assert.ok(cookie && cookie.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.locator('#token').inputValue(), '', 'the token field is emptied');
    await page.evaluate(() => {
      window.__sameDocument = true;
      window.__before = [...document.querySelectorAll('#alerts li')].map((li) => li.dataset.id);
    });
    say('READY');

    // ---- the SOS arrives by itself: a critical row for the elder, new since READY
    const id = await (await page.waitForFunction((name) => {
      const li = [...document.querySelectorAll('#alerts li.sev-critical')]
        .find((x) => !window.__before.includes(x.dataset.id) && x.textContent.includes(name));
      return li && li.dataset.id;
    }, ELDER)).jsonValue();
    const row = page.locator('#alerts li[data-id="' + id + '"]');
    assert.ok(await page.evaluate(() => window.__sameDocument === true), 'the row came without a reload');
    await row.locator('.state', { hasText: '待处理' }).waitFor();
    await row.locator('.sev', { hasText: '紧急' }).waitFor();
    await row.locator('.place', { hasText: '东关村' }).waitFor();
    await row.locator('.rule', { hasText: /SOS/ }).waitFor();
    await row.locator('.step', { hasText: '第1步' }).waitFor();
    await row.locator('.notified .chip', { hasText: '短信' }).first().waitFor();
    const since = await row.locator('.since').textContent();
    await page.waitForFunction(([sel, before]) => {
      const s = document.querySelector(sel);
      return s && s.textContent !== before;
    }, ['#alerts li[data-id="' + id + '"] .since', since]);
    note('alert ' + id + ' in the list, time since start ticking (' + since + ')');
    say('SEEN ' + id);
    await shot(page, 'list.png');

    // ---- open it from the keyboard
    await row.locator('a').focus();
    await page.keyboard.press('Enter');
    await page.locator('#d-title', { hasText: ELDER }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'd-title', 'focus moves to the alert');
    const elder = page.locator('#d-elder');
    await elder.locator('.cat', { hasText: '独居' }).waitFor();
    await elder.getByText('138****0011').waitFor();
    await page.locator('#d-timeline li[data-kind="opened"]', { hasText: '告警' }).waitFor();
    // County time on the page: the instant the element carries, on the county's clock.
    const openedAt = page.locator('#d-timeline li[data-kind="opened"] time').first();
    const county = new Date(Date.parse(await openedAt.getAttribute('datetime')) + COUNTY_OFFSET_MIN * 60000);
    const p2 = (n) => String(n).padStart(2, '0');
    const clock = p2(county.getUTCHours()) + ':' + p2(county.getUTCMinutes()) + ':' + p2(county.getUTCSeconds());
    const shown = await openedAt.innerText();
    assert.ok(shown.includes(clock), 'opened at ' + clock + ' county time, page says ' + shown);
    await page.locator('#d-notes td', { hasText: '138****0011' }).first().waitFor();
    assert.ok(!(await page.locator('body').innerText()).includes('+86'), 'no full number before reveal');

    // ---- reveal one number (audited by anxind)
    const cid = await elder.locator('li', { hasText: '138****0011' }).getAttribute('data-contact');
    const contact = elder.locator('li[data-contact="' + cid + '"]');
    await contact.getByRole('button', { name: /完整号码/ }).click();
    const full = await contact.locator('a.phone.revealed').textContent();
    assert.match(full, /^\+86138\d{8}$/);
    assert.equal(await contact.locator('a.phone.revealed').getAttribute('href'), 'tel:' + full);
    say('REVEALED ' + cid);
    await page.locator('#d-timeline li[data-kind="delivered"], #d-timeline li[data-kind="sent"]').first()
      .waitFor({ timeout: 3000 }).catch(() => {});   // a nicer screenshot; not a check
    await shot(page, 'alert.png', true);   // the whole page: card, sends, timeline

    // ---- the cookie alone is not enough to act (CSRF guard)
    const forged = await page.evaluate((aid) => fetch('/api/v1/alerts/' + aid + '/ack', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    }).then((r) => r.status), id);
    assert.equal(forged, 403, 'a POST without X-Anxin-Console is refused');

    // ---- acknowledge
    await page.getByLabel('备注（可选）').fill('已电话联系家属');
    await page.getByRole('button', { name: '确认', exact: true }).click();
    await page.locator('#d-state[data-state="acknowledged"]').waitFor();
    await page.locator('#d-timeline li[data-kind="acked"]', { hasText: '已电话联系家属' }).waitFor();
    await row.locator('.state', { hasText: '已确认' }).waitFor();
    assert.ok(await page.getByRole('button', { name: '确认', exact: true }).isDisabled(), 'no second ack');
    say('ACKED ' + id);
    await expectLine('RESOLVE');

    // ---- resolve: both fields are required
    await page.getByRole('button', { name: '处理完毕' }).click();
    assert.equal(await page.locator('#d-state').getAttribute('data-state'), 'acknowledged');
    await page.getByLabel('处理结果').selectOption('assisted_on_site');
    await page.getByLabel(/处理情况/).fill('网格员上门，老人摔倒无大碍');
    await page.getByRole('button', { name: '处理完毕' }).click();
    await page.locator('#d-state[data-state="resolved"]').waitFor();
    await page.locator('#d-timeline li[data-kind="resolved"]', { hasText: '已上门协助' }).waitFor();
    await page.locator('#alerts li[data-id="' + id + '"]').waitFor({ state: 'detached' });
    say('RESOLVED ' + id);

    // ---- silence the elder for two hours
    await page.getByText('静音此老人').click();
    await page.getByLabel('静音时长').selectOption('2h');
    await page.getByLabel(/原因/).fill('住院');
    await page.getByRole('button', { name: '静音', exact: true }).click();
    await page.locator('#status', { hasText: '已静音' }).waitFor();
    say('SILENCED');

    // ---- a phone-sized screen: one pane at a time, nothing off the side
    await page.setViewportSize({ width: 390, height: 844 });
    await noHorizontalScroll(page, 'the alert on a narrow screen');
    assert.ok(!(await page.locator('#list-pane').isVisible()), 'narrow: the list gives way to the alert');
    await page.getByRole('button', { name: /返回列表/ }).click();
    await page.locator('#list-pane').waitFor();
    await noHorizontalScroll(page, 'the list on a narrow screen');
    await page.setViewportSize({ width: 1280, height: 800 });

    // ---- the stream goes away: the banner says so
    assert.ok(!(await page.locator('#stream-banner').isVisible()), 'no banner while connected');
    say('STOP_DAEMON');
    await expectLine('STOPPED');
    await page.locator('#stream-banner').waitFor();
    say('BANNER');
  } catch (e) {
    failures.push(e.stack || String(e));
    if (page) await shot(page, 'failure.png').catch(() => {});
  } finally {
    await browser.close();
  }
  note('took ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
  if (failures.length) {
    for (const f of failures) say('FAIL ' + f.split('\n').join('\n     '));
    process.exit(1);
  }
  say('OK');
  process.exit(0);
}

main();
