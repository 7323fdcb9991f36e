// Starts and stops the real wirehub binary for the Node interop tests, and small
// event helpers so every wait has a deadline.
//
// The binary comes from $WIREHUB_BIN (ctest sets it); when unset, <repo>/build/bin/wirehub.
// Each server gets its own free loopback port, so test files can run in parallel.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;

function binaryPath() {
  const bin = process.env.WIREHUB_BIN || path.join(repoRoot, 'build/bin/wirehub');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`wirehub binary not found or not executable: ${bin} (set WIREHUB_BIN)`);
  }
  return bin;
}

export async function freePort() {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  await once(probe, 'close');
  return port;
}

// Renders { section: { key: number|string|boolean } } as TOML.
function tomlText(config) {
  let out = '';
  for (const [section, values] of Object.entries(config)) {
    out += `[${section}]\n`;
    for (const [key, value] of Object.entries(values)) {
      out += `${key} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}\n`;
    }
    out += '\n';
  }
  return out;
}

function healthz(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

// Whether the listeners on `port` are the process's own: 'mine' (all of them), 'shared'
// (another process listens there too: wirehub binds with SO_REUSEPORT, so a server of a
// parallel test that took the same port would share it), or 'pending' (none of ours yet).
function portOwnership(pid, port) {
  const listening = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':').pop(), 16) === port) listening.add(f[9]);
    }
  }
  const mine = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) mine.add(m[1]);
      } catch { /* closed meanwhile */ }
    }
  } catch { return 'pending'; }
  const ours = [...listening].filter((i) => mine.has(i)).length;
  if (ours === 0) return 'pending';
  return ours === listening.size ? 'mine' : 'shared';
}

// Resolves to true when the predicate holds, false once `ms` have passed.
async function pollUntil(predicate, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

// Starts wirehub with an optional TOML config and extra flags (args: an array, or a
// function of nothing returning one, called again on each start attempt so it can pick
// fresh ports); resolves once GET /healthz answers 200. port: listen on this one (e.g. to
// restart a killed server where its clients reconnect) instead of a free one.
export async function startServer({ config, args, port: fixedPort } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-node-'));
  const logPath = path.join(dir, 'server.log');
  const extra = [];
  if (config) {
    fs.writeFileSync(path.join(dir, 'wirehub.toml'), tomlText(config));
    extra.push('--config', path.join(dir, 'wirehub.toml'));
  }
  const logTail = () => {
    try {
      return '--- server log (tail) ---\n' + fs.readFileSync(logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  let lastError = '';
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = fixedPort ?? await freePort();
    const log = fs.openSync(logPath, 'a');
    const more = typeof args === 'function' ? await args() : (args ?? []);
    const child = spawn(binaryPath(), ['--listen', `127.0.0.1:${port}`, '--threads', '2', ...extra, ...more],
      { cwd: dir, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    let exitCode = null;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      exitCode = code ?? signal;
      resolve(exitCode);
    }));
    // Ready when /healthz answers and every listener on the port is this process's.
    let ownership = 'pending';
    const ready = await pollUntil(async () => {
      if (exitCode !== null) return true;
      if ((await healthz(port)) !== 200) return false;
      ownership = portOwnership(child.pid, port);
      return ownership !== 'pending';
    }, READY_TIMEOUT_MS);
    if (ready && exitCode === null && ownership === 'mine') {
      return new Server(child, port, exited, dir, logTail);
    }
    lastError = exitCode !== null ? `exited with ${exitCode} before ready`
      : ownership === 'shared' ? `port ${port} is shared with another process` : 'no 200 from /healthz in time';
    child.kill('SIGKILL');
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`wirehub did not become ready: ${lastError}\n${logTail()}`);
}

class Server {
  constructor(child, port, exited, dir, logTail) {
    this.child = child;
    this.port = port;
    this.exited = exited; // resolves to the exit code (or the signal name)
    this.dir = dir;
    this.logTail = logTail;
  }

  url(p) {
    return `ws://127.0.0.1:${this.port}${p}`;
  }

  // Resolves to the exit code; rejects if the process is still running after `ms`.
  waitExit(ms) {
    return withDeadline(this.exited, ms, 'server exit');
  }

  // SIGTERM, then SIGKILL after a deadline; resolves to the exit code.
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return this.exited;
  }
}

// Rejects with a clear message if `promise` has not settled within `ms`.
export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Opens a client and resolves once it is open. Options go to ws; compression is off
// unless asked for, so framing is what the test wrote.
export async function openClient(server, p, options = {}) {
  const ws = new WebSocket(server.url(p), { perMessageDeflate: false, maxPayload: 0, ...options });
  ws.inbox = new MessageInbox(ws);
  // The server's Sec-WebSocket-Extensions answer, verbatim (undefined when none).
  ws.once('upgrade', (res) => { ws.negotiatedHeader = res.headers['sec-websocket-extensions']; });
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  // A socket error (e.g. EPIPE while the server fails the connection) is reported through
  // the close code the tests assert; without a listener it would crash the runner.
  ws.errors = [];
  ws.on('error', (err) => ws.errors.push(err));
  await withDeadline(once(ws, 'open'), 5000, `open ${p}`);
  return ws;
}

// Buffers every message so a test can await them one by one with a deadline. Once the
// connection closes, waiting for a message that never came fails with the close code.
class MessageInbox {
  constructor(ws) {
    this.queue = [];
    this.waiters = [];
    this.closedWith = null;
    ws.on('message', (data, isBinary) => {
      const message = { data, isBinary };
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(message);
      else this.queue.push(message);
    });
    ws.on('close', (code, reason) => {
      this.closedWith = new Error(`connection closed with ${code} '${reason}' while waiting for a message`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.closedWith);
    });
  }

  next(ms = 10_000) {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.closedWith) return Promise.reject(this.closedWith);
    return withDeadline(new Promise((resolve, reject) => this.waiters.push({ resolve, reject })), ms, 'a message');
  }
}

// Resolves to the close event { code, reason } within `ms`.
export function closedWithin(ws, ms = 5000) {
  return withDeadline(ws.closed, ms, 'the close event');
}
