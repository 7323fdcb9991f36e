// Server-Sent Events against the `eventsource` package (a WHATWG EventSource for Node):
// events with ids, types and multi-line data; reconnection with Last-Event-ID after the
// server ends a stream; topics; SIGTERM ending open streams. The server is the library's
// own test server (tests/interop/sse_server.cpp), since the wirehub binary's endpoints
// belong to the app.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const binary = process.env.WIREHUB_SSE_TEST_SERVER || path.join(repoRoot, 'build/bin/wirehub-sse-test-server');

// Starts the test server; resolves once it has printed its port.
async function startSseServer() {
  const child = spawn(binary, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port printed in time: ${out}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^port (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', () => reject(new Error(`server exited early: ${out}`)));
  });
  child.stdout.resume();
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return withDeadline(exited, 10_000, 'server exit');
    },
  };
}

function withDeadline(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves with the first `n` events of `type` on `es` (each: data, lastEventId).
function collect(es, type, n, ms = 10_000) {
  const got = [];
  return withDeadline(new Promise((resolve) => {
    es.addEventListener(type, (e) => {
      got.push({ data: e.data, lastEventId: e.lastEventId });
      if (got.length === n) resolve(got);
    });
  }), ms, `${n} '${type}' events (got ${got.length})`);
}

function opened(es) {
  return withDeadline(new Promise((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource error: ${e.message ?? e.type}`));
  }), 10_000, 'EventSource open');
}

// Runs fn(server, open) with a fresh server, where open(path) makes an EventSource; closes
// every source, then stops the server and checks it exited 0.
async function withServer(fn) {
  const server = await startSseServer();
  const sources = [];
  try {
    await fn(server, (p) => {
      const es = new EventSource(server.url(p));
      sources.push(es);
      return es;
    });
  } finally {
    for (const es of sources) es.close();
    assert.equal(await server.stop(), 0);
  }
}

async function publish(server, query, body) {
  const res = await fetch(server.url(`/publish?${query}`), { method: 'POST', body });
  assert.equal(res.status, 204);
}

test('events keep their ids, types and multi-line data', { timeout: 30_000 }, () => withServer(async (server, open) => {
  const es = open('/sse/events?topic=orders');
  await opened(es);
  const orders = collect(es, 'order', 1);
  const messages = collect(es, 'message', 1);
  await publish(server, 'topic=orders&event=order&id=7', 'line 1\r\nline 2\rline 3\nline 4');
  await publish(server, 'topic=orders&id=8', '{"seq":8}');
  assert.deepEqual(await orders, [{ data: 'line 1\nline 2\nline 3\nline 4', lastEventId: '7' }]);
  assert.deepEqual(await messages, [{ data: '{"seq":8}', lastEventId: '8' }]);
}));

test('a stream the server ends is resumed with Last-Event-ID', { timeout: 30_000 }, () => withServer(async (server, open) => {
  const events = await collect(open('/sse/script'), 'message', 6);
  assert.deepEqual(events.map((e) => e.lastEventId), ['1', '2', '3', '4', '5', '6']);
  assert.deepEqual(events.map((e) => e.data), [1, 2, 3, 4, 5, 6].map((n) => `event ${n}\nsecond line`));
}));

test('a topic reaches only its subscribers', { timeout: 30_000 }, () => withServer(async (server, open) => {
  const a = open('/sse/events?topic=a');
  const b = open('/sse/events?topic=b');
  await Promise.all([opened(a), opened(b)]);
  const gotA = collect(a, 'message', 2);
  const gotB = collect(b, 'message', 1);
  await publish(server, 'topic=a', 'a1');
  await publish(server, 'topic=b', 'b1');
  await publish(server, 'topic=a', 'a2');
  assert.deepEqual((await gotA).map((e) => e.data), ['a1', 'a2']);
  assert.deepEqual((await gotB).map((e) => e.data), ['b1']);
}));

test('SIGTERM ends open streams and the server exits 0', { timeout: 30_000 }, async () => {
  const server = await startSseServer();
  const es = new EventSource(server.url('/sse/events'));
  try {
    await opened(es);
    const ended = withDeadline(new Promise((resolve) => { es.onerror = () => resolve(); }), 10_000, 'stream end');
    assert.equal(await server.stop(), 0);
    await ended;
  } finally {
    es.close();
  }
});
