// The OrderFlow dashboard (web/, compiled into the binary) in Chromium (Debian's, driven
// by playwright-core), for each transport the page offers (raw WebSocket, SSE, and the
// SignalR hub through the vendored official client): the static files are served with
// the right headers, and the vendored client is the pinned npm package's file; the page
// shows orders created through its form and through REST; it resumes by itself after the
// browser was offline a while, and after the server is SIGKILLed while orders are being
// posted and restarted on the same port and data directory; in the end it shows every
// acknowledged order (201) exactly once, in seq order, with no duplicate and no gap
// counted, and exactly the orders the store holds, with no Content Security Policy
// violation on the way. Over the hub, a reconnect to another node that has read less of
// the shared order log counts no duplicate.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { FailoverBalancer } from './failover_balancer.mjs';
import { startRedis } from './redis_server.mjs';
import { startServer, withDeadline } from './server.mjs';

const T = { timeout: 120_000 };
const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 20_000;  // any one wait for the page or the server
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const webDir = path.join(repoRoot, 'web');
const LABELS = { ws: 'WebSocket', sse: 'Server-Sent Events', hub: 'SignalR hub' };

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
});

const origin = (port) => `http://127.0.0.1:${port}`;

function tempDataDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-dashboard-data-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the vendored SignalR client is the pinned npm package\'s file, byte for byte', () => {
  const pinned = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'))
    .devDependencies['@microsoft/signalr'];
  const pkgDir = path.join(repoRoot, 'node_modules/@microsoft/signalr');
  const installed = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  assert.equal(installed, pinned, 'node_modules holds the version package.json pins (npm ci)');
  const vendored = fs.readFileSync(path.join(webDir, 'signalr.min.js'));
  const upstream = fs.readFileSync(path.join(pkgDir, 'dist/browser/signalr.min.js'));
  assert.ok(vendored.equals(upstream),
    `web/signalr.min.js differs from @microsoft/signalr ${installed} dist/browser/signalr.min.js: copy it again`);
  const licence = fs.readFileSync(path.join(webDir, 'signalr.min.js.LICENSE.txt'), 'utf8');
  assert.match(licence, new RegExp(`^signalr\\.min\\.js is @microsoft/signalr ${pinned.replaceAll('.', '\\.')} \\(npm\\)`),
    'the licence file names the vendored version');
  assert.match(licence, /The MIT License/);
});

