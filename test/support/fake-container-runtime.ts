// An in-memory ContainerRuntime (and Docker-style event source): containers are added by the test, can
// be looked up by id or name, and `kill` marks one dead and emits "die" like Docker's /events.
import type { ContainerEvent, ContainerEventSource, ContainerRef, ContainerRuntime } from '../../src/core/ports.js';
import { TsweaveError } from '../../src/core/errors.js';

export class FakeContainerRuntime implements ContainerRuntime, ContainerEventSource {
  private readonly byId = new Map<string, ContainerRef>();
  private readonly names = new Map<string, string>();
  private readonly dead = new Set<string>();
  private readonly subscribers = new Set<(ev: ContainerEvent) => void>();

  /** Adds a running container; `name` (like a Docker name) resolves to it as well as its id. */
  add(ref: ContainerRef, name?: string): ContainerRef {
    this.byId.set(ref.id, ref);
    if (name) this.names.set(name, ref.id);
    return ref;
  }

  /** The container stops: isAlive turns false and subscribers get "die". */
  kill(id: string): void {
    this.dead.add(id);
    for (const s of this.subscribers) s({ id, action: 'die' });
  }

  async resolve(ref: string): Promise<ContainerRef> {
    const id = this.names.get(ref) ?? ref;
    const c = this.byId.get(id);
    if (!c || this.dead.has(id)) throw new TsweaveError('ERR_CONTAINER_NOT_FOUND', `container ${ref} not found`);
    return c;
  }

  async isAlive(ref: ContainerRef): Promise<boolean> {
    return this.byId.has(ref.id) && !this.dead.has(ref.id);
  }

  subscribe(onEvent: (ev: ContainerEvent) => void, _onError: (err: Error) => void): { close(): void } {
    this.subscribers.add(onEvent);
    return { close: () => this.subscribers.delete(onEvent) };
  }
}
