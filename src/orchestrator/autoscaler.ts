import type { Clock, TimerHandle } from '../core/clock.js'
import type { AgentScaledEvent } from '../core/events.js'
import { decideScaling, type ResolvedScaling, type ScalingDecision } from '../agents/scaling.js'
import { errorFields, noopLogger, type Logger } from '../telemetry/telemetry.js'

/** One instance of a scaled agent, as the autoscaler sees it. */
export interface ScaledInstance {
  readonly id: string
  /** Executions in flight. */
  readonly active: number
  /** Executions ever started (a change since the last check means it worked meanwhile). */
  readonly calls: number
}

/**
 * Something the {@link Autoscaler} grows and shrinks: the instances of one
 * agent (registered in process, or deployed as processes or pods).
 */
export interface ScalingTarget {
  readonly agent: string
  readonly scaling: ResolvedScaling
  instances(): readonly ScaledInstance[]
  /** Ready attempts waiting for a free instance. */
  waiting(): number
  /**
   * How long the oldest of them has waited, in ms, when the target knows it
   * (a worker reads it from the shared queue): then work that waited
   * `maxWaitMs` since it was offered (and since the last instance was
   * added) adds one. Without it the autoscaler counts from the first check
   * that saw work waiting.
   */
  waitingForMs?(): number
  /** Starts one more instance; a throw leaves the count as it was. */
  add(): Promise<void>
  /** Removes instance `id` if it is still idle; false when it was not. */
  remove(id: string): Promise<boolean>
  /**
   * The limits of the agent's tree: how many of the `wanted` instances fit
   * (at least `from`), and which limit stops the rest; `undefined` when all
   * fit. Without it only `max` bounds the count.
   */
  fit?(from: number, wanted: number): { to: number; reason: string } | undefined
}

/** Options of an {@link Autoscaler}. */
export interface AutoscalerOptions {
  clock: Clock
  /** Time between two checks, in ms. @default 250 */
  intervalMs?: number
  /** Hears every change. */
  onScaled: (event: AgentScaledEvent) => void
  logger?: Logger
  /**
   * Runs before each check, for targets whose demand is read from elsewhere
   * (a worker reads the shared queue here, once for all its agents). A
   * failure skips the check; it is logged once until a refresh succeeds.
   */
  refresh?: () => Promise<void>
}

interface Watched {
  readonly target: ScalingTarget
  /** Per instance: since when it is idle (clock ms), and its call count at the last check. */
  readonly idleSince: Map<string, { since: number; calls: number }>
  waitingSince: number | undefined
  lastAddAt: number
  busy: boolean
  /** The last scale-up skipped for the limits (`from→wanted: reason`), reported once until the count changes. */
  skipped: string | undefined
}

/**
 * Checks every scaled agent every `intervalMs` and applies the policy of
 * {@link decideScaling}: adds instances when attempts wait, removes an idle
 * one after `cooldownMs`, never outside `[min, max]`. Each change is an
 * `agent.scaled` event. One change at a time per agent; a failed add or
 * remove is logged and tried again at a later check.
 */
export class Autoscaler {
  private readonly watched = new Map<string, Watched>()
  private timer: TimerHandle | undefined
  private stopped = false
  private readonly intervalMs: number
  private readonly logger: Logger
  /** The last refresh failed (logged once). */
  private refreshFailed = false

  constructor(private readonly o: AutoscalerOptions) {
    this.intervalMs = o.intervalMs ?? 250
    this.logger = o.logger ?? noopLogger
  }

  /** Starts scaling `target` (replacing a target of the same agent); checks start with the first target. */
  watch(target: ScalingTarget): void {
    this.watched.set(target.agent, {
      target,
      idleSince: new Map(),
      waitingSince: undefined,
      lastAddAt: -Infinity,
      busy: false,
      skipped: undefined,
    })
    this.schedule()
  }

  /** Stops scaling `agent`; its instances stay as they are. */
  unwatch(agent: string): void {
    this.watched.delete(agent)
  }

  /** The agents scaled now. */
  agents(): string[] {
    return [...this.watched.keys()]
  }

  /** Checks every agent once now and applies the decisions (also what the timer does). Resolves when they are applied. */
  async check(): Promise<void> {
    if (this.o.refresh !== undefined && this.watched.size > 0) {
      try {
        await this.o.refresh()
        this.refreshFailed = false
      } catch (e) {
        if (!this.refreshFailed)
          this.logger.warn(errorFields(e), 'auto-scaling could not read the demand; no change until it can')
        this.refreshFailed = true
        return
      }
    }
    await Promise.all([...this.watched.values()].map((w) => this.checkOne(w)))
  }

