// Docker's plugin transport: HTTP (POST, JSON) over a unix socket in /run/docker/plugins, where dockerd
// finds it by name. This file only moves bytes: it caps and parses bodies and answers with what the
// handler returns (containers/docker-plugin.ts decides). Nothing Docker sends can throw out of here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, mkdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../core/logger.js';
import { TsweaveError, errorMessage } from '../core/errors.js';
import { createLimitedServer } from './http-limits.js';
import { HTTP_MAX_SOCKET_CONNECTIONS } from '../core/defaults.js';

/** Docker's bodies are a few hundred bytes; anything far larger is not Docker. */
export const MAX_PLUGIN_BODY_BYTES = 64 * 1024;
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
const REQUEST_TIMEOUT_MS = 120_000;

export type PluginHandler = (path: string, body: unknown) => Promise<{ ok: boolean; body: object }>;

export interface PluginServer {
  path: string;
  stats: { calls: number; refused: number; badBodies: number };
  close(): Promise<void>;
}

/** True when something accepts connections on the unix socket at `path`. */
export function socketAnswers(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (v: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function servePlugin(path: string, handler: PluginHandler, logger: Logger): Promise<PluginServer> {
  const log = logger.child({ component: 'docker-plugin' });
  await mkdir(dirname(path), { recursive: true });
  if (await stat(path).then(() => true, () => false)) {
    if (await socketAnswers(path)) {
      throw new TsweaveError('ERR_CONFIG', `another process serves the Docker plugin at ${path} (another router, or Weave); stop it, or launch with --no-plugin`);
    }
    await unlink(path); // left by a router that did not stop cleanly
  }
  const stats = { calls: 0, refused: 0, badBodies: 0 };
  const reply = (res: ServerResponse, ok: boolean, body: object) => {
    if (!ok) stats.refused++;
    const text = JSON.stringify(body);
    res.writeHead(ok ? 200 : 500, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createLimitedServer((req: IncomingMessage, res: ServerResponse) => {
    stats.calls++;
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    if (req.method !== 'POST') {
      reply(res, false, { Err: 'tsweave: plugin calls are POST' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_PLUGIN_BODY_BYTES) {
        if (!over) {
          over = true;
          stats.badBodies++;
          // Answer now and drop the rest as it comes (bounded by the request timeout), then close.
          res.setHeader('Connection', 'close');
          reply(res, false, { Err: `tsweave: request body over ${MAX_PLUGIN_BODY_BYTES} bytes` });
        }
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      let body: unknown = {};
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text !== '') {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          stats.badBodies++;
          reply(res, false, { Err: 'tsweave: request body is not JSON' });
          return;
        }
      }
      const path = (req.url ?? '/').split('?')[0]!;
      handler(path, body).then(
        (r) => {
          if (!r.ok) log.info({ call: path, err: (r.body as { Err?: string }).Err }, 'docker plugin call refused');
          else log.debug({ call: path }, 'docker plugin call');
          reply(res, r.ok, r.body);
        },
        (err: unknown) => reply(res, false, { Err: `tsweave: ${errorMessage(err)}` }),
      );
    });
  // Root-only (0600): dockerd may start many containers at once, so the socket's larger budget.
  }, log, { requestTimeoutMs: REQUEST_TIMEOUT_MS, maxConnections: HTTP_MAX_SOCKET_CONNECTIONS });
  server.on('clientError', (_err, sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600).catch(() => undefined); // dockerd runs as root; nobody else needs it
  log.info({ socket: path }, 'serving the Docker network plugin "weavemesh"');
  return {
    path,
    stats,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await unlink(path).catch(() => undefined);
    },
  };
}
