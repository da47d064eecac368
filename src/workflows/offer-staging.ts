/**
 * The offers a worker's {@link Coordinator} stages for the task queue: which
 * agent (or fallback, or capability) and which pinned version each ready
 * attempt asks for, and the `run.waiting` event when no live worker offers
 * it. The coordinator writes the staged offers in one call per flush.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import type { RunEvent } from '../core/events.js'
import type { TaskId } from '../core/ids.js'
import { PRIORITIES } from '../core/states.js'
import { maxSatisfying } from '../registry/semver-range.js'
import type { QueueOffer, WorkerRecord } from '../store/queue.js'
import type { Held } from './held-run.js'
import { S } from './run-execution.js'

/** What an {@link OfferStaging} works with. */
export interface OfferStagingParts {
  readonly clock: Clock
  /** The live workers of the catalog. */
  readonly catalog: () => readonly WorkerRecord[]
  /** Commits and delivers informational events (`run.waiting`); a rejection is not retried. */
  readonly commit: (events: RunEvent[]) => Promise<unknown>
}

/** Offers staged and not yet written to the queue. */
export class OfferStaging {
  private offers: QueueOffer[] = []

  constructor(private readonly p: OfferStagingParts) {}

  /** Whether any offer waits to be written. */
  get empty(): boolean {
    return this.offers.length === 0
  }

  /** The staged offers, which are no longer staged. */
  take(): QueueOffer[] {
    const offers = this.offers
    this.offers = []
    return offers
  }

  /** Forgets the staged offers. */
  clear(): void {
    this.offers = []
  }

  /** Stages the next attempt of task `i`, not to start before `notBefore` (wall clock, 0: now); it counts as in flight. */
  stage(h: Held, i: number, notBefore: number): void {
    const run = h.run
    const task = run.workflow.tasks[i]
    const s = task.selector
    const agent = run.usingFallback[i] === 1 ? task.fallback : 'agent' in s ? s.agent : undefined
    const range = run.usingFallback[i] === 1 ? undefined : 'agent' in s ? s.version : undefined
    const version = range === undefined ? undefined : this.pin(agent!, range)
    h.inFlight++
    if (task.group !== undefined) h.groups.set(task.group.name, (h.groups.get(task.group.name) ?? 0) + 1)
    run.setState(i, S.READY)
    this.offers.push({
      runId: run.id,
      taskId: task.id as TaskId,
      attempt: run.attempts[i] + 1,
      agent,
      version,
      capability: agent === undefined && 'capability' in s ? s.capability : undefined,
      priority: PRIORITIES.indexOf(task.priority),
      rank: task.criticalPathLength,
      notBefore,
    })
    this.reportWaiting(h, i, agent, range, agent === undefined && 'capability' in s ? s.capability : undefined)
  }

  /** The highest version of `agent` a live worker has that satisfies `range`; the range itself when none does (the task then waits). */
  private pin(agent: string, range: string): string {
    const versions = this.p.catalog().flatMap((w) => w.agents.filter((a) => a.name === agent).map((a) => a.version))
    return maxSatisfying(versions, range) ?? range
  }

  /** Sends `run.waiting` once per task when no live worker offers what it needs. */
  private reportWaiting(
    h: Held,
    i: number,
    agent: string | undefined,
    range: string | undefined,
    capability: string | undefined,
  ): void {
    const workers = this.p.catalog()
    const served = workers.some((w) =>
      w.agents.some((a) =>
        agent !== undefined
          ? a.name === agent && (range === undefined || maxSatisfying([a.version], range) !== undefined)
          : a.capabilities.includes(capability!),
      ),
    )
    if (served || h.waiting.has(i)) return
    h.waiting.add(i)
    const run = h.run
    const needs =
      agent !== undefined ? `agent "${agent}"${range === undefined ? '' : ` (${range})`}` : `capability "${capability}"`
    const event: RunEvent = {
      type: 'run.waiting',
      at: this.p.clock.wallNow(),
      runId: run.id,
      taskId: run.workflow.tasks[i].id as TaskId,
      reason: `no live worker offers ${needs}: start a worker with that agent (flotilla worker --agents …)`,
      ...(agent !== undefined ? { agent } : {}),
      ...(capability !== undefined ? { capability } : {}),
    }
    // Informational: when the store is down, the task waits all the same and the event is not sent.
    this.p.commit([event]).catch(() => h.waiting.delete(i))
  }
}
