import { errorFields, noopLogger, type Logger } from '../telemetry/telemetry.js'
import { FlotillaError } from '../core/errors.js'
import type { RunId } from '../core/ids.js'
import { hostname } from 'node:os'
import { processAlive } from '../runtimes/reconcile.js'
import type { TaskQueue } from '../store/queue.js'
import type { Store } from '../store/store.js'
import type { Engine } from '../workflows/engine.js'

/** How often the embedded engine renews its runs' leases and looks for pause and cancel written elsewhere. */
export const CONTROL_POLL_MS = 500

/** A lease holder id naming this process, so that recovery on the same host can tell when its holder died: `orc:<pid>@<host>:<tag>`. */
export function localHolderId(tag: string): string {
  return `orc:${process.pid}@${hostname()}:${tag}`
}

/** True when `holder` names a process of this host that no longer runs (gone, or a zombie). */
export function holderIsDeadHere(holder: string): boolean {
  const m = /^orc:(\d+)@(.+):[^:]+$/.exec(holder)
  if (m === null || m[2] !== hostname()) return false
  const pid = Number(m[1])
  return pid !== process.pid && !processAlive(pid)
}

/**
 * The leases of the runs an Orchestrator executes on a durable store. The
 * runs it creates are stored held by it; every {@link CONTROL_POLL_MS} it
 * renews them in one call, which also brings their stored state back: a run
 * paused or cancelled by another process (`flotilla runs pause` in another
 * terminal, a Client, a worker) is stopped here within that time, and a run
 * whose lease it lost is let go. Recovery claims only runs nobody holds.
 */
export class RunLeases {
  private timer: NodeJS.Timeout | undefined
  private checking = false

  constructor(
    private readonly store: Store,
    private readonly queue: TaskQueue,
    private readonly engine: Engine,
    readonly holder: string,
    readonly leaseMs: number,
    private readonly logger: Logger = noopLogger,
  ) {}

  /** Starts the periodic renewal (does not keep the process alive). */
  start(): void {
    this.timer ??= setInterval(() => void this.check(), CONTROL_POLL_MS).unref()
  }

  /** Stops renewing, and lets go of the leases of `runIds` so another process may take them at once. */
  async stop(runIds: readonly RunId[]): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.queue
      .releaseRuns(this.holder, runIds)
      .catch((e: unknown) =>
        this.logger.warn(
          { ...errorFields(e), runIds },
          'could not let go of run leases on close; they run out after leaseMs',
        ),
      )
  }

  /**
   * Takes the leases of unfinished runs nobody holds (`only`: just those),
   * returning their ids. A run of `only` held by a live process is
   * `RUN_STATE_INVALID`, naming its holder.
   */
  async claim(only?: readonly RunId[]): Promise<RunId[]> {
    await this.freeDeadHolders(only)
    const leases = await this.queue.claimRuns(this.holder, only?.length ?? 100_000, this.leaseMs, only)
    const got = new Set(leases.map((l) => l.runId))
    for (const id of only ?? []) {
      if (got.has(id)) continue
      const { holder, leaseUntil } = await this.queue.runHolder(id)
      if (holder !== undefined && holder !== this.holder && leaseUntil > Date.now()) {
        throw new FlotillaError(
          'RUN_STATE_INVALID',
          `Run ${id} is executing in another process (${holder}); control it with pause or cancel, or wait for that process to stop.`,
          {
            details: { runId: id, holder },
          },
        )
      }
    }
    return leases.map((l) => l.runId)
  }

  /**
   * Releases the leases held by processes of this host that died (a
   * `kill -9` leaves its lease until it expires): recovery on the same host
   * need not wait for it. Holders on other hosts are left to their lease.
   */
  private async freeDeadHolders(only: readonly RunId[] | undefined): Promise<void> {
    const ids =
      only ??
      (await this.store.listRuns({ state: ['PENDING', 'RUNNING', 'PAUSED'], limit: Number.MAX_SAFE_INTEGER })).map(
        (r) => r.id,
      )
    for (const id of ids) {
      const { holder, leaseUntil } = await this.queue.runHolder(id)
      if (holder !== undefined && holder !== this.holder && leaseUntil > Date.now() && holderIsDeadHere(holder))
        await this.queue.releaseRuns(holder, [id])
    }
  }

  /** Lets go of one run's lease (it ended, or was stopped here). */
  release(runId: RunId): void {
    void this.queue
      .releaseRuns(this.holder, [runId])
      .catch((e: unknown) =>
        this.logger.warn({ ...errorFields(e), runId }, 'could not let go of a run lease; it runs out after leaseMs'),
      )
  }

  /** One renewal round: applies pause and cancel written elsewhere, lets go of runs whose lease was lost. */
  async check(): Promise<void> {
    if (this.checking) return
    const live = this.engine.liveRuns().filter((r) => !r.finished)
    if (live.length === 0) return
    this.checking = true
    try {
      const renewed = await this.queue.renewRuns(
        this.holder,
        live.map((r) => r.id),
        this.leaseMs,
      )
      const states = new Map(renewed.map((r) => [r.runId, r.state]))
      for (const run of live) {
        if (run.finished) continue
        const stored = states.get(run.id)
        if (stored === undefined) {
          // Not renewed: its creation may still be on its way to the store, or another process holds it now.
          const held = await this.queue.runHolder(run.id).catch(() => undefined)
          if (held !== undefined && held.holder !== undefined && held.holder !== this.holder && !run.finished)
            this.engine.detach(run, 'another process took over its lease')
        } else if ((stored === 'PAUSED' && run.state === 'RUNNING') || stored === 'CANCELLED') {
          this.engine.controlledElsewhere(run, stored)
          if (stored === 'PAUSED') this.release(run.id)
        } else if (stored === 'RUNNING' && run.state === 'PAUSED') {
          this.engine.resume(run)
        }
      }
    } catch (e) {
      // The store is unreachable for now: the next round tries again; the lease covers the gap.
      this.logger.warn(
        { ...errorFields(e), holder: this.holder },
        'renewing run leases failed; retrying at the next round',
      )
    } finally {
      this.checking = false
    }
  }
}
