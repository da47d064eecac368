import type { AgentInstance } from '../registry/agent-instance.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { ReadyItem } from './ready-queue.js'
import { Fifo } from './fifo.js'
import { S, type RunExecution } from './run-execution.js'

interface CapabilitySlot {
  readonly limit: number
  active: number
  readonly parked: Fifo<ReadyItem<RunExecution>>
}

/**
 * Per-capability concurrency limits, and tasks parked until an agent
 * instance or a capability slot frees up. A release wakes one parked task
 * per freed slot (not all of them), so a long queue behind a busy agent costs
 * O(1) per release.
 */
export class Limits {
  private readonly slots = new Map<string, CapabilitySlot>()
  private readonly slotsOfPool = new WeakMap<AgentPool, CapabilitySlot[]>()
  private readonly parkedOnPool = new Map<AgentPool, Fifo<ReadyItem<RunExecution>>>()

  constructor(
    limits: Readonly<Record<string, number>>,
    private readonly requeue: (item: ReadyItem<RunExecution>) => void,
  ) {
    for (const [cap, limit] of Object.entries(limits)) this.slots.set(cap, { limit, active: 0, parked: new Fifo() })
  }

  private slotsOf(pool: AgentPool): CapabilitySlot[] {
    let slots = this.slotsOfPool.get(pool)
    if (slots === undefined) {
      const caps = pool.key.startsWith('capability:')
        ? [pool.key.slice('capability:'.length)]
        : (pool.instances[0]?.definition.capabilities ?? [])
      slots = caps.map((c) => this.slots.get(c)).filter((s): s is CapabilitySlot => s !== undefined)
      this.slotsOfPool.set(pool, slots)
    }
    return slots
  }

  /** Takes a slot of every limited capability of the pool, or parks the item and returns false. */
  tryTake(pool: AgentPool, item: ReadyItem<RunExecution>): boolean {
    if (this.slots.size === 0) return true
    const slots = this.slotsOf(pool)
    for (const s of slots) {
      if (s.active >= s.limit) {
        s.parked.push(item)
        return false
      }
    }
    for (const s of slots) s.active++
    return true
  }

  /** Gives back the capability slots taken by {@link Limits.tryTake}. */
  give(pool: AgentPool): void {
    if (this.slots.size === 0) return
    for (const s of this.slotsOf(pool)) {
      s.active--
      this.wakeOne(s.parked)
    }
  }

  /** Parks an item until an instance of the pool frees up. */
  park(pool: AgentPool, item: ReadyItem<RunExecution>): void {
    let list = this.parkedOnPool.get(pool)
    if (list === undefined) this.parkedOnPool.set(pool, (list = new Fifo()))
    list.push(item)
  }

  /** Every item parked, on pools and capability slots (some may belong to runs that ended since). */
  get parkedCount(): number {
    let n = 0
    for (const list of this.parkedOnPool.values()) n += list.length
    for (const s of this.slots.values()) n += s.parked.length
    return n
  }

  /** Items parked until an instance of the pool frees up (some may belong to runs that ended since). */
  parkedOn(pool: AgentPool): number {
    return this.parkedOnPool.get(pool)?.length ?? 0
  }

  /** An instance finished an execution: wake one parked item of each of its pools. */
  wake(instance: AgentInstance): void {
    if (this.parkedOnPool.size === 0) return
    for (const pool of instance.pools) {
      const list = this.parkedOnPool.get(pool)
      if (list !== undefined) {
        this.wakeOne(list)
        if (list.length === 0) this.parkedOnPool.delete(pool)
      }
    }
  }

  /** After a successful acquire: if the pool can still take work, wake one more parked item (a chain, O(1) per dispatch). */
  wakeMore(pool: AgentPool): void {
    const list = this.parkedOnPool.get(pool)
    if (list !== undefined && list.length > 0 && pool.hasAvailable) this.wakeOne(list)
  }

  /**
   * The pool refused a woken item (circuit open, no ready instance): no release
   * will follow, so pass the wake-up on to the next parked item, which meets the
   * same refusal and fails or retries instead of waiting forever.
   */
  wakeRefused(pool: AgentPool): void {
    const list = this.parkedOnPool.get(pool)
    if (list === undefined) return
    this.wakeOne(list)
    if (list.length === 0) this.parkedOnPool.delete(pool)
  }

  private wakeOne(list: Fifo<ReadyItem<RunExecution>>): void {
    while (list.length > 0) {
      const item = list.shift()!
      if (!item.run.finished && item.run.taskState[item.index] === S.READY) {
        this.requeue(item)
        return
      }
    }
  }
}
