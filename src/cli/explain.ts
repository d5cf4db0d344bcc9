/**
 * `stacked-rnn explain [--port P] [--no-open]`: serves the explainer page on 127.0.0.1 and prints its address.
 *
 * The page is static (built from web/ into dist/web/ by Vite) and runs the library in the browser, so the
 * server only hands out files: GET and HEAD, inside the page's folder, to a Host of 127.0.0.1 or localhost
 * (a page on another site cannot reach it by DNS rebinding), with a Content-Security-Policy that lets the
 * page fetch nothing but its own files.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { RnnError } from '../errors.js';

/** The port tried when none is given; if it is taken, any free port is used instead. */
export const DEFAULT_PORT = 8417;

export interface ExplainOptions {
  /** 0..65535; 0 picks a free port. Given explicitly, a taken port is an error. Default DEFAULT_PORT. */
  port?: number;
  /** Open the page in the default browser. Default true. */
  open?: boolean;
  /** Folder of the built page. Default: dist/web/ next to this module's build. */
  root?: string;
  /** Where the address line goes. Default: stdout. */
  log?: (line: string) => void;
}

export interface ExplainServer {
  url: string;
  port: number;
  root: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
};

const CSP = [
  "default-src 'self'",
  // WebAssembly (the kernel), and its threads: Web Workers from a Blob URL of the library's own source
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'", // the page colours cells through style attributes
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Parses `--port`: an integer in 0..65535 (0: any free port). */
export function parsePort(value: string | number): number {
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new RnnError('invalid_argument', `--port must be an integer in 0..65535, got '${value}'`, {
      expected: '0..65535',
      got: value,
    });
  }
  return n;
}

/**
 * The built page's folder: dist/web/ beside dist/cli/ when running the build, or the repository's dist/web/
 * when running from src/ (tsx). Throws RnnError 'io' when the page has not been built.
 */
export function findWebRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, '../web'), resolve(here, '../../dist/web')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) {
    throw new RnnError('io', `the explainer page is not built: no index.html in ${candidates.join(' or ')}`, {
      hint: 'build it with `npm run build` (or `npx vite build --config web/vite.config.ts`)',
    });
  }
  return found;
}

async function serveFile(root: string, req: IncomingMessage, res: ServerResponse, hosts: Set<string>): Promise<void> {
  const send = (status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  // Node keeps the first of several Host headers; RFC 9112 (3.2) requires a 400 for more than one, since a proxy
  // in front may have read another of them.
  const hostHeaders = req.rawHeaders.filter((v, i) => i % 2 === 0 && v.toLowerCase() === 'host').length;
  if (hostHeaders > 1) return send(400, 'bad request: more than one Host header\n');
  if (!hosts.has(req.headers.host ?? '')) return send(403, 'forbidden host\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return send(400, 'bad request\n');
  }
  let file = resolve(root, `.${path}`);
  if (file !== root && !file.startsWith(root + sep)) return send(404, 'not found\n');
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    const body = await readFile(file);
    const html = extname(file) === '.html';
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(body.length),
      'Cache-Control': html ? 'no-cache' : 'public, max-age=3600',
      'X-Content-Type-Options': 'nosniff',
      // cross-origin isolated, so the page has SharedArrayBuffer and the kernel runs on every core
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      ...(html ? { 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    send(404, 'not found\n');
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((done, fail) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      fail(err);
    };
    const onListening = () => {
      server.off('error', onError);
      done((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

function openBrowser(url: string, log: (line: string) => void): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => log(`could not open a browser (${cmd}); open ${url} yourself`));
    child.unref();
  } catch {
    log(`could not open a browser; open ${url} yourself`);
  }
}

/**
 * Starts the explainer's server and (unless `open: false`) opens the page. Resolves once it listens; the
 * server runs until `close()`.
 *
 * @example
 * const server = await explainCommand({ port: 0, open: false });
 * console.log(server.url); // http://127.0.0.1:40123/
 * await server.close();
 */
export async function explainCommand(options: ExplainOptions = {}): Promise<ExplainServer> {
  const explicit = options.port !== undefined;
  const wanted = explicit ? parsePort(options.port as number) : DEFAULT_PORT;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const root = resolve(options.root ?? findWebRoot());
  if (!existsSync(join(root, 'index.html'))) {
    throw new RnnError('io', `the explainer page is not built: no index.html in ${root}`, {
      hint: 'build it with `npm run build`',
    });
  }
  const hosts = new Set<string>();
  const server = createServer((req, res) => {
    serveFile(root, req, res, hosts).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  let port: number;
  try {
    port = await listen(server, wanted);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' && !explicit) {
      port = await listen(server, 0);
    } else if (code === 'EADDRINUSE') {
      throw new RnnError('io', `port ${wanted} on 127.0.0.1 is already in use`, {
        got: wanted,
        hint: 'choose another with --port, or --port 0 for any free port',
      });
    } else {
      throw new RnnError('io', `could not listen on 127.0.0.1:${wanted}: ${(err as Error).message}`, { got: wanted });
    }
  }
  for (const name of ['127.0.0.1', 'localhost']) hosts.add(`${name}:${port}`);
  const url = `http://127.0.0.1:${port}/`;
  log(`stacked-rnn explain: serving the explainer at ${url}  (Ctrl+C to stop)`);
  if (options.open !== false) openBrowser(url, log);
  return {
    url,
    port,
    root,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** Adds `explain` to the `stacked-rnn` program. */
export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('serve the interactive explainer of num_layers on 127.0.0.1 and open it in a browser')
    .option('--port <port>', `port to listen on, 0 for any free one (default ${DEFAULT_PORT}, or any free one)`)
    .option('--no-open', 'do not open a browser; just print the address')
    .action(async (opts: { port?: string; open: boolean }) => {
      const server = await explainCommand({
        ...(opts.port === undefined ? {} : { port: parsePort(opts.port) }),
        open: opts.open,
      });
      await new Promise<void>((done) => {
        const stop = () => void server.close().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
