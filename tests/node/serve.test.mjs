// The dev server (scripts/serve.mjs) against hostile requests: it must answer every one with a
// 4xx (or 200 for the legitimate ones), never crash, never serve a file from outside its folder
// (symlinks included), and still serve the page afterwards. It also negotiates precompressed
// files (`F.br`, `F.gz` beside `F`) by Accept-Encoding, refuses foreign Host headers and `//`
// targets, and sends its Content-Security-Policy.
//
// The server runs as a child process (`node scripts/serve.mjs --dir <tmp> --port 0`), so a crash
// shows as an exited process rather than killing the test runner. Under root it runs as `nobody`
// (uid 65534): root reads a mode-000 file anyway, so only an unprivileged server meets a file it
// cannot read. Requests go through node:net, so the paths reach the server exactly as written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVE = path.join(REPO, 'scripts', 'serve.mjs');
const SECRET = 'SECRET-7f3a91c2-outside-the-root';
const INDEX = '<!doctype html><title>serve test</title><p>INDEX-OK</p>';
const HELLO = 'hello from inside the root\n';
const BIG = 8 * 1024 * 1024;
// A file with precompressed siblings (made incompressible enough that the three sizes differ).
const PAGE_JS = Array.from({ length: 4000 }, (_, i) => `export const v${i} = ${(i * 2654435761) % 1000003};`).join('\n');
const PAGE_BR = zlib.brotliCompressSync(PAGE_JS);
const PAGE_GZ = zlib.gzipSync(PAGE_JS, { level: 9 });
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let root;
let outside;
let server = null; // { child, port, exited, stderr }
let crashes = [];
const responses = [];

function sh(cmd, args) {
  const r = spawnSync(cmd, args);
  return r.status === 0;
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-root-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-outside-'));
  // Readable by the unprivileged server, so a refusal is the server's doing, not the kernel's.
  fs.chmodSync(root, 0o755);
  fs.chmodSync(outside, 0o755);
  fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET, { mode: 0o644 });

  fs.writeFileSync(path.join(root, 'index.html'), INDEX, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'hello.txt'), HELLO, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(BIG, 0x61), { mode: 0o644 });
  fs.mkdirSync(path.join(root, 'sub'), { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'sub', 'index.html'), 'SUB-INDEX', { mode: 0o644 });
  // Unreadable (to the unprivileged server): a mode-000 file and a mode-000 directory.
  fs.writeFileSync(path.join(root, 'locked.txt'), 'LOCKED', { mode: 0o644 });
  fs.chmodSync(path.join(root, 'locked.txt'), 0o000);
  fs.mkdirSync(path.join(root, 'locked-dir'));
  fs.writeFileSync(path.join(root, 'locked-dir', 'inner.txt'), 'INNER');
  fs.chmodSync(path.join(root, 'locked-dir'), 0o000);
  // Unreadable even as root: a directory named like a file (no index.html), a FIFO (opening it
  // blocks), a dangling symlink.
  fs.mkdirSync(path.join(root, 'dir-named.txt'), { mode: 0o755 });
  sh('mkfifo', [path.join(root, 'fifo.txt')]);
  fs.symlinkSync(path.join(root, 'does-not-exist.txt'), path.join(root, 'dangling.txt'));
  // Symlinks out of the root (to a file and to a folder), and a legitimate one inside it.
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'out.txt'));
  fs.symlinkSync(outside, path.join(root, 'outdir'));
  fs.symlinkSync('hello.txt', path.join(root, 'inlink.txt'));
  // Precompressed siblings: both codings; gzip only; a stale .br (older than its file); a .br that
  // is a symlink out of the root; data that is gzip already (served as it is, no Vary).
  fs.writeFileSync(path.join(root, 'page.js'), PAGE_JS, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'page.js.br'), PAGE_BR, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'page.js.gz'), PAGE_GZ, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'gz-only.css'), PAGE_JS, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'gz-only.css.gz'), PAGE_GZ, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'stale.js'), PAGE_JS, { mode: 0o644 });
  fs.writeFileSync(path.join(root, 'stale.js.br'), PAGE_BR, { mode: 0o644 });
  const past = new Date(Date.now() - 3600 * 1000);
  fs.utimesSync(path.join(root, 'stale.js.br'), past, past);
  fs.writeFileSync(path.join(root, 'leak.js'), PAGE_JS, { mode: 0o644 });
  fs.writeFileSync(path.join(outside, 'leak.js.br'), SECRET, { mode: 0o644 });
  fs.symlinkSync(path.join(outside, 'leak.js.br'), path.join(root, 'leak.js.br'));
  fs.writeFileSync(path.join(root, 'data-idx.gz'), PAGE_GZ, { mode: 0o644 });
});

