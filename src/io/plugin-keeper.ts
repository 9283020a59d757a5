// The Docker-facing plugin socket, held by a tiny process of its own (the "keeper") that outlives the
// router: dockerd retries an unreachable plugin for 15–30 s before `docker run --net=weave` fails, so a
// router that is down (stopped, crashed, being relaunched) must still be answered at once. The keeper
// forwards each call to the router's own plugin socket (its backend) and, when nothing answers there,
// replies at once that tsweave is not running. It exits when its socket file is removed or replaced
// (`reset`, a reboot's /run, a test's cleanup), so nothing is left behind.
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import type { Logger } from '../core/logger.js';
import { servePlugin, socketAnswers, type PluginHandler } from './docker-plugin-server.js';

/** The call the router uses to ask a keeper which backend it forwards to. */
export const KEEPER_INFO_CALL = '/tsweave.KeeperInfo';
const FORWARD_TIMEOUT_MS = 120_000;
const WATCH_MS = 5_000;

export function notRunningMessage(socket: string): string {
  return `tsweave is not running on this host (nothing serves the weavemesh plugin behind ${socket}); start it with "tsweave launch"`;
}

/** One plugin call over a unix socket; rejects with the socket error when nothing answers there. */
export function callPlugin(socketPath: string, path: string, body: unknown): Promise<{ ok: boolean; body: object }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request({
      socketPath, method: 'POST', path, timeout: FORWARD_TIMEOUT_MS,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
    });
    req.on('timeout', () => req.destroy(new Error('the router did not answer in time')));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve({ ok: false, body: { Err: 'tsweave: the router closed the connection' } }));
      res.on('end', () => {
        try {
          resolve({ ok: res.statusCode === 200, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as object });
        } catch {
          resolve({ ok: false, body: { Err: 'tsweave: the router sent an invalid answer' } });
        }
      });
    });
    req.end(text);
  });
}

/** Forwards one call to the backend; a backend that cannot be reached gets the "not running" answer. */
export function forwarder(backend: string, socket: string): PluginHandler {
  return async (path, body) => {
    if (path === KEEPER_INFO_CALL) return { ok: true, body: { Backend: backend } };
    try {
      return await callPlugin(backend, path, body);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const down = code === 'ENOENT' || code === 'ECONNREFUSED';
      return { ok: false, body: { Err: down ? notRunningMessage(socket) : `tsweave: ${(err as Error).message}` } };
    }
  };
}

/** The keeper's main loop (daemon/plugin-keeper-main.ts): serve, then exit when the socket file goes. */
export async function runKeeper(socket: string, backend: string, logger: Logger): Promise<void> {
  const server = await servePlugin(socket, forwarder(backend, socket), logger);
  const ino = (await stat(socket)).ino;
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      void stat(socket).then((s) => s.ino !== ino, () => true).then((gone) => {
        if (!gone) return;
        clearInterval(t);
        resolve();
      });
    }, WATCH_MS);
  });
  await server.close().catch(() => undefined);
}

/**
 * Makes sure a keeper serves `socket` for `backend`: one already there is reused when it forwards to the
 * same backend; otherwise a new one is started (detached). Throws when another process holds the socket.
 */
export async function ensureKeeper(socket: string, backend: string, logger: Logger): Promise<'reused' | 'started'> {
  if (await socketAnswers(socket)) {
    const info = await callPlugin(socket, KEEPER_INFO_CALL, {}).catch(() => ({ ok: false, body: {} }));
    const theirs = (info.body as { Backend?: unknown }).Backend;
    if (info.ok && theirs === backend) return 'reused';
    throw new Error(`another process serves the Docker plugin at ${socket} (${typeof theirs === 'string' ? `a router behind ${theirs}` : 'not tsweave: Weave?'}); stop it, or launch with --no-plugin`);
  }
  const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'daemon', 'plugin-keeper-main.js');
  const child = spawn(process.execPath, [main, socket, backend], { detached: true, stdio: 'ignore' });
  child.on('error', (err) => logger.error({ err: err.message }, 'cannot start the Docker plugin keeper'));
  child.unref();
  for (let i = 0; i < 50; i++) {
    if (await socketAnswers(socket, 200)) return 'started';
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the Docker plugin keeper did not start serving ${socket}`);
}
