// A task run again and again on the injected clock: `ms` after the previous run has finished (so two runs
// never overlap, however long one takes), until stopped. The periodic checks (firewall, bridge plumbing,
// underlay MTU, fastdp heartbeats) share it. The task must not reject (a rejection would be unhandled);
// each of them catches and logs its own failures.
import type { Clock } from './ports.js';

export class Repeater {
  private cancelTimer: (() => void) | undefined;
  private isStopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly ms: number,
    private readonly task: () => Promise<void>,
  ) {}

  /** True once stop() was called: a run in flight may check it to return early. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** Arms the first run, `ms` from now (nothing once stopped). */
  start(): void {
    if (this.isStopped) return;
    this.cancelTimer = this.clock.setTimer(this.ms, () => {
      void this.task().finally(() => this.start());
    });
  }

  /** No run starts after this; one in flight finishes and does not re-arm. */
  stop(): void {
    this.isStopped = true;
    this.cancelTimer?.();
  }
}