after(async () => {
  await stopServer();
  for (const p of [path.join(root, 'locked-dir'), path.join(root, 'locked.txt')]) {
    try { fs.chmodSync(p, 0o755); } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

async function startServer() {
  const opts = { stdio: ['ignore', 'pipe', 'pipe'] };
  if (asRoot) Object.assign(opts, { uid: 65534, gid: 65534 });
  const child = spawn(process.execPath, [SERVE, '--dir', root, '--port', '0'], opts);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stdout} ${stderr}`)), 5000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr}`));
    });
  });
  server = { child, port, exited, get stderr() { return stderr; } };
}

async function stopServer() {
  if (!server) return;
  const { child, exited } = server;
  server = null;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}

// A fresh server if the previous case killed it, so each case is judged on its own.
async function ensureServer() {
  if (server && server.child.exitCode === null && server.child.signalCode === null) return;
  await stopServer();
  await startServer();
}

// Sends `raw` bytes (a string or a Buffer), returns { status, head, body, text } once the server closes the connection
// (or after `timeoutMs`). `closeAfter`: 'send' closes right after writing, 'first-byte' on the
// first bytes of the response; either returns { status: null } without waiting for more.
function rawRequest(raw, { closeAfter = null, timeoutMs = 3000, port = server.port } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    const sock = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      const text = buf.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
      const sep = text.indexOf('\r\n\r\n');
      resolve({
        status: m ? Number(m[1]) : null,
        head: sep >= 0 ? text.slice(0, sep) : text,
        body: sep >= 0 ? buf.subarray(sep + 4) : Buffer.alloc(0),
        text,
        error: error ? error.code || error.message : null,
      });
    };
    const timer = setTimeout(() => finish(new Error('timeout')), timeoutMs);
    sock.on('connect', () => {
      sock.write(raw);
      if (closeAfter === 'send') finish();
    });
    sock.on('data', (d) => {
      chunks.push(d);
      if (closeAfter === 'first-byte') finish();
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish());
  });
}

const get = (target, method = 'GET', headers = {}) =>
  `${method} ${target} HTTP/1.1\r\n${Object.entries({ Host: '127.0.0.1', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`;

/** The value of response header `name` in a raw response head (lower-cased name), or undefined. */
function header(r, name) {
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(r.head);
  return m ? m[1] : undefined;
}

// After a request went unanswered: give a crashing server time to exit, so that the next case
// starts a fresh one instead of being blamed for this one.
async function settle() {
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 1000))]);
}

// The server is alive and still serves the page.
async function assertAlive(label) {
  const r = await rawRequest(get('/'));
  if (r.status !== 200) await settle();
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  if (!alive || r.status !== 200) {
    crashes.push(label);
    assert.fail(`server died or stopped serving after ${label}: GET / -> ${r.status ?? r.error}; ` +
      `exit ${server.child.exitCode ?? server.child.signalCode}; stderr:\n${server.stderr.slice(-2000)}`);
  }
  assert.ok(r.body.toString().includes('INDEX-OK'));
}

