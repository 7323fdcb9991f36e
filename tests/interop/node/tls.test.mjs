// wss and https with Node's own TLS stack (not OpenSSL driven by our code): the `ws`
// client echoes through the TLS listener, verifying the server against a throwaway CA
// made here with the openssl command; the plain listener keeps working beside it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { freePort, openClient, startServer, withDeadline } from './server.mjs';
import { binary } from './payloads.mjs';

const T = { timeout: 30_000 };

function makePki(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.crt', '-days', '1', '-subj', '/CN=wirehub node test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  fs.writeFileSync(path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
    '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-sha256', '-extfile', 'server.ext', '-out', 'server.crt');
  return { ca: fs.readFileSync(path.join(dir, 'ca.crt')), cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key') };
}

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
