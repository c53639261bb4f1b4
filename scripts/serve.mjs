#!/usr/bin/env node
// A dependency-free static server for the built page (dist/).
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--dir dist]
//
// WebGPU needs a secure context: http://127.0.0.1 and http://localhost count as secure, so
// the page works from this server without TLS. `.gz` files are served as raw bytes WITHOUT a
// Content-Encoding header: the wasm un-gzips the IDX files itself.
//
// Only GET and HEAD, only regular files whose real path is inside the folder (a symlink out of it
// is refused); malformed URLs, NUL bytes and escapes from the folder are 4xx; an unreadable file
// is a 403/404/500, never a crash (tests/node/serve.test.mjs sends the hostile requests).
//
// Also importable (the browser tests and the benchmark start it on a free port):
//   import { startServer } from './scripts/serve.mjs';
//   const { server, port, url } = await startServer({ dir, port: 0 });

import http from 'node:http';
import fs from 'node:fs';
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

export function startServer({ dir, port = 8080, host = '127.0.0.1', quiet = false } = {}) {
  const root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    throw new Error(`${root}/index.html not found: run \`bash scripts/build-web.sh\` first`);
  }
  // A path for the log and the 404 body: control characters (a NUL, an escape) escaped.
  const printable = (p) => JSON.stringify(String(p)).slice(1, -1);

  function sendError(res, status, pathname) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const body = {
      400: 'bad request',
      403: 'forbidden',
      404: `not found: ${printable(pathname ?? '')}`,
      500: 'internal error',
    }[status] ?? String(status);
    if (!quiet && status !== 400) console.log(`${status} ${printable(pathname ?? '')}`);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  async function handle(req, res) {
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
    const { fh, st, name } = opened;
    res.statusCode = 200;
    res.setHeader('Content-Type', mimeFor(name));
    res.setHeader('Content-Length', st.size);
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