function hostile(name, raw, allowed) {
  test(`hostile: ${name}`, async () => {
    await ensureServer();
    const r = await rawRequest(typeof raw === 'function' ? raw() : raw);
    responses.push(r.text);
    if (r.status === null) await settle();
    assert.ok(!r.text.includes(SECRET), `${name}: the secret leaked:\n${r.text.slice(0, 500)}`);
    assert.ok(!r.text.includes('root:x:0:0'), `${name}: /etc/passwd leaked`);
    assert.ok(r.status !== null, `${name}: no HTTP response (${r.error ?? 'connection closed'}); ` +
      `server exit ${server.child.exitCode ?? server.child.signalCode}; stderr:\n${server.stderr.slice(-1500)}`);
    assert.ok(allowed.includes(r.status), `${name}: status ${r.status}, expected one of ${allowed}`);
    await assertAlive(name);
  });
}

const NOT_SERVED = [400, 403, 404];

// Legitimate requests keep working, with the same headers as before.
test('normal requests: files, index.html for folders, in-root symlinks, HEAD', async () => {
  await ensureServer();
  const idx = await rawRequest(get('/'));
  assert.equal(idx.status, 200);
  assert.equal(idx.body.toString(), INDEX);
  assert.match(idx.head, /\r\ncontent-type: text\/html; charset=utf-8/i);
  assert.match(idx.head, /\r\ncache-control: no-cache/i);
  assert.match(idx.head, /\r\nx-content-type-options: nosniff/i);
  assert.match(idx.head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(INDEX)}\\r`, 'i'));

  const hello = await rawRequest(get('/hello.txt'));
  assert.equal(hello.status, 200);
  assert.equal(hello.body.toString(), HELLO);
  assert.match(hello.head, /\r\ncontent-type: text\/plain; charset=utf-8/i);

  const sub = await rawRequest(get('/sub/'));
  assert.equal(sub.status, 200);
  assert.equal(sub.body.toString(), 'SUB-INDEX');
  assert.equal((await rawRequest(get('/sub'))).status, 200);

  const link = await rawRequest(get('/inlink.txt'));
  assert.equal(link.status, 200);
  assert.equal(link.body.toString(), HELLO);

  const head = await rawRequest(get('/hello.txt', 'HEAD'));
  assert.equal(head.status, 200);
  assert.match(head.head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(HELLO)}\\r`, 'i'));
  assert.equal(head.body.length, 0);

  const post = await rawRequest(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  assert.equal(post.status, 405);
  assert.match(post.head, /\r\nallow: GET, HEAD/i);

  const missing = await rawRequest(get('/nope.txt'));
  assert.equal(missing.status, 404);
});

// Malformed URLs and NUL bytes.
hostile('/%00', get('/%00'), [400, 403, 404]);
hostile('/hello.txt%00.html', get('/hello.txt%00.html'), [400, 403, 404]);
hostile('/%', get('/%'), [400]);
hostile('/%E0%A4%A', get('/%E0%A4%A'), [400]);
hostile('/%zz', get('/%zz'), [400]);
// Escapes from the root.
hostile('/..%2f..%2fetc/passwd', get('/..%2f..%2fetc/passwd'), NOT_SERVED);
hostile('/../../etc/passwd', get('/../../etc/passwd'), NOT_SERVED);
hostile('/%2e%2e/%2e%2e/etc/passwd', get('/%2e%2e/%2e%2e/etc/passwd'), NOT_SERVED);
hostile('/%2e%2e%2f%2e%2e%2fetc%2fpasswd', get('/%2e%2e%2f%2e%2e%2fetc%2fpasswd'), NOT_SERVED);
hostile('/\\..\\..\\etc\\passwd', get('/\\..\\..\\etc\\passwd'), NOT_SERVED);
hostile('/%5c..%5c..%5cetc%5cpasswd', get('/%5c..%5c..%5cetc%5cpasswd'), NOT_SERVED);
hostile('/%2fetc%2fpasswd (absolute after decoding)', get('/%2fetc%2fpasswd'), NOT_SERVED);
hostile('//etc/passwd', get('//etc/passwd'), NOT_SERVED);
hostile('absolute-form http://x/../../etc/passwd', get('http://x/../../etc/passwd'), NOT_SERVED);
hostile('secret by ../ through the outside folder name',
  () => get(`/..%2f${path.basename(outside)}%2fsecret.txt`), NOT_SERVED);
