// A minimal Docker Engine API client over the unix socket (node:http, no dependencies): version,
// inspect, list, and the events stream used to notice dead containers.
//
// API version: the first request asks GET /version (unversioned) and then uses
// /v<min(daemon ApiVersion, DOCKER_API_MAX_VERSION)>/… for every call, as the docker CLI negotiates.
import { request, type IncomingMessage, type ClientRequest } from 'node:http';
import { TsweaveError } from '../core/errors.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** Newest API version this client asks for; everything we read exists since 1.24. */
export const DOCKER_API_MAX_VERSION = '1.43';
export const DOCKER_API_MIN_VERSION = '1.24';
export const DOCKER_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Docker is not reachable (socket missing, refused, timed out, not Docker). `code` is ERR_HOST_NETWORK;
 * branch with `instanceof DockerUnavailableError` or `fields.docker === 'unavailable'`.
 */
export class DockerUnavailableError extends TsweaveError {
  constructor(message: string, cause?: unknown) {
    super('ERR_HOST_NETWORK', message, { cause, fields: { docker: 'unavailable' } });
  }
}

/** Docker answered with an error status. */
export class DockerApiError extends TsweaveError {
  constructor(readonly statusCode: number, message: string) {
    super('ERR_HOST_NETWORK', message, { fields: { docker: 'api', statusCode } });
  }
}

/**
 * The socket to use: DOCKER_HOST=unix:///path if set, else /var/run/docker.sock.
 * Throws ConfigError-like TsweaveError ERR_CONFIG for a DOCKER_HOST that is not a unix socket.
 */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host === undefined || host === '') return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://')) {
    const p = host.slice('unix://'.length);
    if (p.startsWith('/')) return p;
  }
  throw new TsweaveError(
    'ERR_CONFIG',
    `invalid DOCKER_HOST "${host}": only unix sockets are supported, like unix:///var/run/docker.sock`,
  );
}

/** The fields of GET /containers/{id}/json that tsweave reads. */
export interface DockerContainerInfo {
  Id: string;
  /** "/name" as Docker reports it. */
  Name: string;
  State: { Running: boolean; Pid: number; Status?: string; Restarting?: boolean; Paused?: boolean };
  Config: { Hostname: string; Domainname: string };
  HostConfig?: { NetworkMode?: string };
  /** Per network name: the endpoint Docker made (plugin networks). */
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; EndpointID?: string; IPAddress?: string; IPPrefixLen?: number; Aliases?: string[] | null; MacAddress?: string }> };
}

/** The fields of GET /networks/{id} that tsweave reads. */
export interface DockerNetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  Containers?: Record<string, { Name?: string; EndpointID?: string; MacAddress?: string; IPv4Address?: string }>;
  IPAM?: { Driver?: string; Config?: { Subnet?: string }[] | null };
}

/** One entry of GET /containers/json. */
export interface DockerContainerSummary {
  Id: string;
  Names: string[];
  State: string;
  Status?: string;
}

/** An event of GET /events (type container). */
export interface DockerEvent {
  /** "die", "destroy", "start", … */
  action: string;
  /** Full container id. */
  id: string;
  /** Container name (from Actor.Attributes.name), when Docker says it. */
  name?: string;
  /** Seconds since the epoch. */
  time?: number;
}

export interface DockerEventStream {
  close(): void;
}

export interface DockerClientInit {
  /** @default dockerSocketPath(process.env) */
  socketPath?: string;
  /** @default DOCKER_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
}

interface RawResponse {
  status: number;
  body: string;
}

export class DockerClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private apiVersion: Promise<string> | undefined;

  constructor(init: DockerClientInit = {}) {
    this.socketPath = init.socketPath ?? dockerSocketPath();
    this.timeoutMs = init.timeoutMs ?? DOCKER_REQUEST_TIMEOUT_MS;
  }

  /** GET /version (unversioned). */
  async version(): Promise<{ Version: string; ApiVersion: string; MinAPIVersion?: string }> {
    const res = await this.raw('GET', '/version');
    return this.json(res, 'GET /version');
  }

