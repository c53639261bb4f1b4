#!/usr/bin/env node
// A dependency-free static server for the built page (dist/).
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--dir dist]
//
// WebGPU needs a secure context: http://127.0.0.1 and http://localhost count as secure, so
// the page works from this server without TLS. `.gz` files are served as raw bytes WITHOUT a
// Content-Encoding header: the wasm un-gzips the IDX files itself.
//
// Precompressed files: for a request of `F`, a regular file `F.br` or `F.gz` beside it (written by
// scripts/build-web.sh) is sent instead, with `Content-Encoding: br` or `gzip`, when the request's
// Accept-Encoding accepts that coding (q-values, `*` and `identity` as RFC 9110 section 12.5.3
// says) and the compressed file is not older than `F`; otherwise `F` itself. Every such response
// carries `Vary: Accept-Encoding`. A request that refuses `identity` and accepts no coding on hand
// gets 406.
//
// Against DNS rebinding and open-redirect tricks: a Host header other than 127.0.0.1, localhost,
// [::1] or the host the server listens on (with any port) is refused with 403, and so is a request
// target that starts with `//` (400). Every response carries a Content-Security-Policy that allows
// the page's own origin only, plus 'wasm-unsafe-eval' (compiling the wasm), index.html's one
// inline event handler (by its hash), inline style attributes (the page's colour swatches) and
// data: images (the empty favicon).
//
// Only GET and HEAD, only regular files whose real path is inside the folder (a symlink out of it
// is refused); malformed URLs, NUL bytes and escapes from the folder are 4xx; an unreadable file
// is a 403/404/500, never a crash (tests/node/serve.test.mjs sends the hostile requests).
//
// Also importable (the browser tests and the benchmark start it on a free port):
//   import { startServer } from './scripts/serve.mjs';
//   const { server, port, url } = await startServer({ dir, port: 0 });
// (`csp: false` leaves the Content-Security-Policy out: bench/peer-page.mjs serves the peers'
// benchmark pages, which have inline scripts.)

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gz': 'application/gzip',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

// Codings the server has precompressed files for, most preferred first: the file name suffix and
// the Content-Encoding token.
export const CODINGS = [
  { name: 'br', suffix: '.br' },
  { name: 'gzip', suffix: '.gz' },
];

// The one inline event handler of index.html (the settings form's `onsubmit="return false"`),
// allowed by its hash and nothing else like it.
const INLINE_HANDLERS = ['return false'];

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  `script-src 'self' 'wasm-unsafe-eval' 'unsafe-hashes' ${INLINE_HANDLERS.map((h) => `'sha256-${crypto.createHash('sha256').update(h).digest('base64')}'`).join(' ')}`,
  "style-src 'self'",
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

/**
 * The Accept-Encoding header as a map from coding (lower case; `x-gzip` counts as `gzip`) to its
 * q-value. `undefined` (no header) gives null: the client accepts anything, and this server then
 * sends the file as it is. A malformed member (a bad q-value) is skipped.
 */
export function parseAcceptEncoding(header) {
  if (header === undefined || header === null) return null;
  const q = new Map();
  for (const member of String(header).split(',')) {
    const [token, ...params] = member.split(';').map((p) => p.trim());
    if (!token) continue;
    let weight = 1;
    let ok = true;
    for (const param of params) {
      const m = /^q\s*=\s*(\S*)$/i.exec(param);
      if (!m) continue;
      // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
      if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(m[1])) ok = false;
      else weight = Number(m[1]);
    }
    if (!ok) continue;
    const name = token.toLowerCase() === 'x-gzip' ? 'gzip' : token.toLowerCase();
    // The same coding twice: the first one counts.
    if (!q.has(name)) q.set(name, weight);
  }
  return q;
}

/**
 * Which of `available` codings (names from CODINGS, or 'identity' for the file as it is) to send
 * for an Accept-Encoding header: the one with the highest q-value, ties going to the earlier in
 * `available` (so list the preferred first). Returns null when none is acceptable (every coding
 * on hand has q=0, `identity` included).
 */
export function chooseEncoding(header, available) {
  const q = parseAcceptEncoding(header);
  const weight = (name) => {
    // No header: the file as it is (anything is acceptable, but a client that says nothing may not
    // decode brotli).
    if (q === null) return name === 'identity' ? 1 : 0;
    if (q.has(name)) return q.get(name);
    if (q.has('*')) return q.get('*');
    // `identity` is acceptable unless refused by name or by `*`; other codings must be named.
    return name === 'identity' ? 1e-3 : 0;
  };
  let best = null;
  let bestWeight = 0;
  for (const name of available) {
    const w = weight(name);
    if (w > bestWeight) {
      best = name;
      bestWeight = w;
    }
  }
  return best;
}