// Long paths: one long name (ENAMETOOLONG) and a request line past Node's header limit.
hostile('a 5000-character file name', get('/' + 'a'.repeat(5000)), [400, 404, 414]);
hostile('a 2000-level deep path', get('/' + 'a/'.repeat(2000)), [400, 404, 414]);
hostile('a 100 KB request line', get('/' + 'b'.repeat(100 * 1024)), [400, 414, 431]);
// Symlinks out of the root, dangling and unreadable things.
hostile('symlink to a file outside the root', get('/out.txt'), [403, 404]);
hostile('symlink to a folder outside the root', get('/outdir/secret.txt'), [403, 404]);
hostile('symlink to a folder outside the root, listed', get('/outdir/'), [403, 404]);
hostile('dangling symlink', get('/dangling.txt'), [403, 404]);
hostile('a mode-000 file', get('/locked.txt'), [403, 404, 500]);
hostile('a file in a mode-000 folder', get('/locked-dir/inner.txt'), [403, 404, 500]);
hostile('a mode-000 folder', get('/locked-dir/'), [403, 404, 500]);
hostile('a directory named like a file', get('/dir-named.txt'), [403, 404]);
hostile('a FIFO', get('/fifo.txt'), [403, 404]);
hostile('HEAD of a mode-000 file', get('/locked.txt', 'HEAD'), [403, 404, 500]);
// Odd methods and garbage.
hostile('OPTIONS *', get('*', 'OPTIONS'), [400, 405]);
hostile('DELETE /index.html', get('/index.html', 'DELETE'), [405]);
hostile('a garbage request line', 'GARBAGE\r\n\r\n', [400]);
hostile('binary garbage', Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]), [400]);
hostile('a control byte in the path', 'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n', [400]);

test('a client that disconnects mid-response does not take the server down', async () => {
  await ensureServer();
  for (let i = 0; i < 5; i++) {
    await rawRequest(get('/big.bin'), { closeAfter: 'send' });
    await rawRequest(get('/big.bin'), { closeAfter: 'first-byte' });
  }
  // Give the server a moment to notice the resets.
  await new Promise((r) => setTimeout(r, 200));
  await assertAlive('clients disconnecting from /big.bin');
  // …and it let go of the files (Linux: count the server's open descriptors).
  const fdDir = `/proc/${server.child.pid}/fd`;
  if (fs.existsSync(fdDir)) {
    const open = fs.readdirSync(fdDir).map((fd) => {
      try { return fs.readlinkSync(path.join(fdDir, fd)); } catch { return ''; }
    });
    assert.deepEqual(open.filter((l) => l.endsWith('big.bin')), [], 'big.bin left open');
  }
  const full = await rawRequest(get('/big.bin'));
  assert.equal(full.status, 200);
  assert.equal(full.body.length, BIG);
});

// A read that fails before the first byte (here: the handle of a folder passing for a file, as if
// the file had been swapped for one) is an error response, not a crash. In-process, with
// fs.promises.open wrapped, since no real file fails like that for root.
test('a read error is answered with a 500 and the server carries on (fault injected)', async (t) => {
  const { startServer: startInProcess } = await import('../../scripts/serve.mjs');
  const realOpen = fs.promises.open;
  t.after(() => { fs.promises.open = realOpen; });
  fs.promises.open = async (p, ...rest) => {
    if (path.basename(String(p)) !== 'hello.txt') return realOpen(p, ...rest);
    const fh = await realOpen(path.join(root, 'sub'), ...rest);
    const st = await fh.stat();
    fh.stat = async () => Object.assign(st, { size: 10, isFile: () => true, isDirectory: () => false });
    return fh;
  };
  const { server: inProcess, port } = await startInProcess({ dir: root, port: 0, quiet: true });
  t.after(() => { inProcess.closeAllConnections(); inProcess.close(); });
  const r = await rawRequest(get('/hello.txt'), { port });
  assert.equal(r.status, 500, r.text);
  const idx = await rawRequest(get('/'), { port });
  assert.equal(idx.status, 200);
});

