// Helpers of the SignalR interop tests (hub*.test.mjs): the hub test server
// (tests/interop/hub_server.cpp), official clients built the way applications build them,
// inboxes for client methods, bearer tokens, and a TCP proxy that can cut every
// connection through it at once, as a network loss does (neither side sends a close).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import signalR from '@microsoft/signalr';
import msgpack from '@microsoft/signalr-protocol-msgpack';
import { withDeadline } from './server.mjs';

export { withDeadline };
export const { HubConnectionBuilder, HubConnectionState, HttpTransportType, LogLevel } = signalR;
const { MessagePackHubProtocol } = msgpack;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const binary = process.env.WIREHUB_HUB_TEST_SERVER || path.join(repoRoot, 'build/bin/wirehub-hub-test-server');
const wirehubBinary = process.env.WIREHUB_BIN || path.join(repoRoot, 'build/bin/wirehub');

export const JWT_SECRET = 'hub-interop-secret-0123456789-abcdef';

// Every transport with every protocol it can carry (Server-Sent Events: text only).
export const COMBOS = [
  { transport: 'WebSockets', protocol: 'json' },
  { transport: 'WebSockets', protocol: 'messagepack' },
  { transport: 'ServerSentEvents', protocol: 'json' },
  { transport: 'LongPolling', protocol: 'json' },
  { transport: 'LongPolling', protocol: 'messagepack' },
];

// Starts the hub test server with extra flags; resolves once it has printed its port.
export function startHubServer(args = []) {
  return spawnServer(binary, ['--jwt-secret', JWT_SECRET, ...args], /^port (\d+)$/m);
}

// Starts `wirehub --app signalr-conformance` on a port of its own choosing (port 0: no
// other process can share it); resolves once it has logged the port.
export function startConformanceServer() {
  return spawnServer(wirehubBinary, ['--listen', '127.0.0.1:0', '--threads', '2', '--app', 'signalr-conformance'],
    /listening on 127\.0\.0\.1:(\d+) \(plain\)/);
}

async function spawnServer(file, args, portPattern) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  const port = await withDeadline(new Promise((resolve, reject) => {
    const scan = (chunk) => {
      out += chunk;
      const m = portPattern.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', scan);
    child.stderr.on('data', scan);
    child.once('exit', (code) => reject(new Error(`${file} exited early (${code}): ${out}`)));
  }), 10_000, `${path.basename(file)} to tell its port`);
  // The server's output goes on to the test's stderr, where a failure shows it.
  child.stdout.removeAllListeners('data');
  child.stderr.removeAllListeners('data');
  child.stdout.pipe(process.stderr);
  child.stderr.pipe(process.stderr);
  return {
    port,
    child,
    exited,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    // SIGTERM (a graceful shutdown); resolves to the exit code.
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return withDeadline(exited, 15_000, `${path.basename(file)} to exit`);
    },
  };
}

// A connection as an application builds it. protocol: 'json' | 'messagepack';
// transport: a name, or null for the client's choice; reconnect: true (delays 0, 100,
// 500, 1000 ms) or an array of delays; headers: sent with every request.
export function buildConnection(url, { transport = 'WebSockets', protocol = 'json', token, reconnect, stateful, headers } = {}) {
  const options = {};
  if (transport !== null) options.transport = HttpTransportType[transport];
  if (token !== undefined) options.accessTokenFactory = () => token;
  if (headers) options.headers = headers;
  let b = new HubConnectionBuilder().withUrl(url, options).configureLogging(LogLevel.None);
  if (protocol === 'messagepack') b = b.withHubProtocol(new MessagePackHubProtocol());
  if (reconnect) b = b.withAutomaticReconnect(reconnect === true ? [0, 100, 500, 1000] : reconnect);
  if (stateful) b = b.withStatefulReconnect();
  return b.build();
}

// Builds and starts a connection; the caller stops it.
export async function connect(url, options = {}) {
  const c = buildConnection(url, options);
  await withDeadline(c.start(), 10_000, `start ${url} ${JSON.stringify(options)}`);
  return c;
}

// Collects the calls of one client method, to await them one by one with a deadline.
export class Inbox {
  constructor(connection, method) {
    this.calls = [];
    this.waiters = [];
    connection.on(method, (...args) => {
      this.calls.push(args);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  // Resolves to the calls so far once there are at least n of them.
  async count(n, ms = 10_000) {
    await withDeadline((async () => {
      while (this.calls.length < n) await new Promise((resolve) => this.waiters.push(resolve));
    })(), ms, `${n} calls (got ${this.calls.length})`);
    return this.calls.slice();
  }

  // Resolves to the next call's arguments after the ones already taken with next().
  async next(ms = 10_000) {
    this.taken = (this.taken ?? 0) + 1;
    const calls = await this.count(this.taken, ms);
    return calls[this.taken - 1];
  }
}

// Resolves with the argument of the connection's next onclose / onreconnecting /
// onreconnected callback.
export function nextEvent(connection, kind, ms = 10_000) {
  return withDeadline(new Promise((resolve) => connection[kind]((arg) => resolve(arg))), ms, kind);
}

// An HS256 JWT with these claims and an expiry `ttlS` seconds from now.
export function makeToken(claims, ttlS = 300, secret = JWT_SECRET) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat: now, exp: now + ttlS, ...claims })}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// A TCP proxy to 127.0.0.1:targetPort. drop() cuts every connection through it with a
// reset (no WebSocket close, no end of the HTTP response): the server side first, then,
// once that socket is gone, the client's. New connections keep being accepted.
export class CuttableProxy {
  static async start(targetPort) {
    const p = new CuttableProxy(targetPort);
    p.server.listen(0, '127.0.0.1');
    await once(p.server, 'listening');
    p.port = p.server.address().port;
    return p;
  }

  constructor(targetPort) {
    this.pairs = new Set();
    this.accepted = 0;
    this.server = net.createServer((client) => {
      this.accepted++;
      const upstream = net.connect(targetPort, '127.0.0.1');
      const pair = { client, upstream, cut: false };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      // One side ended on its own: end the other too (a cut does that by itself).
      const end = () => {
        if (pair.cut) return;
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
  }

  url(p) {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  async drop() {
    const pairs = [...this.pairs];
    this.pairs.clear();
    for (const pair of pairs) pair.cut = true;
    await Promise.all(pairs.map(async ({ upstream }) => {
      if (!upstream.destroyed) {
        const closed = once(upstream, 'close');
        upstream.resetAndDestroy();
        await closed;
      }
    }));
    for (const { client } of pairs) {
      if (!client.destroyed) client.resetAndDestroy();
    }
    return pairs.length;
  }

  async close() {
    await this.drop();
    this.server.close();
  }
}
