// ContainerRuntime: turns what a user calls a container into its network namespace path, in the
// order of DESIGN.md §1: pid:N → /proc/N/ns/net; netns:/path → that file; NAME in /run/netns → that;
// else Docker (name, id or id prefix) → /proc/<State.Pid>/ns/net with the container's hostname.
// Also the Docker event source for the death watcher.
import { stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { ContainerEvent, ContainerEventSource, ContainerRef, ContainerRuntime, DockerState } from '../core/ports.js';
import {
  containerGone, containerNotFound, containerNotRunning, dockerFqdn, parseContainerReference,
} from '../core/container-reference.js';
import { DockerClient, DockerUnavailableError, type DockerContainerInfo, type DockerEvent } from './docker-client.js';

/** statfs f_type of nsfs, the filesystem of /proc/N/ns/* and of their bind mounts. */
export const NSFS_MAGIC = 0x6e736673;
export const DEFAULT_NETNS_DIR = '/run/netns';

export type ContainerKind = 'docker' | 'netns' | 'pid' | 'path' | 'cni';

/** A resolved container: the port's ContainerRef plus what the resolver learnt. */
export interface ResolvedContainer extends ContainerRef {
  kind: ContainerKind;
  /** Docker name without the leading "/", or the netns name. */
  name?: string;
  /** "dev:ino" of the network namespace at resolve time: tells a re-created namespace from the old one. */
  netnsId?: string;
}

/** The part of DockerClient the runtime uses (tests pass a fake). */
export interface DockerApi {
  inspectContainer(ref: string): Promise<DockerContainerInfo | undefined>;
  events(onEvent: (ev: DockerEvent) => void, onError: (err: Error) => void, actions?: readonly string[], onOpen?: () => void): { close(): void };
}

export interface HostContainerRuntimeComponents {
  logger: Logger;
  /** Docker API; `null` disables Docker lookups. @default new DockerClient() (DOCKER_HOST or /var/run/docker.sock) */
  docker?: DockerApi | null;
}

export interface HostContainerRuntimeInit {
  /** Where named network namespaces live. @default "/run/netns" */
  netnsDir?: string;
  /** procfs mount. @default "/proc" */
  procDir?: string;
}

export class HostContainerRuntime implements ContainerRuntime, ContainerEventSource {
  private readonly log: Logger;
  private readonly docker: DockerApi | null;
  private readonly netnsDir: string;
  private readonly procDir: string;

  constructor(components: HostContainerRuntimeComponents, init: HostContainerRuntimeInit = {}) {
    this.log = components.logger.child({ component: 'containers' });
    this.docker = components.docker === undefined ? new DockerClient() : components.docker;
    this.netnsDir = init.netnsDir ?? DEFAULT_NETNS_DIR;
    this.procDir = init.procDir ?? '/proc';
  }

  async resolve(text: string): Promise<ResolvedContainer> {
    const ref = parseContainerReference(text);
    switch (ref.kind) {
      case 'pid': {
        const path = join(this.procDir, String(ref.pid), 'ns', 'net');
        const id = await netnsIdentity(path);
        if (id === undefined) throw containerGone(ref.text, `no process with pid ${ref.pid}`);
        return { kind: 'pid', id: `pid:${ref.pid}`, netnsPath: path, pid: ref.pid, netnsId: id };
      }
      case 'path': {
        const id = await netnsIdentity(ref.path);
        if (id === undefined) {
          const exists = await stat(ref.path).then(() => true, () => false);
          throw containerGone(ref.text, exists ? `${ref.path} is not a network namespace file` : `${ref.path} does not exist`);
        }
        return { kind: 'path', id: `netns:${ref.path}`, netnsPath: ref.path, netnsId: id };
      }
      case 'name': {
        const nsPath = join(this.netnsDir, ref.name);
        const nsId = await netnsIdentity(nsPath);
        if (nsId !== undefined) {
          return { kind: 'netns', id: `netns:${ref.name}`, name: ref.name, netnsPath: nsPath, netnsId: nsId };
        }
        return this.resolveDocker(ref.name);
      }
    }
  }

  async isAlive(ref: ContainerRef): Promise<boolean> {
    const r = ref as Partial<ResolvedContainer> & ContainerRef;
    const kind = r.kind ?? kindOfId(ref.id);
    if (kind === 'docker') {
      if (!this.docker) return true; // cannot tell without Docker: never release on a guess
      let info: DockerContainerInfo | undefined;
      try {
        info = await this.docker.inspectContainer(ref.id);
      } catch (err) {
        if (err instanceof DockerUnavailableError) {
          this.log.debug({ err, container: ref.id }, 'docker unavailable; assuming container alive');
          return true;
        }
        throw err;
      }
      if (!info || !info.State.Running) return false;
      // A restarted container has a new process and a new namespace: the old attachment is gone.
      return ref.pid === undefined || info.State.Pid === ref.pid;
    }
    const id = await netnsIdentity(ref.netnsPath);
    if (id === undefined) return false;
    return r.netnsId === undefined || r.netnsId === id;
  }

  /** Docker's view of a container for docker-restarts.ts: running, stopped, removed, or cannot tell. */
  async dockerState(id: string): Promise<DockerState> {
    if (!this.docker) return 'unknown';
    try {
      const info = await this.docker.inspectContainer(id);
      if (!info) return 'gone';
      return info.State.Running && info.State.Pid > 0 ? 'running' : 'stopped';
    } catch (err) {
      this.log.debug({ err, container: id }, 'cannot ask Docker about a stopped container');
      return 'unknown';
    }
  }

  /** Docker container events for the death watcher. Without Docker, a stream that never fires. */
  subscribe(onEvent: (ev: ContainerEvent) => void, onError: (err: Error) => void, onOpen?: () => void): { close(): void } {
    if (!this.docker) return { close() {} };
    return this.docker.events((ev) => onEvent({ id: ev.id, action: ev.action }), onError, ['die', 'destroy', 'start'], onOpen);
  }

  private async resolveDocker(name: string): Promise<ResolvedContainer> {
    if (!this.docker) throw containerNotFound(name);
    let info: DockerContainerInfo | undefined;
    try {
      info = await this.docker.inspectContainer(name);
    } catch (err) {
      if (err instanceof DockerUnavailableError) throw containerNotFound(name, err.message, err);
      throw err;
    }
    if (!info) throw containerNotFound(name);
    const dockerName = info.Name.replace(/^\//, '');
    if (!info.State.Running || !(info.State.Pid > 0)) throw containerNotRunning(dockerName || name);
    const pid = info.State.Pid;
    const netnsPath = join(this.procDir, String(pid), 'ns', 'net');
    const netnsId = await netnsIdentity(netnsPath);
    if (netnsId === undefined) throw containerNotRunning(dockerName || name); // exited between inspect and now
    const out: ResolvedContainer = { kind: 'docker', id: info.Id, name: dockerName, netnsPath, pid, netnsId };
    const hostname = dockerFqdn(info.Config?.Hostname ?? '', info.Config?.Domainname ?? '');
    if (hostname !== undefined) out.hostname = hostname;
    return out;
  }
}

/** Kind of a ContainerRef from its id alone (for refs reloaded from state). */
export function kindOfId(id: string): ContainerKind {
  if (id.startsWith('pid:')) return 'pid';
  if (id.startsWith('cni:')) return 'cni'; // alive while its namespace is (daemon/cni-attach.ts)
  if (id.startsWith('netns:/')) return 'path';
  if (id.startsWith('netns:')) return 'netns';
  return 'docker';
}

/** "dev:ino" of a network namespace file, or undefined if the path is missing or not an nsfs file. */
export async function netnsIdentity(path: string): Promise<string | undefined> {
  try {
    const fs = await statfs(path);
    if (fs.type !== NSFS_MAGIC) return undefined;
    const st = await stat(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