test('chooseEncoding: q-values, *, identity, ties to the server’s order', async () => {
  const { chooseEncoding } = await import('../../scripts/serve.mjs');
  const all = ['br', 'gzip', 'identity'];
  const cases = [
    [undefined, 'identity'], // no header: the file as it is
    ['', 'identity'], // an empty header: identity only
    ['gzip, deflate', 'gzip'],
    ['gzip, deflate, br, zstd', 'br'], // Chromium's header: equal q, the server prefers br
    ['BR', 'br'],
    ['x-gzip', 'gzip'],
    ['gzip;q=1.0, br;q=0.9', 'gzip'],
    ['gzip;q=0.5, br;q=0.8', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['*', 'br'],
    ['*;q=0.5, gzip', 'gzip'],
    ['br;q=0, *', 'gzip'],
    ['identity', 'identity'],
    ['identity;q=1, br;q=0.5', 'identity'],
    ['identity;q=0, gzip;q=0.1', 'gzip'],
    ['*;q=0', null], // nothing acceptable
    ['identity;q=0', null],
    ['*;q=0, identity', 'identity'],
    ['deflate, compress', 'identity'],
    ['br;q=2', 'identity'], // a malformed q-value: that member is ignored
    ['br;q=0.0001', 'identity'],
    ['br;q=0.001', 'br'],
    [' br ; q = 0.7 , gzip;q=0.6', 'br'],
    ['gzip;q=0.8, gzip;q=0', 'gzip'], // the first mention counts
  ];
  for (const [h, want] of cases) assert.equal(chooseEncoding(h, all), want, `Accept-Encoding: ${JSON.stringify(h)}`);
  // Only the codings on hand compete.
  assert.equal(chooseEncoding('br', ['gzip', 'identity']), 'identity');
  assert.equal(chooseEncoding('br, gzip;q=0.5', ['gzip', 'identity']), 'gzip');
  assert.equal(chooseEncoding('br', ['identity']), 'identity');
  assert.equal(chooseEncoding('br;q=1, identity;q=0', ['identity']), null);
});

test('precompressed siblings: Content-Encoding by Accept-Encoding, Vary, Content-Length, HEAD', async () => {
  await ensureServer();
  const cases = [
    [null, null, PAGE_JS.length],
    ['gzip, deflate, br, zstd', 'br', PAGE_BR.length],
    ['gzip, deflate', 'gzip', PAGE_GZ.length],
    ['br;q=0.5, gzip', 'gzip', PAGE_GZ.length],
    ['identity', null, PAGE_JS.length],
    ['deflate', null, PAGE_JS.length],
    ['*', 'br', PAGE_BR.length],
    ['br;q=0, gzip;q=0', null, PAGE_JS.length],
  ];
  for (const [accept, coding, size] of cases) {
    const headers = accept === null ? {} : { 'Accept-Encoding': accept };
    const label = `GET /page.js, Accept-Encoding: ${accept}`;
    const r = await rawRequest(get('/page.js', 'GET', headers));
    assert.equal(r.status, 200, label);
    assert.equal(header(r, 'content-encoding'), coding ?? undefined, label);
    assert.equal(header(r, 'vary'), 'Accept-Encoding', label);
    assert.equal(header(r, 'content-type'), 'text/javascript; charset=utf-8', `${label}: the type of the file, not of its coding`);
    assert.equal(Number(header(r, 'content-length')), size, label);
    assert.equal(r.body.length, size, label);
    const decoded = { br: zlib.brotliDecompressSync, gzip: zlib.gunzipSync }[coding]?.(r.body) ?? r.body;
    assert.equal(decoded.toString(), PAGE_JS, `${label}: the body decodes to the file`);
    const head = await rawRequest(get('/page.js', 'HEAD', headers));
    assert.equal(head.status, 200, `HEAD ${label}`);
    assert.equal(header(head, 'content-encoding'), coding ?? undefined, `HEAD ${label}`);
    assert.equal(Number(header(head, 'content-length')), size, `HEAD ${label}`);
    assert.equal(head.body.length, 0, `HEAD ${label}`);
  }
  // Only a .gz beside it: br is not on hand, gzip is.
  const gzOnly = await rawRequest(get('/gz-only.css', 'GET', { 'Accept-Encoding': 'br' }));
  assert.equal(header(gzOnly, 'content-encoding'), undefined);
  assert.equal(gzOnly.body.toString(), PAGE_JS);
  const gzOnly2 = await rawRequest(get('/gz-only.css', 'GET', { 'Accept-Encoding': 'br, gzip' }));
  assert.equal(header(gzOnly2, 'content-encoding'), 'gzip');
  assert.equal(zlib.gunzipSync(gzOnly2.body).toString(), PAGE_JS);
  // A stale .br (older than its file: a rebuild changed the file) is not sent.
  const stale = await rawRequest(get('/stale.js', 'GET', { 'Accept-Encoding': 'br' }));
  assert.equal(stale.status, 200);
  assert.equal(header(stale, 'content-encoding'), undefined);
  assert.equal(stale.body.toString(), PAGE_JS);
  // A .br that is a symlink out of the root is not followed.
  const leak = await rawRequest(get('/leak.js', 'GET', { 'Accept-Encoding': 'br' }));
  assert.equal(leak.status, 200);
  assert.equal(header(leak, 'content-encoding'), undefined);
  assert.ok(!leak.text.includes(SECRET));
  // Nothing acceptable: 406, still with Vary.
  const none = await rawRequest(get('/hello.txt', 'GET', { 'Accept-Encoding': 'br, identity;q=0' }));
  assert.equal(none.status, 406);
  assert.equal(header(none, 'vary'), 'Accept-Encoding');
  const none2 = await rawRequest(get('/page.js', 'GET', { 'Accept-Encoding': '*;q=0' }));
  assert.equal(none2.status, 406);
  // The index of a folder negotiates too (no siblings here: the file as it is).
  const idx = await rawRequest(get('/', 'GET', { 'Accept-Encoding': 'br' }));
  assert.equal(idx.body.toString(), INDEX);
  assert.equal(header(idx, 'vary'), 'Accept-Encoding');
  // Data that is gzip already is sent as raw bytes, never with Content-Encoding (the wasm
  // un-gzips the IDX files itself), and does not vary.
  const data = await rawRequest(get('/data-idx.gz', 'GET', { 'Accept-Encoding': 'gzip, br' }));
  assert.equal(data.status, 200);
  assert.equal(header(data, 'content-encoding'), undefined);
  assert.equal(header(data, 'vary'), undefined);
  assert.equal(header(data, 'content-type'), 'application/gzip');
  assert.deepEqual(data.body, PAGE_GZ);
  // The siblings themselves can still be fetched by name, as they are.
  const br = await rawRequest(get('/page.js.br', 'GET', { 'Accept-Encoding': 'br' }));
  assert.equal(br.status, 200);
  assert.equal(header(br, 'content-encoding'), undefined);
  assert.deepEqual(br.body, PAGE_BR);
});

test('Host: loopback names and the served address are answered, any other name is refused', async () => {
  await ensureServer();
  const { port } = server;
  for (const host of ['127.0.0.1', `127.0.0.1:${port}`, 'localhost', `LOCALHOST:${port}`, '[::1]', `[::1]:${port}`]) {
    const r = await rawRequest(get('/hello.txt', 'GET', { Host: host }));
    assert.equal(r.status, 200, `Host: ${host}`);
    assert.equal(r.body.toString(), HELLO);
  }
  // DNS rebinding: a page of another site whose name now resolves to 127.0.0.1.
  for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', '[::2]', '']) {
    const r = await rawRequest(get('/hello.txt', 'GET', { Host: host }));
    assert.equal(r.status, 403, `Host: ${JSON.stringify(host)}`);
    assert.ok(!r.body.toString().includes(HELLO.trim()), `Host: ${host}: no content`);
    const head = await rawRequest(get('/hello.txt', 'HEAD', { Host: host }));
    assert.equal(head.status, 403, `HEAD, Host: ${JSON.stringify(host)}`);
  }
  // An absolute-form target names its own authority, which counts as the host.
  assert.equal((await rawRequest(get('http://evil.example/hello.txt'))).status, 403);
  const abs = await rawRequest(get(`http://127.0.0.1:${port}/hello.txt`));
  assert.equal(abs.status, 200);
  assert.equal(abs.body.toString(), HELLO);
  // HTTP/1.0 without a Host header (nothing to check) is served.
  const old = await rawRequest('GET /hello.txt HTTP/1.0\r\n\r\n');
  assert.equal(old.status, 200);
  await assertAlive('foreign Host headers');
});

