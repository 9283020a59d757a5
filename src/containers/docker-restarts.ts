// Stopped Docker containers that keep their addresses, and their way back (issue 10.6).
//
// The rule: a Docker container that stops keeps its addresses and its attachment record; `docker start`
// / `docker restart` gets `ethwe` back in the new namespace with the same addresses (and its DNS name);
// only `docker rm` (Docker's "destroy") releases them. Inputs, all injected (no timers or sockets of its
// own besides the Clock):
//   - died(id): the death watch saw the container die (event or liveness check);
//   - event(ev): every Docker event; "start" of a stopped one re-attaches, "destroy" releases;
//   - a sweep every checkIntervalMs while something is stopped: the safety net for events missed while the
//     event stream was down (a restart or a removal then still ends in a re-attach or a release).
// Work on one container is serialised (a die, a start and a sweep can overlap).
import type { Logger } from '../core/logger.js';
import type { Clock } from '../core/ports.js';
import { errorMessage } from '../core/errors.js';
import { DEATH_CHECK_INTERVAL_MS, type ContainerEvent } from './death-watch.js';

/** What Docker says about a container now; 'unknown' when Docker cannot be asked (never act on a guess). */
export type { DockerState } from '../core/ports.js';
import type { DockerState } from '../core/ports.js';

export interface DockerRestartsComponents {
  clock: Clock;
  logger: Logger;
  state(id: string): Promise<DockerState>;
  /** Puts ethwe back with the recorded addresses and DNS name; throws when it cannot. */
  reattach(id: string): Promise<void>;
  /** Frees the addresses, forgets the record and the DNS names. */
  release(id: string): Promise<void>;
}

export class DockerRestarts {
  private readonly log: Logger;
  private readonly stopped = new Set<string>();
  private readonly chains = new Map<string, Promise<void>>();
  private cancelSweep: (() => void) | undefined;
  private running = true;

  constructor(
    private readonly c: DockerRestartsComponents,
    private readonly checkIntervalMs = DEATH_CHECK_INTERVAL_MS,
  ) {
    this.log = c.logger.child({ component: 'docker-restarts' });
  }

  /** A watched Docker container died: keep it as stopped, and look at it at once (it may be back already). */
  died(id: string): void {
    this.stopped.add(id);
    this.enqueue(id, () => this.check(id));
    this.scheduleSweep();
  }

  event(ev: ContainerEvent): void {
    if (!this.stopped.has(ev.id)) return;
    if (ev.action === 'start') this.enqueue(ev.id, () => this.check(ev.id));
    else if (ev.action === 'destroy') this.enqueue(ev.id, () => this.doRelease(ev.id));
  }

  /** Ids of stopped containers that still hold their addresses. */
  stoppedIds(): string[] {
    return [...this.stopped];
  }

  /** Resolves when the work queued so far is done (tests, stop). */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  stop(): void {
    this.running = false;
    this.cancelSweep?.();
    this.cancelSweep = undefined;
  }

  private async check(id: string): Promise<void> {
    if (!this.stopped.has(id) || !this.running) return;
    const state = await this.c.state(id).catch((): DockerState => 'unknown');
    if (state === 'gone') return this.doRelease(id);
    if (state !== 'running') return;
    try {
      await this.c.reattach(id);
      this.stopped.delete(id);
      this.log.info({ container: id }, 'restarted container re-attached with its addresses');
    } catch (err) {
      // Stays stopped: the next start event or sweep tries again; the addresses stay claimed.
      this.log.warn({ container: id, err: errorMessage(err) }, 're-attaching a restarted container failed; will retry');
    }
  }

  private async doRelease(id: string): Promise<void> {
    if (!this.stopped.delete(id)) return;
    try {
      await this.c.release(id);
      this.log.info({ container: id }, 'removed container released its addresses');
    } catch (err) {
      this.log.error({ container: id, err: errorMessage(err) }, 'releasing a removed container failed');
    }
  }

  private enqueue(id: string, job: () => Promise<void>): void {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(job).catch((err: unknown) => this.log.error({ container: id, err: errorMessage(err) }, 'docker restart handling failed'));
    this.chains.set(id, next);
    void next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private scheduleSweep(): void {
    if (this.cancelSweep || !this.running) return;
    this.cancelSweep = this.c.clock.setTimer(this.checkIntervalMs, () => {
      this.cancelSweep = undefined;
      for (const id of this.stopped) this.enqueue(id, () => this.check(id));
      void this.settled().then(() => {
        if (this.stopped.size > 0) this.scheduleSweep();
      });
    });
  }
}