test('the dashboard files: content types, ETag and 304, CSP, nosniff, HEAD, 404', T, async () => {
  const server = await startServer();
  try {
    const files = [
      ['/', 'index.html', 'text/html; charset=utf-8'],
      ['/assets/app.js', 'app.js', 'text/javascript; charset=utf-8'],
      ['/assets/app.css', 'app.css', 'text/css; charset=utf-8'],
      ['/assets/signalr.min.js', 'signalr.min.js', 'text/javascript; charset=utf-8'],
      ['/assets/signalr.min.js.LICENSE.txt', 'signalr.min.js.LICENSE.txt', 'text/plain; charset=utf-8'],
    ];
    const etags = new Set();
    for (const [url, file, type] of files) {
      const res = await fetch(origin(server.port) + url);
      assert.equal(res.status, 200, url);
      assert.equal(res.headers.get('content-type'), type, url);
      assert.equal(res.headers.get('cache-control'), 'no-cache', url);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', url);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /(^|; )default-src 'self'(;|$)/, url);
      assert.match(csp, /(^|; )connect-src 'self' ws: wss:(;|$)/, url);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, url);
      // What is served is what web/ holds now: the build re-embeds a changed file.
      assert.equal(await res.text(), fs.readFileSync(path.join(webDir, file), 'utf8'), url);

      const etag = res.headers.get('etag');
      assert.match(etag, /^"[0-9a-f]{16}"$/, url);
      etags.add(etag);
      for (const ifNoneMatch of [etag, `W/${etag}`, `"0000000000000000", ${etag}`, '*']) {
        const again = await fetch(origin(server.port) + url, { headers: { 'If-None-Match': ifNoneMatch } });
        assert.equal(again.status, 304, `${url} If-None-Match: ${ifNoneMatch}`);
        assert.equal(again.headers.get('etag'), etag);
        assert.equal(await again.text(), '');
      }
      const stale = await fetch(origin(server.port) + url, { headers: { 'If-None-Match': '"0000000000000000"' } });
      assert.equal(stale.status, 200, `${url} with a stale ETag`);
      await stale.arrayBuffer();

      const head = await fetch(origin(server.port) + url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-type'), type);
      assert.equal(Number(head.headers.get('content-length')), fs.statSync(path.join(webDir, file)).size);
      assert.equal(await head.text(), '');
    }
    assert.equal(etags.size, files.length, 'each file has its own ETag');

    // web/README.md documents the directory and is not served.
    for (const url of ['/assets/missing.js', '/assets/', '/assets/app.js/x', '/index.html', '/assets/README.md']) {
      const res = await fetch(origin(server.port) + url);
      assert.equal(res.status, 404, url);
      await res.arrayBuffer();
    }
    const post = await fetch(origin(server.port) + '/', { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
  } finally {
    await server.stop();
  }
});

// POSTs an order from Node. Resolves to the 201's order (the acknowledgement); a refused
// or broken connection rejects with { unreachable: true }, any other answer with its status.
async function postOrder(port, order) {
  let res;
  try {
    res = await fetch(`${origin(port)}/api/orders`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(order),
    });
  } catch (cause) {
    throw Object.assign(new Error(`POST /api/orders: ${cause.cause?.code ?? cause.message}`), { unreachable: true });
  }
  const text = await res.text().catch((cause) => {
    throw Object.assign(new Error(`POST /api/orders: body cut: ${cause.message}`), { unreachable: true });
  });
  if (res.status !== 201) throw new Error(`POST /api/orders answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

// Posts orders from `concurrency` workers until the server stops answering (or stop() is
// called); records each acknowledged one. `ackedAtLeast(n)` resolves once n orders in all
// are acknowledged.
function postUntilUnreachable(port, acked, concurrency) {
  const waiters = [];
  let stopped = false;
  const worker = async (w) => {
    for (let i = 0; !stopped; i++) {
      let order;
      try {
        order = await postOrder(port, { customerId: `stream-${w}`, total: i + 0.25 });
      } catch (err) {
        if (err.unreachable) return;  // the server is gone: this one was not acknowledged
        throw err;
      }
      acked.set(order.seq, order.orderId);
      for (const waiter of waiters.filter((x) => acked.size >= x.n)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return {
    done,
    stop: () => { stopped = true; },
    // Fails with the posters' own error if they stop first.
    ackedAtLeast: (n) => Promise.race([
      acked.size >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
      done.then(() => { throw new Error(`the server stopped answering before ${n} orders were acknowledged`); }),
    ]),
  };
}

function status(page) {
  return page.$eval('#status', (s) => ({ ...s.dataset, text: s.textContent }));
}

async function waitForStatus(page, predicate, what) {
  try {
    await page.waitForFunction(predicate, null, { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`${what}: ${err.message}\nstatus: ${JSON.stringify(await status(page))}`);
  }
}

async function waitForRows(page, seqs) {
  try {
    await page.waitForFunction((want) => want.every((s) => document.querySelector(`#order-rows tr[data-seq="${s}"]`)),
      seqs, { timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.$$eval('#order-rows tr', (trs) => trs.map((tr) => Number(tr.dataset.seq)));
    const missing = seqs.filter((s) => !shown.includes(s));
    throw new Error(`rows ${missing.join(', ')} not shown: ${err.message}\nstatus: ${JSON.stringify(await status(page))}`);
  }
}

// Fills the form through its labels and submits it; resolves to the POST's answer.
async function submitForm(page, { customerId, total, items = '' }) {
  await page.getByLabel('Customer id').fill(customerId);
  await page.getByLabel('Total').fill(total);
  await page.getByLabel(/^Items/).fill(items);
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/orders' && r.request().method() === 'POST',
      { timeout: WAIT_MS }),
    page.getByRole('button', { name: 'Create order' }).click(),
  ]);
  return { status: response.status(), body: await response.json() };
}