test('a Host check for a wildcard listen address allows this machine’s own addresses', async () => {
  const { allowedHostNames } = await import('../../scripts/serve.mjs');
  const local = allowedHostNames('127.0.0.1');
  assert.deepEqual([...local].sort(), ['127.0.0.1', '[::1]', 'localhost']);
  assert.ok(allowedHostNames('denoise.test').has('denoise.test'));
  assert.ok(allowedHostNames('::1').has('[::1]'));
  const any = allowedHostNames('0.0.0.0');
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') assert.ok(any.has(a.address), a.address);
  }
  assert.ok(!any.has('evil.example'));
});

test('targets starting with // are refused with 400', async () => {
  await ensureServer();
  for (const target of ['//etc/passwd', '//evil.example/', '//127.0.0.1/hello.txt', '///hello.txt']) {
    const r = await rawRequest(get(target));
    assert.equal(r.status, 400, target);
  }
  // A single slash still works.
  assert.equal((await rawRequest(get('/hello.txt'))).status, 200);
});

test('every response carries the Content-Security-Policy: own origin, wasm compilation', async () => {
  await ensureServer();
  const { CONTENT_SECURITY_POLICY } = await import('../../scripts/serve.mjs');
  const directives = new Map(CONTENT_SECURITY_POLICY.split(';').map((d) => {
    const [name, ...values] = d.trim().split(/\s+/);
    return [name, values];
  }));
  assert.deepEqual(directives.get('default-src'), ["'self'"]);
  // index.html's `onsubmit="return false"` by its hash, no other inline script.
  assert.deepEqual(directives.get('script-src'), ["'self'", "'wasm-unsafe-eval'", "'unsafe-hashes'", "'sha256-GZIcz60Uwd6wT3vaYke/atSr53TehbYAPepOa3d03Vw='"]);
  for (const values of directives.values()) {
    for (const v of values) assert.ok(!/^\*|^https?:|'unsafe-eval'/.test(v), `no foreign source, no eval: ${v}`);
  }
  for (const target of ['/', '/page.js', '/hello.txt', '/nope.txt']) {
    const r = await rawRequest(get(target, 'GET', { 'Accept-Encoding': 'br' }));
    assert.equal(header(r, 'content-security-policy'), CONTENT_SECURITY_POLICY, target);
  }
});

test('csp: false leaves the policy out (the peers’ benchmark pages have inline scripts)', async (t) => {
  const { startServer: startInProcess } = await import('../../scripts/serve.mjs');
  const { server: inProcess, port } = await startInProcess({ dir: root, port: 0, quiet: true, csp: false });
  t.after(() => { inProcess.closeAllConnections(); inProcess.close(); });
  for (const target of ['/', '/nope.txt']) {
    const r = await rawRequest(get(target), { port });
    assert.equal(header(r, 'content-security-policy'), undefined, target);
  }
});

test('after every hostile request: no crash, no leak, GET / still 200', async () => {
  await ensureServer();
  await assertAlive('all of the above');
  for (const text of responses) assert.ok(!text.includes(SECRET));
  assert.deepEqual(crashes, [], `the server crashed after: ${crashes.join(', ')}`);
});
