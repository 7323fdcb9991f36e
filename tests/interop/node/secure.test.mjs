// /ws/secure with Node's `ws` client: the browser-style token (subprotocols
// ['access_token', <jwt>]), the Authorization header, and the refusals `ws` reports as
// 'Unexpected server response: 401/403'. Tokens are HS256, signed here with node:crypto.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startServer, withDeadline } from './server.mjs';

const T = { timeout: 30_000 };
const SECRET = 'node-interop-secret-of-at-least-32-bytes!';

const b64 = (buf) => Buffer.from(buf).toString('base64url');
function hs256(claims) {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

let server;
before(async () => { server = await startServer({ config: { jwt: { secret: SECRET } } }); });
after(async () => { await server?.stop(); });

// Opens with the given protocols/options; resolves to { ws, greeting } or rejects with
// the error ws reports (an unexpected HTTP status included).
async function open(protocols, options = {}) {
  const ws = new WebSocket(server.url('/ws/secure'), protocols, { perMessageDeflate: false, ...options });
  const greeting = new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
  const status = new Promise((resolve) => ws.once('unexpected-response', (req, res) => resolve(res.statusCode)));
  const outcome = await withDeadline(
    Promise.race([once(ws, 'open').then(() => 'open'), status, once(ws, 'error').then(([e]) => e.message)]),
    5000, 'the handshake');
  return { ws, greeting, outcome };
}

test('the browser form: subprotocols ["access_token", jwt] opens, answered "access_token"', T, async () => {
  const { ws, greeting, outcome } = await open(['access_token', hs256({ sub: 'dana', exp: now() + 600 })]);
  assert.equal(outcome, 'open');
  assert.equal(ws.protocol, 'access_token');
  assert.equal(await withDeadline(greeting, 5000, 'the greeting'), 'Welcome, dana');
  ws.send('over the token');
  const [echo] = await withDeadline(once(ws, 'message'), 5000, 'the echo');
  assert.equal(echo.toString(), 'over the token');
  ws.close();
  await once(ws, 'close');
});

test('Authorization: Bearer opens too', T, async () => {
  const token = hs256({ sub: 'erin', exp: now() + 600 });
  const { ws, greeting, outcome } = await open(undefined, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(outcome, 'open');
  assert.equal(await withDeadline(greeting, 5000, 'the greeting'), 'Welcome, erin');
  ws.close();
  await once(ws, 'close');
});

test('no token, an expired token and a token without a subject are refused before the upgrade', T, async () => {
  assert.equal((await open(undefined)).outcome, 401);
  assert.equal((await open(['access_token', hs256({ sub: 'x', exp: now() - 100 })])).outcome, 401);
  assert.equal((await open(['access_token', hs256({ exp: now() + 600 })])).outcome, 403);
});
