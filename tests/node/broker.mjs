// Starts one `oxbow serve` on a free loopback port with a temporary data directory, like
// tests/python/conftest.py. The binary is $OXBOW_BIN if set, else target/debug/oxbow.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
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

// With { plainUsers: { name: 'password' } } its listener is SASL_PLAINTEXT with those PLAIN users.
// With { tls: true } the broker has a PLAINTEXT and an SSL listener (a self-signed certificate
// made with openssl) and `bootstrap` is the SSL one; `ca` is the certificate to trust.
// With { superUsers: ['admin'] } as well, the ACL authorizer is on with those super users.
// With { lakeTables: ['orders'] } those topics are landed in lake tables (JSON values, flushed
// every 200 ms) and SQL is served on `sqlPort` (not combined with tls or plainUsers).
export async function startBroker({ tls = false, plainUsers = null, superUsers = null, lakeTables = null } = {}) {
  const binary = process.env.OXBOW_BIN || join(REPO, 'target', 'debug', 'oxbow');
  if (!existsSync(binary)) throw new Error(`${binary} not found: run \`cargo build -p oxbow\` first`);
  const work = mkdtempSync(join(tmpdir(), 'oxbow-node-'));
  const logPath = join(work, 'broker.log');
  const log = openSync(logPath, 'a');
  const port = await freePort();
  const args = ['serve', '--data-dir', join(work, 'data'), '--listen', `127.0.0.1:${port}`];
  let ca = null;
  let sslPort = null;
  if (plainUsers) {
    // A SASL_PLAINTEXT broker with these PLAIN users.
    const users = Object.entries(plainUsers).map(([u, p]) => `${u} = "${p}"`).join('\n');
    const config = join(work, 'oxbow-sasl.toml');
    const supers = superUsers ? `super_users = [${superUsers.map(u => `"${u}"`).join(', ')}]\n` : '';
    writeFileSync(config, `[security]\nsasl_mechanisms = ["PLAIN"]\n${supers}\n[security.plain_users]\n${users}\n`);
    args.push('--config', config);
  }
  if (tls) {
    const cert = join(work, 'server.pem');
    const key = join(work, 'server.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', key,
      '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    ca = readFileSync(cert, 'utf8');
    sslPort = await freePort();
    const config = join(work, 'oxbow.toml');
    writeFileSync(config, `[[server.listeners]]\nname = "LOCAL"\nlisten = "127.0.0.1:${port}"\n\n` +
      `[[server.listeners]]\nname = "SECURE"\nlisten = "127.0.0.1:${sslPort}"\nprotocol = "SSL"\n\n` +
      `[tls]\ncert_file = "${cert}"\nkey_file = "${key}"\n`);
    args.push('--config', config);
  }
  let sqlPort = null;
  if (lakeTables) {
    sqlPort = await freePort();
    const tables = lakeTables.map(t => `[[lake.tables]]\ntopic = "${t}"\n`).join('');
    const config = join(work, 'oxbow-lake.toml');
    writeFileSync(config, `[lake]\nroot = "${join(work, 'lake')}"\nflush_interval_ms = 200\n${tables}`);
    args.push('--config', config, '--sql-listen', `127.0.0.1:${sqlPort}`);
  }
  const proc = spawn(binary, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, OXBOW_GROUP_INITIAL_REBALANCE_DELAY_MS: '0', OXBOW_REGISTRY_LISTEN: '127.0.0.1:0', OXBOW_HTTP_LISTEN: '127.0.0.1:0' },
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
  while (sqlPort !== null && !(await canConnect(sqlPort))) {
    if (Date.now() > deadline) throw new Error(`SQL listener not up:\n${tail()}`);
    await new Promise(r => setTimeout(r, 50));
  }
  while (sslPort !== null && !(await canConnect(sslPort))) {
    if (Date.now() > deadline) throw new Error(`SSL listener not up:\n${tail()}`);
    await new Promise(r => setTimeout(r, 50));
  }
  return {
    bootstrap: `127.0.0.1:${sslPort ?? port}`,
    plaintext: `127.0.0.1:${port}`,
    ca,
    sqlPort,
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