  /** Stops the checks. */
  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined || this.watched.size === 0) return
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = undefined
      void this.check().finally(() => this.schedule())
    }, this.intervalMs)
    // A check is no reason to keep the process alive.
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private async checkOne(w: Watched): Promise<void> {
    if (w.busy) return
    const now = this.o.clock.now()
    const t = w.target
    const instances = t.instances()
    if (instances.length === 0) return void this.watched.delete(t.agent) // unregistered
    const waiting = t.waiting()
    w.waitingSince = waiting > 0 ? (w.waitingSince ?? now) : undefined
    let idle = 0
    let idlest: string | undefined
    let idleForMs = 0
    const seen = new Set<string>()
    for (const inst of instances) {
      seen.add(inst.id)
      const prev = w.idleSince.get(inst.id)
      if (inst.active > 0 || prev === undefined || prev.calls !== inst.calls) {
        w.idleSince.set(inst.id, { since: now, calls: inst.calls })
        if (inst.active > 0) continue
      }
      idle++
      const since = w.idleSince.get(inst.id)!.since
      if (idlest === undefined || now - since > idleForMs) {
        idlest = inst.id
        idleForMs = now - since
      }
    }
    for (const id of w.idleSince.keys()) if (!seen.has(id)) w.idleSince.delete(id)
    const decision = decideScaling(t.scaling, {
      instances: instances.length,
      waiting,
      waitingForMs:
        t.waitingForMs === undefined
          ? w.waitingSince === undefined
            ? 0
            : now - w.waitingSince
          : waiting > 0
            ? Math.min(t.waitingForMs(), now - w.lastAddAt)
            : 0,
      idle,
      idleForMs,
      sinceAddMs: now - w.lastAddAt,
    })
    if (decision === undefined) return
    const fitted = this.fit(w, decision)
    if (fitted === undefined) return
    w.busy = true
    try {
      await this.apply(w, fitted, idlest)
    } finally {
      w.busy = false
    }
  }

  /**
   * A scale-up cut to what the limits of the agent's tree allow (`wanted`
   * set); a scale-up none of which fits is skipped with one event saying
   * why (again only after the count or the reason changed).
   */
  private fit(w: Watched, d: ScalingDecision): (ScalingDecision & { wanted?: number }) | undefined {
    if (d.to <= d.from || w.target.fit === undefined) return d
    const cap = w.target.fit(d.from, d.to)
    if (cap === undefined || cap.to >= d.to) return d
    const reason = `${d.reason}; ${cap.reason}`
    if (cap.to > d.from) return { from: d.from, to: cap.to, wanted: d.to, reason }
    const key = `${d.from}→${d.to}: ${cap.reason}`
    if (w.skipped !== key) {
      w.skipped = key
      this.emit(w.target.agent, { from: d.from, to: d.from, wanted: d.to, reason: `scale-up skipped: ${reason}` })
    }
    return undefined
  }

  private emit(agent: string, d: ScalingDecision & { wanted?: number }): void {
    this.o.onScaled({
      type: 'agent.scaled',
      at: this.o.clock.wallNow(),
      agent,
      from: d.from,
      to: d.to,
      reason: d.reason,
      ...(d.wanted === undefined ? {} : { wanted: d.wanted }),
    })
  }

  private async apply(w: Watched, d: ScalingDecision & { wanted?: number }, idlest: string | undefined): Promise<void> {
    const t = w.target
    let to = d.from
    try {
      if (d.to > d.from) for (; to < d.to; to++) await t.add()
      else if (idlest !== undefined && (await t.remove(idlest))) {
        to = d.from - 1
        w.idleSince.delete(idlest)
      }
    } catch (e) {
      this.logger.error(
        { ...errorFields(e), agent: t.agent },
        `auto-scaling of "${t.agent}" could not go from ${d.from} to ${d.to} instances; the next check tries again`,
      )
    }
    if (to > d.from) {
      w.lastAddAt = this.o.clock.now()
      w.waitingSince = undefined
    }
    if (to !== d.from) {
      w.skipped = undefined
      this.emit(t.agent, { ...d, to })
    }
  }
}