// The hub messages a page sent over the WebSocket (JSON protocol: records ended by 0x1E).
function hubMessages(payload) {
  return typeof payload === 'string' ? payload.split('\x1e').filter((r) => r !== '').map((r) => JSON.parse(r)) : [];
}

for (const transport of ['ws', 'sse', 'hub']) {
  test(`dashboard over ${transport}: live orders, and every acknowledged one exactly once across a SIGKILL`, T,
    async (t) => {
      const dataDir = tempDataDir(t);
      let server = await startServer({ args: ['--data', dataDir] });
      const port = server.port;
      t.after(() => server.stop());
      const context = await browser.newContext();
      t.after(() => context.close());
      // The page's own record of CSP violations (the console message below is the other).
      await context.addInitScript(() => {
        window.cspViolations = [];
        document.addEventListener('securitypolicyviolation',
          (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      const page = await context.newPage();

      // Content Security Policy violations and uncaught exceptions fail the test.
      const problems = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      const tailReads = [];
      const feedUrls = [];
      const resumes = [];
      const invocations = [];  // hub: { target, arguments } of each invocation sent
      page.on('request', (r) => {
        const url = new URL(r.url());
        if (url.pathname === '/api/orders' && r.method() === 'GET') tailReads.push(url.search);
        if (url.pathname === '/sse/orders') feedUrls.push(url.pathname + url.search);
      });
      page.on('websocket', (ws) => {
        const url = new URL(ws.url());
        feedUrls.push(url.pathname);
        if (url.pathname === '/hubs/orders') {
          ws.on('framesent', (f) => {
            for (const m of hubMessages(f.payload)) if (m.type === 1) invocations.push({ target: m.target, arguments: m.arguments });
          });
        } else {
          ws.on('framesent', (f) => resumes.push(JSON.parse(f.payload)));
        }
      });

      const acked = new Map();  // seq -> orderId, of every 201
      for (let i = 0; i < 3; i++) {
        const o = await postOrder(port, { customerId: `before-${i}`, total: 10 + i });
        acked.set(o.seq, o.orderId);
      }

      await page.goto(`${origin(port)}/?transport=${transport}`);
      await waitForStatus(page, () => document.getElementById('status').dataset.state === 'live', 'first live');
      // Record every state the page goes through from here on.
      await page.evaluate(() => {
        const s = document.getElementById('status');
        window.seenStates = [s.dataset.state];
        new MutationObserver(() => window.seenStates.push(s.dataset.state))
          .observe(s, { attributes: true, attributeFilter: ['data-state'] });
      });
      assert.equal((await status(page)).transport, transport);
      assert.equal(await page.getByLabel(LABELS[transport]).isChecked(), true);
      await waitForRows(page, [...acked.keys()]);

      // The form: a created order (its 201 is an acknowledgement too), then the server's
      // 400 shown at the field it names.
      const created = await submitForm(page, { customerId: 'form-1', total: '12.50', items: '[{"sku":"A-1","qty":2}]' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      acked.set(created.body.seq, created.body.orderId);
      assert.match(await page.locator('#form-status').textContent(), new RegExp(`seq ${created.body.seq}\\b`));
      await waitForRows(page, [created.body.seq]);
      const row = page.locator(`#order-rows tr[data-seq="${created.body.seq}"]`);
      assert.deepEqual(await row.locator('td').allTextContents().then((c) => c.slice(0, 4)),
        [String(created.body.seq), created.body.orderId, 'form-1', '12.50']);

      const refused = await submitForm(page, { customerId: '', total: '5' });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.field, 'customerId');
      const customer = page.getByLabel('Customer id');
      assert.equal(await customer.getAttribute('aria-invalid'), 'true');
      assert.equal(await customer.getAttribute('aria-describedby'), 'customerId-error');
      assert.equal(await page.locator('#customerId-error').textContent(), refused.body.error);
      assert.equal(await page.locator('#customerId-error').isVisible(), true);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'customerId');

      // The browser offline: the page says so and waits; back online, it resumes after its
      // last seq, so an order created meanwhile shows up.
      const shownBeforeOffline = Number((await status(page)).lastSeq);
      assert.equal(shownBeforeOffline, created.body.seq);
      await context.setOffline(true);
      await waitForStatus(page, () => document.getElementById('status').dataset.state === 'offline', 'offline');
      const whileOffline = await postOrder(port, { customerId: 'while-offline', total: 1 });
      acked.set(whileOffline.seq, whileOffline.orderId);
      // Orders keep coming while the page catches up, so live ones arrive in the middle
      // of its resume (the hub's history read; the feeds' replay).
      const catchUpPoster = postUntilUnreachable(port, acked, 2);
      await withDeadline(catchUpPoster.ackedAtLeast(acked.size + 5), WAIT_MS, 'orders before going online');
      await context.setOffline(false);
      await waitForStatus(page, () => {
        const s = document.getElementById('status').dataset;
        return s.state === 'live' && s.reconnects === '1';
      }, 'live again after going offline');
      await withDeadline(catchUpPoster.ackedAtLeast(acked.size + 5), WAIT_MS, 'orders after live again');
      catchUpPoster.stop();
      await withDeadline(catchUpPoster.done, WAIT_MS, 'the posters to stop');
      await waitForRows(page, [whileOffline.seq, ...acked.keys()]);

      // SIGKILL while orders are being posted and streamed.
      const poster = postUntilUnreachable(port, acked, 3);
      await withDeadline(poster.ackedAtLeast(acked.size + 30), WAIT_MS, '30 acknowledged orders while streaming');
      server.child.kill('SIGKILL');
      await server.waitExit(WAIT_MS);
      await withDeadline(poster.done, WAIT_MS, 'the posters to see the server gone');
      await server.stop();
      server = await startServer({ args: ['--data', dataDir], port });

      await waitForStatus(page, () => {
        const s = document.getElementById('status').dataset;
        return s.state === 'live' && Number(s.reconnects) >= 2;
      }, 'live again after the restart');
      for (let i = 0; i < 5; i++) {
        const o = await postOrder(port, { customerId: `after-${i}`, total: 20 + i });
        acked.set(o.seq, o.orderId);
      }
      const late = await submitForm(page, { customerId: 'form-2', total: '7' });
      assert.equal(late.status, 201, JSON.stringify(late.body));
      acked.set(late.body.seq, late.body.orderId);
      await waitForRows(page, [...acked.keys()]);

      // Every acknowledged order exactly once, in seq order (newest on top) ...
      const rows = await page.$$eval('#order-rows tr',
        (trs) => trs.map((tr) => ({ seq: Number(tr.dataset.seq), orderId: tr.dataset.orderId })));
      for (let i = 1; i < rows.length; i++) {
        assert.ok(rows[i - 1].seq > rows[i].seq, `rows out of order at ${i}: ${rows[i - 1].seq} then ${rows[i].seq}`);
      }
      for (const [seq, orderId] of acked) {
        assert.deepEqual(rows.filter((r) => r.seq === seq), [{ seq, orderId }], `seq ${seq}`);
      }
      // ... and exactly what the store holds (orders stored but not acknowledged before
      // the kill included).
      const stored = await (await fetch(`${origin(port)}/api/orders?after=0&limit=1000`)).json();
      assert.deepEqual([...rows].reverse(), stored.orders.map((o) => ({ seq: o.seq, orderId: o.orderId })));

      const final = await status(page);
      assert.equal(final.duplicates, '0');
      assert.equal(final.gaps, '0');
      assert.equal(Number(final.lastSeq), stored.lastSeq);
      const states = await page.evaluate(() => window.seenStates);
      const offline = states.indexOf('offline');
      assert.ok(offline > 0 && states.indexOf('reconnecting', offline) > 0 && states.at(-1) === 'live',
        `states: ${states.join(' ')}`);
      // Reconnecting resumed the feed; the table was loaded from REST once only.
      assert.deepEqual(tailReads, ['?tail=100']);
      if (transport === 'ws') {
        assert.ok(feedUrls.length >= 2 && feedUrls.every((u) => u === '/ws/orders/feed'), feedUrls.join(' '));
        assert.ok(resumes.length >= 2 && resumes.every((m) => m.type === 'RESUME' && m.topic === 'orders'),
          JSON.stringify(resumes));
        assert.ok(resumes.some((m) => m.after === shownBeforeOffline), JSON.stringify(resumes));
        assert.ok(resumes.at(-1).after > resumes[0].after, JSON.stringify(resumes));
      } else if (transport === 'sse') {
        assert.ok(feedUrls.length >= 2 && feedUrls.every((u) => /^\/sse\/orders\?after=\d+$/.test(u)), feedUrls.join(' '));
        assert.ok(feedUrls.includes(`/sse/orders?after=${shownBeforeOffline}`), feedUrls.join(' '));
        assert.ok(Number(feedUrls.at(-1).split('=')[1]) > Number(feedUrls[0].split('=')[1]), feedUrls.join(' '));
      } else {
        // One hub connection per page connection, each over WebSockets (the client's first
        // choice): the first, one after going offline, one the client's automatic
        // reconnect made after the restart. Each subscribed; back online, the page read
        // the history from the last seq it showed (after the restart it needs none when
        // the kill left no stored order unpublished).
        assert.ok(feedUrls.length >= 3 && feedUrls.every((u) => u === '/hubs/orders'), feedUrls.join(' '));
        const subscribes = invocations.filter((m) => m.target === 'Subscribe');
        const pages = invocations.filter((m) => m.target === 'GetRecent');
        assert.ok(subscribes.length >= 3 && subscribes.every((m) => JSON.stringify(m.arguments) === '["orders"]'),
          JSON.stringify(invocations));
        assert.ok(pages.some((m) => m.arguments[0] === shownBeforeOffline), JSON.stringify(invocations));
        assert.ok(pages.every((m, i) => Number.isSafeInteger(m.arguments[0]) && (i === 0 || m.arguments[0] > pages[i - 1].arguments[0])),
          JSON.stringify(invocations));
        assert.deepEqual(invocations.filter((m) => !['Subscribe', 'GetRecent'].includes(m.target)), []);
      }
      assert.deepEqual(problems, []);
      assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
    });
}

// Over the hub, live events that overtake the history read must wait for it: the page's
// hub WebSocket is routed through the test, which holds back the answer to GetRecent until
// an order created after it has gone through live. Shown in arrival order, that order
// would count a gap and the history's order a duplicate (and never show).
test('dashboard over hub: a live event that arrives before the history answer waits for it', T, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  let holdGetRecent = false;
  const held = [];        // records from the server kept back, with their release
  const heldIds = new Set();
  let liveAfterHeld = 0;  // orderCreated records forwarded while an answer was held
  const answerHeld = watched();
  const liveForwarded = watched();
  await page.routeWebSocket((url) => url.pathname === '/hubs/orders', (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => {
      for (const m of hubMessages(message)) {
        if (holdGetRecent && m.type === 1 && m.target === 'GetRecent') heldIds.add(m.invocationId);
      }
      upstream.send(message);
    });
    upstream.onMessage((message) => {
      // Forwarded one record a frame, which the client takes as well.
      for (const record of message.split('\x1e').filter((r) => r !== '')) {
        const m = JSON.parse(record);
        if (m.type === 3 && heldIds.has(m.invocationId)) {
          held.push(() => ws.send(`${record}\x1e`));
          answerHeld.fire();
        } else {
          if (held.length > 0 && m.type === 1 && m.target === 'orderCreated') {
            liveAfterHeld++;
            liveForwarded.fire();
          }
          ws.send(`${record}\x1e`);
        }
      }
    });
  });

  const port = server.port;
  await postOrder(port, { customerId: 'first', total: 1 });
  await page.goto(`${origin(port)}/?transport=hub`);
  await waitForStatus(page, () => document.getElementById('status').dataset.state === 'live', 'first live');

  await context.setOffline(true);
  await waitForStatus(page, () => document.getElementById('status').dataset.state === 'offline', 'offline');
  const missed = await postOrder(port, { customerId: 'while-offline', total: 2 });
  holdGetRecent = true;
  await context.setOffline(false);
  await withDeadline(answerHeld.next, WAIT_MS, 'the GetRecent answer');
  const overtaking = await postOrder(port, { customerId: 'overtaking', total: 3 });
  await withDeadline(liveForwarded.next, WAIT_MS, 'the live order forwarded');
  assert.equal(liveAfterHeld, 1);
  assert.notEqual((await status(page)).state, 'live', 'not live before the history is in');
  for (const release of held.splice(0)) release();

  await waitForStatus(page, () => document.getElementById('status').dataset.state === 'live', 'live again');
  await waitForRows(page, [missed.seq, overtaking.seq]);
  const rows = await page.$$eval('#order-rows tr', (trs) => trs.map((tr) => Number(tr.dataset.seq)));
  assert.deepEqual(rows, [overtaking.seq, missed.seq, 1]);
  const final = await status(page);
  assert.equal(final.duplicates, '0');
  assert.equal(final.gaps, '0');
  assert.deepEqual(problems, []);
});

// Over the hub, a reconnect may land on a node that has not read the order log as far as
// the node before: Subscribe answers a seq below the last one shown, and the orders in
// between then come live on the new connection. They are the overlap, not duplicates.
// Node B is held behind (its Redis user may not XREAD) while the page, on node A through
// a failover balancer, shows orders 1..3; A is SIGKILLed, the page reconnects to B, and
// only then may B read the log.
test('dashboard over hub: a reconnect to a node that is behind shows every order once and counts no duplicate', T,
  async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const acl = ['ACL', 'SETUSER', 'lagging', 'on', '>pw', '~*', '&*', '+@all'];
    assert.equal(await redis.command(...acl, '-xread'), '+OK\r\n');
    const a = await startServer({ args: ['--data', tempDataDir(t), '--redis', redis.url] });
    t.after(() => a.stop());
    const b = await startServer({ args: ['--data', tempDataDir(t), '--redis', `redis://lagging:pw@127.0.0.1:${redis.port}`] });
    t.after(() => b.stop());
    const metric = async (node, name) => {
      const text = await (await fetch(`${origin(node.port)}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    const until = (predicate, what) => withDeadline((async () => {
      while (!(await predicate())) await new Promise((r) => setTimeout(r, 20));
    })(), WAIT_MS, what);
    await until(async () => (await metric(a, 'wirehub_orderflow_log_up')) === 1, "A's order log to be up");
    const balancer = await FailoverBalancer.start([a.port, b.port]);
    t.after(() => balancer.close());

    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.goto(`${origin(balancer.port)}/?transport=hub`);
    await waitForStatus(page, () => document.getElementById('status').dataset.state === 'live', 'live on A');
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await postOrder(a.port, { customerId: `on-a-${i}`, total: 1 + i }));
    await waitForRows(page, first.map((o) => o.seq));

    a.child.kill('SIGKILL');
    await a.waitExit(WAIT_MS);
    await waitForStatus(page, () => {
      const s = document.getElementById('status').dataset;
      return s.state === 'live' && s.reconnects === '1';
    }, 'live again, on B');
    assert.equal((await (await fetch(`${origin(b.port)}/api/orders`)).json()).lastSeq, 0, 'B has read no order yet');
    assert.equal(await redis.command(...acl, '+xread'), '+OK\r\n');
    await until(async () => (await metric(b, 'wirehub_orderflow_log_seq')) === 3 &&
      (await metric(b, 'wirehub_orderflow_log_up')) === 1, 'B to read orders 1..3');
    const onB = await postOrder(b.port, { customerId: 'on-b', total: 4 });
    await waitForRows(page, [onB.seq]);

    const rows = await page.$$eval('#order-rows tr', (trs) => trs.map((tr) => tr.dataset.orderId));
    assert.deepEqual(rows, [onB, ...first].sort((x, y) => y.seq - x.seq).map((o) => o.orderId));
    const final = await status(page);
    assert.equal(final.duplicates, '0');
    assert.equal(final.gaps, '0');
    assert.deepEqual(problems, []);
  });

// A one-shot signal: next resolves the first time fire() is called.
function watched() {
  const w = {};
  w.next = new Promise((resolve) => { w.fire = resolve; });
  return w;
}
