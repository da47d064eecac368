import { z } from 'zod'
import { FlotillaError } from '../../core/errors.js'

/** One finished execution of an agent, as kept by {@link ExecutionHistory}. */
export interface ExecutionRecord {
  runId: string
  taskId: string
  /** 1 for the first attempt. */
  attempt: number
  /** Wall-clock milliseconds when the execution started. */
  startedAt: number
  durationMs: number
  ok: boolean
  /** The `FlotillaError` code of a failed execution. */
  errorCode?: string
}

/** Options of an {@link ExecutionHistory}. */
export interface ExecutionHistoryOptions {
  /** Executions kept per agent; older ones are dropped. @default 100 */
  capacity?: number
}

const optionsSchema = z.object({ capacity: z.number().int().min(1).max(1_000_000).optional() }).strict()

/** A fixed ring of the newest records. */
class Ring {
  readonly items: ExecutionRecord[] = []
  next = 0
  constructor(readonly capacity: number) {}

  push(record: ExecutionRecord): void {
    if (this.items.length < this.capacity) this.items.push(record)
    else this.items[this.next] = record
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1
  }

  /** Newest first, at most `limit`. */
  newest(limit: number): ExecutionRecord[] {
    const n = Math.min(limit, this.items.length)
    const out: ExecutionRecord[] = new Array<ExecutionRecord>(n)
    const size = this.items.length
    let i = (this.next - 1 + size) % size
    for (let k = 0; k < n; k++) {
      out[k] = { ...this.items[i] }
      i = i === 0 ? size - 1 : i - 1
    }
    return out
  }
}

/**
 * The recent executions of each agent, bounded: a ring of the last
 * `capacity` [100] executions per agent, so memory stays flat however long
 * the process runs. `record` is O(1).
 *
 * @example
 * ```ts
 * const history = new ExecutionHistory({ capacity: 50 })
 * history.record('scanner', { runId: 'run_1', taskId: 'scan', attempt: 1, startedAt: Date.now(), durationMs: 120, ok: true })
 * history.recent('scanner', 10) // newest first
 * ```
 */
export class ExecutionHistory {
  /** Executions kept per agent. */
  readonly capacity: number
  private readonly rings = new Map<string, Ring>()

  constructor(options: ExecutionHistoryOptions = {}) {
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Invalid execution history option "${parsed.error.issues[0]?.path.join('.')}": capacity must be a whole number from 1 to 1000000.`,
        {
          details: { path: parsed.error.issues[0]?.path.join('.') },
        },
      )
    }
    this.capacity = options.capacity ?? 100
  }

  /** Adds one finished execution of `agent` (a name, or `name@version`: the caller chooses the key), dropping its oldest beyond `capacity`. */
  record(agent: string, execution: ExecutionRecord): void {
    let ring = this.rings.get(agent)
    if (ring === undefined) this.rings.set(agent, (ring = new Ring(this.capacity)))
    ring.push(execution)
  }

  /** The last `limit` executions of `agent`, newest first (copies). @param limit @default capacity */
  recent(agent: string, limit: number = this.capacity): ExecutionRecord[] {
    const ring = this.rings.get(agent)
    if (ring === undefined || !(limit > 0)) return []
    return ring.newest(Math.floor(limit))
  }

  /** The agents with recorded executions, in order of their first one. */
  agents(): string[] {
    return [...this.rings.keys()]
  }

  /** Forgets the executions of `agent`, or of every agent. */
  clear(agent?: string): void {
    if (agent === undefined) this.rings.clear()
    else this.rings.delete(agent)
  }
}