  /** The API version used for requests (negotiated once, then cached). */
  negotiatedVersion(): Promise<string> {
    this.apiVersion ??= this.version().then(
      (v) => {
        const daemon = v.ApiVersion;
        if (typeof daemon !== 'string' || !/^\d+\.\d+$/.test(daemon)) {
          throw new DockerUnavailableError(`${this.where()} did not report an API version; is it a Docker daemon?`);
        }
        if (compareVersions(daemon, DOCKER_API_MIN_VERSION) < 0) {
          throw new DockerUnavailableError(
            `Docker API version ${daemon} at ${this.where()} is too old: tsweave needs ${DOCKER_API_MIN_VERSION} or newer`,
          );
        }
        return compareVersions(daemon, DOCKER_API_MAX_VERSION) < 0 ? daemon : DOCKER_API_MAX_VERSION;
      },
      (err) => {
        this.apiVersion = undefined; // retry negotiation next time (dockerd may start later)
        throw err;
      },
    );
    return this.apiVersion;
  }

  /** Inspects a container by name, full id or unique id prefix; undefined if Docker does not know it. */
  async inspectContainer(ref: string): Promise<DockerContainerInfo | undefined> {
    const res = await this.get(`/containers/${encodeURIComponent(ref)}/json`);
    if (res.status === 404) return undefined;
    return this.json(res, `inspect container "${ref}"`);
  }

  /** Networks using `driver`, with their containers (one inspect each: the list omits them). */
  async networksOfDriver(driver: string): Promise<DockerNetworkInfo[]> {
    const filters = encodeURIComponent(JSON.stringify({ driver: [driver] }));
    const list = this.json<DockerNetworkInfo[]>(await this.get(`/networks?filters=${filters}`), 'list networks');
    const out: DockerNetworkInfo[] = [];
    for (const n of list) {
      const res = await this.get(`/networks/${encodeURIComponent(n.Id)}`);
      if (res.status !== 404) out.push(this.json(res, `inspect network ${n.Name}`));
    }
    return out;
  }

  /** Inspects a network by name or id; undefined if Docker does not know it. */
  async inspectNetwork(ref: string): Promise<DockerNetworkInfo | undefined> {
    const res = await this.get(`/networks/${encodeURIComponent(ref)}`);
    if (res.status === 404) return undefined;
    return this.json(res, `inspect network "${ref}"`);
  }

  /** Removes a network (Docker refuses while containers are on it); false if it did not exist. */
  async removeNetwork(ref: string): Promise<boolean> {
    const v = await this.negotiatedVersion();
    const res = await this.raw('DELETE', `/v${v}/networks/${encodeURIComponent(ref)}`);
    if (res.status === 404) return false;
    if (res.status < 200 || res.status >= 300) throw new DockerApiError(res.status, apiMessage(`remove network "${ref}"`, res.status, res.body));
    return true;
  }

  /** Creates a network; false when one of that name exists already. */
  async createNetwork(spec: object): Promise<boolean> {
    const v = await this.negotiatedVersion();
    const res = await this.raw('POST', `/v${v}/networks/create`, JSON.stringify(spec));
    if (res.status === 409) return false;
    this.json(res, 'create network');
    return true;
  }

  async listContainers(opts: { all?: boolean } = {}): Promise<DockerContainerSummary[]> {
    const res = await this.get(`/containers/json${opts.all ? '?all=1' : ''}`);
    return this.json(res, 'list containers');
  }