/** The host name of a Host header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower case. */
function hostName(value) {
  const v = String(value).trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end < 0 ? null : v.slice(0, end + 1);
  }
  const colon = v.indexOf(':');
  return colon < 0 ? v : v.slice(0, colon);
}

/**
 * The host names this server answers to: the loopback names, the configured host and, when that
 * is a wildcard address (0.0.0.0, ::), the addresses of this machine's interfaces.
 */
export function allowedHostNames(host) {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  const add = (h) => names.add(h.includes(':') && !h.startsWith('[') ? `[${h.toLowerCase()}]` : h.toLowerCase());
  add(host);
  if (host === '0.0.0.0' || host === '::' || host === '[::]') {
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) add(a.address.replace(/%.*$/, ''));
    }
    add(os.hostname());
  }
  return names;
}

function mimeFor(file) {
  const ext = path.extname(file).toLowerCase();
  if (MIME[ext]) return MIME[ext];
  // IDX files without an extension (…-idx3-ubyte): raw bytes.
  return 'application/octet-stream';
}

// An error that becomes a response: 400 malformed, 403 refused, 404 missing, 500 anything else.
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function statusForFsError(err) {
  switch (err && err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return 404;
    case 'EACCES':
    case 'EPERM':
      return 403;
    default:
      return 500;
  }
}

// Whether `real` (a real path) is `realRoot` or inside it.
function isInside(realRoot, real) {
  const rel = path.relative(realRoot, real);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

// Opens `candidate` if its real path (symlinks resolved) is inside `realRoot` and it is a regular
// file; a folder gives its index.html. Returns the handle, its stats and the name the content type
// goes by (the requested one, as before: an in-root symlink keeps its link's extension). It opens
// first (O_NONBLOCK, so a FIFO does not block) and checks the open descriptor, so a file swapped
// or removed between the check and the read cannot slip through.
async function openInside(realRoot, candidate, depth = 0) {
  let real;
  try {
    real = await fs.promises.realpath(candidate);
  } catch (err) {
    throw new HttpError(statusForFsError(err), err.code);
  }
  if (!isInside(realRoot, real)) throw new HttpError(403, 'outside the served folder');
  let fh;
  try {
    fh = await fs.promises.open(real, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0));
  } catch (err) {
    throw new HttpError(statusForFsError(err), err.code);
  }
  let st;
  try {
    st = await fh.stat();
  } catch (err) {
    await fh.close().catch(() => {});
    throw new HttpError(statusForFsError(err), err.code);
  }
  if (st.isFile()) return { fh, st, name: candidate };
  await fh.close().catch(() => {});
  if (st.isDirectory() && depth === 0) return openInside(realRoot, path.join(real, 'index.html'), 1);
  throw new HttpError(404, 'not a file');
}

