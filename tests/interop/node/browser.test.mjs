// Chromium (Debian's package, driven by playwright-core) against wirehub over TLS: it
// loads an https page from the TLS listener and opens wss:// from it. The certificate
// comes from a throwaway CA made here; the browser trusts exactly that server key (its
// SPKI hash), no blanket "ignore certificate errors". The browser's own permessage-deflate
// offer must be accepted, and messages, large compressible ones included, must come back
// intact in both directions.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { makePki } from './pki.mjs';
import { freePort, startServer } from './server.mjs';

const T = { timeout: 60_000 };
const CHROMIUM = '/usr/bin/chromium';

// base64(SHA-256(SubjectPublicKeyInfo)) of a certificate: what Chromium pins.
function spkiHash(certPath) {
  const pub = execFileSync('openssl', ['x509', '-in', certPath, '-pubkey', '-noout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}

let dir;
let pki;
let server;
let tlsPort;
let browser;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-browser-'));
  pki = makePki(dir);
  server = await startServer({
    config: { websocket: { compression: 'per_connection' } },
    args: async () => {
      tlsPort = await freePort();
      return ['--tls-cert', pki.cert, '--tls-key', pki.key, '--tls-listen', `127.0.0.1:${tlsPort}`];
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${spkiHash(pki.cert)}`],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('Chromium loads https and opens wss with its own permessage-deflate offer accepted', T, async () => {
  const page = await browser.newPage();
  const response = await page.goto(`https://localhost:${tlsPort}/healthz`);
  assert.equal(response.status(), 200);
  assert.equal((await response.text()).trim(), 'ok');
  assert.match((await response.securityDetails())?.protocol ?? '', /^TLS 1\.[23]$/);

  const result = await page.evaluate(async (url) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const inbox = [];
    let wake = null;
    ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
    const next = async () => {
      while (inbox.length === 0) await new Promise((r) => { wake = r; });
      return inbox.shift();
    };
    const big = 'order:ACME:100@12.50;'.repeat(50_000);  // ~1 MiB, very compressible
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const sent = ['hello over wss', 'Grüße 😀', big, ''];
    const echoes = [];
    for (const m of sent) { ws.send(m); echoes.push(await next()); }
    ws.send(bytes);
    const bin = new Uint8Array(await next());
    const binOk = bin.length === bytes.length && bin.every((b, i) => b === bytes[i]);
    ws.close(1000, 'done');
    const close = await new Promise((r) => { ws.onclose = (e) => r({ code: e.code, clean: e.wasClean }); });
    return { extensions: ws.extensions, textOk: echoes.every((e, i) => e === sent[i]), bigLength: echoes[2].length,
      binOk, close };
  }, `wss://localhost:${tlsPort}/ws/echo`);

  assert.match(result.extensions, /^permessage-deflate/);
  assert.equal(result.textOk, true);
  assert.equal(result.bigLength, 'order:ACME:100@12.50;'.length * 50_000);
  assert.equal(result.binOk, true);
  assert.deepEqual(result.close, { code: 1000, clean: true });
  await page.close();
});
