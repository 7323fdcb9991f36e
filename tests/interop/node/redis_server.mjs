// A redis-server of a test's own (Debian's, installed by scripts/install-deps) on a free
// loopback port, with nothing persisted: for the tests that join several nodes over Redis.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { freePort, withDeadline } from './server.mjs';

function redisAnswers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', () => resolve(false));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.write('PING\r\n');
  });
}

// Sends one command; resolves to the raw reply (its first read), e.g. '+OK\r\n'.
function command(port, args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString());
    });
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

// Resolves once the server answers PING; command(...args) sends it one, stop() kills it.
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (e) => { throw new Error(`redis-server could not start: ${e.message} (run scripts/install-deps)`); });
  await withDeadline((async () => {
    while (!(await redisAnswers(port))) await new Promise((r) => setTimeout(r, 20));
  })(), 10_000, 'redis-server to answer PING');
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    command: (...args) => command(port, args),
    async stop() { child.kill('SIGKILL'); await exited; },
  };
}
