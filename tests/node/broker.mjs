// Starts one `oxbow serve` on a free loopback port with a temporary data directory, like
// tests/python/conftest.py. The binary is $OXBOW_BIN if set, else target/debug/oxbow.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function canConnect(port) {
  return new Promise(ok => {
    const sock = connect({ host: '127.0.0.1', port }, () => { sock.destroy(); ok(true); });
    sock.on('error', () => ok(false));
  });
}

export async function startBroker() {
  const binary = process.env.OXBOW_BIN || join(REPO, 'target', 'debug', 'oxbow');
  if (!existsSync(binary)) throw new Error(`${binary} not found: run \`cargo build -p oxbow\` first`);
  const work = mkdtempSync(join(tmpdir(), 'oxbow-node-'));
  const logPath = join(work, 'broker.log');
  const log = openSync(logPath, 'a');
  const port = await freePort();
  const proc = spawn(binary, ['serve', '--data-dir', join(work, 'data'), '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', log, log],
    env: { ...process.env, OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS: '0' },
  });
  let exited = null;
  proc.on('exit', code => { exited = code; });
  const tail = () => readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n');
  const deadline = Date.now() + 20000;
  while (!(await canConnect(port))) {
    if (exited !== null) throw new Error(`oxbow serve exited with ${exited}:\n${tail()}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`oxbow serve not accepting connections after 20s:\n${tail()}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    logTail: tail,
    async stop() {
      if (exited === null) {
        const done = new Promise(r => proc.on('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
        await done;
        clearTimeout(timer);
      }
      rmSync(work, { recursive: true, force: true });
    },
  };
}
