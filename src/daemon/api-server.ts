// Starts the router's control API from the launch configuration: TCP 127.0.0.1:6784 and the unix socket
// (default per network namespace, or --api-socket), open to root and the --api-group (io/api-socket.ts).

import { HTTP_API_ADDR, HTTP_API_PORT } from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import { defaultApiSocketPath, resolveGroup } from '../io/api-socket.js';
import { type ApiServer, type Route, serveApi } from '../io/http-server.js';
import { tcpPeerUid } from '../io/tcp-peer-uid.js';
import type { LaunchConfig } from '../config/launch.js';

export async function startApi(cfg: Pick<LaunchConfig, 'apiSocket' | 'apiGroup'>, routes: Route[], logger: Logger): Promise<ApiServer> {
  const gid = cfg.apiGroup === undefined ? undefined : await resolveGroup(cfg.apiGroup);
  return serveApi(routes, {
    host: HTTP_API_ADDR,
    port: HTTP_API_PORT,
    socket: { path: cfg.apiSocket ?? defaultApiSocketPath(), gid, ownsDir: cfg.apiSocket === undefined },
    peerUid: tcpPeerUid,
  }, logger);
}
