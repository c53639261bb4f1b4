#!/usr/bin/env node
// A dependency-free static server for the built page (dist/).
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--dir dist]
//
// WebGPU needs a secure context: http://127.0.0.1 and http://localhost count as secure, so
// the page works from this server without TLS. `.gz` files are served as raw bytes WITHOUT a
// Content-Encoding header: the wasm un-gzips the IDX files itself.
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

export function startServer({ dir, port = 8080, host = '127.0.0.1', quiet = false } = {}) {
  const root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    throw new Error(`${root}/index.html not found: run \`bash scripts/build-web.sh\` first`);
  }
  const server = http.createServer((req, res) => {
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let file = path.normalize(path.join(root, pathname));
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, 'index.html');
        st = fs.existsSync(file) ? fs.statSync(file) : null;
      }
      if (err || !st || !st.isFile()) {
        if (!quiet) console.log(`404 ${pathname}`);
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${pathname}`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': mimeFor(file),
        'Content-Length': st.size,
        // A development server: always revalidate so a rebuild is picked up on reload.
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
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
