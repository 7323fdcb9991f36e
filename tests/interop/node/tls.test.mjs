// wss and https with Node's own TLS stack (not OpenSSL driven by our code): the `ws`
// client echoes through the TLS listener, verifying the server against a throwaway CA
// made here with the openssl command; the plain listener keeps working beside it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { makePki } from './pki.mjs';
import { freePort, openClient, startServer, withDeadline } from './server.mjs';
import { binary } from './payloads.mjs';

const T = { timeout: 30_000 };

let dir;
let pki;
let server;
let tlsPort;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-node-tls-'));
  pki = makePki(dir);
  server = await startServer({
    args: async () => {
      tlsPort = await freePort();
      return ['--tls-cert', pki.cert, '--tls-key', pki.key, '--tls-listen', `127.0.0.1:${tlsPort}`];
    },
  });
});
after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function openWss(p) {
  const ws = new WebSocket(`wss://localhost:${tlsPort}${p}`, { ca: pki.ca, perMessageDeflate: false, maxPayload: 0 });
  const messages = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    const w = waiters.shift();
    if (w) w(m); else messages.push(m);
  });
  ws.next = () => withDeadline(new Promise((resolve) => {
    if (messages.length) resolve(messages.shift()); else waiters.push(resolve);
  }), 10_000, 'a message');
  await withDeadline(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    5000, 'wss open');
  return ws;
}

describe('wss', () => {
  test('text and binary messages are echoed exactly', T, async () => {
    const ws = await openWss('/ws/echo');
    try {
      ws.send('hello over wss ✓');
      const text = await ws.next();
      assert.equal(text.isBinary, false);
      assert.equal(text.data.toString('utf8'), 'hello over wss ✓');
      const payload = binary(4 * 1024 * 1024);
      ws.send(payload, { binary: true });
      const reply = await ws.next();
      assert.equal(reply.isBinary, true);
      assert.ok(reply.data.equals(payload), 'payload bytes changed');
    } finally {
      ws.close();
    }
  });

  test('the ALPN protocol is http/1.1 and the certificate verifies', T, async () => {
    const status = await new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', servername: 'localhost', port: tlsPort, path: '/healthz', ca: pki.ca,
        ALPNProtocols: ['http/1.1'] }, (res) => {
        assert.equal(res.socket.alpnProtocol, 'http/1.1');
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
  });

  test('the plain listener still echoes beside it', T, async () => {
    const ws = await openClient(server, '/ws/echo');
    try {
      ws.send('plain');
      assert.equal((await ws.inbox.next()).data.toString(), 'plain');
    } finally {
      ws.close();
    }
  });
});
