// Wires docker-restarts.ts to the router's attach flow: which containers it handles (Docker ones), how a
// restarted one is re-attached (attach-flow.ts, same addresses) and how a removed one is released
// (addresses freed, record and DNS names forgotten). The rule, as the README says: stop keeps, rm releases.
import type { Clock } from '../core/ports.js';
import type { Logger } from '../core/logger.js';
import type { ContainerRef } from '../core/ports.js';
import { DockerRestarts, type DockerState } from '../containers/docker-restarts.js';
import { kindOfId } from '../io/container-runtime.js';
import { reattachContainer, type AttachFlow } from './attach-flow.js';

export interface DockerLifecycleDeps {
  clock: Clock;
  logger: Logger;
  dockerState(id: string): Promise<DockerState>;
}

export class DockerLifecycle {
  readonly restarts: DockerRestarts;

  constructor(private readonly f: AttachFlow, deps: DockerLifecycleDeps) {
    this.restarts = new DockerRestarts({
      clock: deps.clock,
      logger: deps.logger,
      state: (id) => deps.dockerState(id),
      reattach: (id) => reattachContainer(this.f, id),
      release: async (id) => {
        this.f.ipam?.free(id);
        this.f.deathWatch.unwatch(id);
        await this.f.dns?.removeContainer(id);
        await this.f.attachments.forget(id);
        await this.f.ipam?.flushed();
      },
    });
    f.deathWatch.onEvent((ev) => this.restarts.event(ev));
  }

  /**
   * A watched container died. A Docker one is kept as stopped (its DNS names go at once: other hosts must
   * stop resolving it); returns false for the others (pid:N, netns), which the caller releases.
   */
  died(ref: ContainerRef): boolean {
    if (kindOfId(ref.id) !== 'docker') return false;
    void this.f.dns?.removeContainer(ref.id);
    this.restarts.died(ref.id);
    return true;
  }

  stop(): void {
    this.restarts.stop();
  }
}