export function startServer({ dir, port = 8080, host = '127.0.0.1', quiet = false, csp = true } = {}) {
  const root = path.resolve(dir);
  const hosts = allowedHostNames(host);
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    throw new Error(`${root}/index.html not found: run \`bash scripts/build-web.sh\` first`);
  }
  // A path for the log and the 404 body: control characters (a NUL, an escape) escaped.
  const printable = (p) => JSON.stringify(String(p)).slice(1, -1);

  function sendError(res, status, pathname, headers = {}) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const body = {
      400: 'bad request',
      403: 'forbidden',
      406: 'not acceptable: this file is available as it is, as br and as gzip only',
      404: `not found: ${printable(pathname ?? '')}`,
      500: 'internal error',
    }[status] ?? String(status);
    if (!quiet && status !== 400) console.log(`${status} ${printable(pathname ?? '')}`);
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...(csp ? { 'Content-Security-Policy': CONTENT_SECURITY_POLICY } : {}),
      ...headers,
    });
    res.end(body);
  }

  // The precompressed sibling `name + suffix`, open, if it is a regular file inside the root that
  // is not older than the file itself (a stale one, left by an earlier build, is not sent).
  async function openSibling(realRoot, name, st, suffix) {
    let sibling;
    try {
      sibling = await openInside(realRoot, name + suffix, 1);
    } catch (err) {
      if (err instanceof HttpError) return null;
      throw err;
    }
    if (sibling.st.mtimeMs < st.mtimeMs) {
      await sibling.fh.close().catch(() => {});
      return null;
    }
    return sibling;
  }

  async function handle(req, res) {
    // `//evil.example/x` is a network-path reference: refused before anything reads it as a path.
    if (req.url.startsWith('//')) {
      sendError(res, 400);
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      sendError(res, 400);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    // A page on another site whose name resolves to this machine (DNS rebinding) sends its own
    // name as Host; so does an absolute-form target. HTTP/1.0 may send no Host at all.
    const authorities = [req.headers.host];
    if (!req.url.startsWith('/')) {
      try {
        authorities.push(new URL(req.url).host);
      } catch {
        // Not absolute-form either ('*'): answered below as a missing file.
      }
    }
    if (authorities.some((a) => a !== undefined && !hosts.has(hostName(a)))) {
      sendError(res, 403, pathname);
      return;
    }
    // The URL parser already resolved `.`/`..` and `\`; what is left after decoding (%00, %5c,
    // %2f..%2f) is refused outright, before the file system sees it.
    if (pathname.includes('\0') || pathname.includes('\\')) {
      sendError(res, 400, pathname);
      return;
    }
    const parts = pathname.split('/').filter(Boolean);
    if (parts.includes('..')) {
      sendError(res, 403, pathname);
      return;
    }
    const candidate = path.join(root, ...parts);
    if (candidate !== root && !candidate.startsWith(root + path.sep)) {
      sendError(res, 403, pathname);
      return;
    }
    let realRoot;
    let opened;
    try {
      realRoot = await fs.promises.realpath(root);
      opened = await openInside(realRoot, candidate);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendError(res, err.status, pathname);
      return;
    }
    const { name } = opened;
    let { fh, st } = opened;
    let coding = null;
    // Files that are compressed already (the bundled IDX data, a .br) are sent as they are.
    const ext = path.extname(name).toLowerCase();
    if (ext !== '.gz' && ext !== '.br') {
      res.setHeader('Vary', 'Accept-Encoding');
      const siblings = new Map();
      try {
        for (const { name: c, suffix } of CODINGS) {
          const sibling = await openSibling(realRoot, name, st, suffix);
          if (sibling) siblings.set(c, sibling);
        }
      } catch (err) {
        for (const s of siblings.values()) await s.fh.close().catch(() => {});
        await fh.close().catch(() => {});
        throw err;
      }
      const choice = chooseEncoding(req.headers['accept-encoding'], [...siblings.keys(), 'identity']);
      for (const [c, s] of siblings) if (c !== choice) await s.fh.close().catch(() => {});
      if (choice === null) {
        await fh.close().catch(() => {});
        sendError(res, 406, pathname, { Vary: 'Accept-Encoding' });
        return;
      }
      if (choice !== 'identity') {
        await fh.close().catch(() => {});
        ({ fh, st } = siblings.get(choice));
        coding = choice;
      }
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', mimeFor(name));
    if (coding) res.setHeader('Content-Encoding', coding);
    res.setHeader('Content-Length', st.size);
    if (csp) res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    // A development server: always revalidate so a rebuild is picked up on reload.
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (req.method === 'HEAD' || st.size === 0 || res.destroyed) {
      await fh.close().catch(() => {});
      res.end();
      return;
    }
    // Exactly the size announced, even if the file grows meanwhile; the stream closes the file.
    const stream = fh.createReadStream({ start: 0, end: st.size - 1 });
    stream.on('error', (err) => {
      // Before the first byte: a proper error response; after it, cut the connection (the
      // client sees a short body against Content-Length, not a silently truncated file).
      if (!quiet) console.error(`read error on ${printable(pathname)}: ${err.message}`);
      stream.unpipe(res);
      sendError(res, statusForFsError(err), pathname);
    });
    // The client went away mid-response: stop reading and release the file.
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  const server = http.createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res).catch((err) => {
      if (!quiet) console.error(`serve.mjs: ${req.method} ${printable(req.url)}: ${err && err.stack}`);
      try {
        sendError(res, 500);
      } catch {
        res.destroy();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // Once listening, an accept error (EMFILE…) is logged instead of ending the process.
      server.on('error', (err) => console.error(`serve.mjs: ${err.message}`));
      const actual = server.address().port;
      resolve({ server, port: actual, url: `http://${host}:${actual}/` });
    });
  });
}

function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const opts = { port: 8080, host: '127.0.0.1', dir: path.join(here, '..', 'dist') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a.startsWith('--port')) opts.port = Number(val());
    else if (a.startsWith('--host')) opts.host = val();
    else if (a.startsWith('--dir')) opts.dir = val();
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--dir dist]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`--port must be an integer 0..65535`);
  }
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const { url } = await startServer(opts);
    console.log(`denoise-lab: serving ${path.resolve(opts.dir)} at ${url}`);
    console.log('open it in a browser with WebGPU (Chrome/Edge 113+, Firefox 141+, Safari 26+); Ctrl-C to stop');
  } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  }
}