  /**
   * Streams container events with the given actions (default die, destroy, start). `onError` is called
   * once if the stream fails or ends (dockerd restarted); call `events` again to resubscribe. `onOpen` is
   * called once Docker accepted the stream.
   */
  events(
    onEvent: (ev: DockerEvent) => void,
    onError: (err: Error) => void,
    actions: readonly string[] = ['die', 'destroy', 'start'],
    onOpen?: () => void,
  ): DockerEventStream {
    let req: ClientRequest | undefined;
    let closed = false;
    let failed = false;
    const fail = (err: Error) => {
      if (closed || failed) return;
      failed = true;
      req?.destroy();
      onError(err);
    };
    const filters = JSON.stringify({ type: ['container'], event: actions });
    this.negotiatedVersion().then(
      (v) => {
        if (closed) return;
        req = request({ socketPath: this.socketPath, method: 'GET', path: `/v${v}/events?filters=${encodeURIComponent(filters)}` });
        req.on('error', (err) => fail(this.unavailable(err)));
        req.on('response', (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            readBody(res).then((body) => fail(new DockerApiError(res.statusCode ?? 0, apiMessage('events', res.statusCode ?? 0, body))), fail);
            return;
          }
          res.setEncoding('utf8');
          if (!closed) onOpen?.();
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line === '' || closed) continue;
              const ev = parseEvent(line);
              if (ev) onEvent(ev);
            }
          });
          res.on('end', () => fail(new DockerUnavailableError(`Docker event stream at ${this.where()} ended (dockerd restarted?)`)));
          res.on('error', (err) => fail(this.unavailable(err)));
        });
        req.end();
      },
      (err: Error) => fail(err),
    );
    return {
      close: () => {
        closed = true;
        req?.destroy();
      },
    };
  }

  // -------------------------------------------------------------------------------------------

  private where(): string {
    return `unix://${this.socketPath}`;
  }

  private async get(path: string): Promise<RawResponse> {
    const v = await this.negotiatedVersion();
    return this.raw('GET', `/v${v}${path}`);
  }

  private json<T>(res: RawResponse, what: string): T {
    if (res.status < 200 || res.status >= 300) throw new DockerApiError(res.status, apiMessage(what, res.status, res.body));
    try {
      return JSON.parse(res.body) as T;
    } catch (err) {
      throw new DockerUnavailableError(`Docker at ${this.where()} sent invalid JSON for ${what}`, err);
    }
  }

  private unavailable(err: unknown): DockerUnavailableError {
    const e = err as NodeJS.ErrnoException;
    const hint = '(is dockerd running? set DOCKER_HOST=unix:///path/to/docker.sock for another socket)';
    switch (e.code) {
      case 'ENOENT':
        return new DockerUnavailableError(`cannot talk to Docker at ${this.where()}: no such socket ${hint}`, err);
      case 'ECONNREFUSED':
        return new DockerUnavailableError(`cannot talk to Docker at ${this.where()}: connection refused ${hint}`, err);
      case 'EACCES':
        return new DockerUnavailableError(`cannot talk to Docker at ${this.where()}: permission denied (run as root)`, err);
      default:
        return new DockerUnavailableError(`cannot talk to Docker at ${this.where()}: ${e.message}`, err);
    }
  }

  private raw(method: string, path: string, body?: string): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { Accept: 'application/json' };
      if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      const req = request({ socketPath: this.socketPath, method, path, headers });
      const timer = setTimeout(() => {
        req.destroy(
          new DockerUnavailableError(`Docker at ${this.where()} did not answer ${method} ${path} within ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof DockerUnavailableError ? err : this.unavailable(err));
      });
      req.on('response', (res) => {
        readBody(res).then(
          (body) => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body });
          },
          (err) => {
            clearTimeout(timer);
            reject(err instanceof DockerUnavailableError ? err : this.unavailable(err));
          },
        );
      });
      req.end(body);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

function apiMessage(what: string, status: number, body: string): string {
  let msg = body.trim();
  try {
    const j = JSON.parse(body) as { message?: unknown };
    if (typeof j.message === 'string') msg = j.message;
  } catch {
    // not JSON: keep the text
  }
  return `Docker refused to ${what}: ${msg || `HTTP ${status}`}`;
}

/** Parses one line of the events stream; undefined for events we cannot use. */
export function parseEvent(line: string): DockerEvent | undefined {
  let j: { Type?: unknown; Action?: unknown; status?: unknown; id?: unknown; time?: unknown; Actor?: { ID?: unknown; Attributes?: Record<string, unknown> } };
  try {
    j = JSON.parse(line) as typeof j;
  } catch {
    return undefined;
  }
  if (j.Type !== undefined && j.Type !== 'container') return undefined;
  const action = typeof j.Action === 'string' ? j.Action : typeof j.status === 'string' ? j.status : undefined;
  const id = typeof j.Actor?.ID === 'string' ? j.Actor.ID : typeof j.id === 'string' ? j.id : undefined;
  if (!action || !id) return undefined;
  const ev: DockerEvent = { action, id };
  const name = j.Actor?.Attributes?.name;
  if (typeof name === 'string') ev.name = name;
  if (typeof j.time === 'number') ev.time = j.time;
  return ev;
}

/** Compares dotted versions numerically: "1.9" < "1.41". */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
