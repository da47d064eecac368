import { randomUUID } from 'node:crypto'
import type { Alert, AlertRaisedEvent, AlertResolvedEvent, FlotillaEvent } from '../../core/events.js'
import type { AlertRule } from './config.js'

/** An alert event the evaluator produced. */
export type AlertEvent = AlertRaisedEvent | AlertResolvedEvent

interface Active {
  alert: Alert
  rule: AlertRule
  /** `anomaly`: when the agent's latest anomaly came. */
  lastAt: number
}

const DEFAULT_WINDOW = { errorRate: 20, taskDurationP95: 50 } as const
const FINAL_RUN_EVENTS: ReadonlySet<string> = new Set(['run.succeeded', 'run.failed', 'run.cancelled'])

/** An agent's name from `name@version`. */
const agentName = (agent: string): string => {
  const at = agent.lastIndexOf('@')
  return at > 0 ? agent.slice(0, at) : agent
}

/** Pushes a sample into a bounded window. */
function push<T>(map: Map<string, T[]>, key: string, value: T, size: number): T[] {
  let list = map.get(key)
  if (list === undefined) map.set(key, (list = []))
  list.push(value)
  while (list.length > size) list.shift()
  return list
}

/** The 95th percentile (nearest rank) of samples. */
function p95(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]
}

const money = (usd: number): string => `$${usd.toFixed(usd < 1 ? 4 : 2)}`
const pct = (share: number): string => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %`

/**
 * The state machine of alerts: fed events (and, on each tick, the time and
 * the dead-letter counts), it raises an alert when a rule's value reaches
 * its threshold and resolves it when the value falls under
 * `threshold × (1 − hysteresis)` (or, for a run's cost and budget alerts,
 * when the run ends). Holds bounded windows only.
 */
export class AlertEvaluator {
  private readonly active = new Map<string, Active>()
  /** Per run: which agent runs which task now (from `task.started`). */
  private readonly running = new Map<string, Map<string, string>>()
  private readonly runCost = new Map<string, number>()
  /** Per `rule|agent`: the rule's window of outcomes (errorRate) or durations (p95). */
  private readonly samples = new Map<string, number[]>()
  /** Per hourlyCost rule: the costs of its window, oldest first. */
  private readonly costs = new Map<string, Array<{ at: number; usd: number }>>()

  constructor(private rules: readonly AlertRule[]) {}

  /** Alerts raised and not resolved. */
  raised(): Alert[] {
    return [...this.active.values()].map((a) => a.alert)
  }

  /** New rules: alerts of rules that were removed or changed are resolved; the windows start empty. */
  setRules(rules: readonly AlertRule[], now: number): AlertEvent[] {
    const out: AlertEvent[] = []
    const kept = new Map(rules.map((r) => [r.id, JSON.stringify(r)]))
    for (const [key, a] of this.active)
      if (kept.get(a.rule.id) !== JSON.stringify(a.rule)) this.resolve(key, now, a.alert.value, 'its rule changed', out)
    this.rules = rules
    this.samples.clear()
    this.costs.clear()
    return out
  }

  /** What an event does to the alerts. */
  observe(e: FlotillaEvent, now: number): AlertEvent[] {
    const out: AlertEvent[] = []
    switch (e.type) {
      case 'task.started': {
        let tasks = this.running.get(e.runId)
        if (tasks === undefined) this.running.set(e.runId, (tasks = new Map()))
        tasks.set(e.taskId, agentName(e.agent))
        break
      }
      case 'task.succeeded':
      case 'task.retrying':
      case 'task.failed': {
        const tasks = this.running.get(e.runId)
        const agent = tasks?.get(e.taskId)
        if (agent === undefined) break
        tasks!.delete(e.taskId)
        const ok = e.type === 'task.succeeded'
        for (const rule of this.rules) {
          if (rule.kind === 'errorRate') {
            const list = push(this.samples, `${rule.id}|${agent}`, ok ? 0 : 1, rule.window ?? DEFAULT_WINDOW.errorRate)
            if (list.length < (rule.minSamples ?? 5)) continue
            const failed = list.reduce((s, x) => s + x, 0)
            const rate = failed / list.length
            this.check(rule, { agent }, rate, now, out, () => {
              return `${agent}: ${pct(rate)} of its last ${list.length} attempts failed (threshold ${pct(rule.threshold)})`
            })
          } else if (rule.kind === 'taskDurationP95' && e.type === 'task.succeeded') {
            const list = push(
              this.samples,
              `${rule.id}|${agent}`,
              e.durationMs,
              rule.window ?? DEFAULT_WINDOW.taskDurationP95,
            )
            if (list.length < (rule.minSamples ?? 5)) continue
            const value = p95(list)
            this.check(rule, { agent }, value, now, out, () => {
              return `${agent}: p95 task duration ${Math.round(value)} ms over its last ${list.length} tasks (threshold ${rule.threshold} ms)`
            })
          }
        }
        break
      }
      case 'model.called': {
        if (e.replayed || e.costUsd === 0) break
        const cost = (this.runCost.get(e.runId) ?? 0) + e.costUsd
        this.runCost.set(e.runId, cost)
        for (const rule of this.rules) {
          if (rule.kind === 'runCost')
            this.check(rule, { run: e.runId }, cost, now, out, () => {
              return `run ${e.runId} spent ${money(cost)} on models (threshold ${money(rule.threshold)})`
            })
          else if (rule.kind === 'hourlyCost') {
            let list = this.costs.get(rule.id)
            if (list === undefined) this.costs.set(rule.id, (list = []))
            list.push({ at: now, usd: e.costUsd })
            this.hourly(rule, now, out)
          }
        }
        break
      }
      case 'budget.warning': {
        const share = e.limit > 0 ? e.spent / e.limit : 1
        for (const rule of this.rules)
          if (rule.kind === 'budget')
            this.check(
              rule,
              { agent: e.agent, run: e.runId },
              share,
              now,
              out,
              () => {
                return `${e.agent}: ${pct(share)} of its ${e.scope} budget of ${e.limit} ${e.measure} is spent (task ${e.taskId} of run ${e.runId})`
              },
              `${e.scope}.${e.measure}`,
            )
        break
      }
      case 'agent.anomaly': {
        const z = Math.abs(e.z)
        const agent = agentName(e.agent)
        for (const rule of this.rules) {
          if (rule.kind !== 'anomaly') continue
          const existing = this.active.get(keyOf(rule, { agent }))
          if (existing !== undefined) existing.lastAt = now
          else
            this.check(rule, { agent }, z, now, out, () => {
              return `${agent}: ${e.metric === 'latency' ? 'latency' : 'error rate'} ${e.value.toFixed(3)} departs from its baseline ${e.mean.toFixed(3)} (z = ${e.z.toFixed(1)})`
            })
        }
        break
      }
      default:
        if (FINAL_RUN_EVENTS.has(e.type) && 'runId' in e && e.runId !== undefined) this.runEnded(e.runId, now, out)
    }
    return out
  }

  /** What the passing of time and the dead letters do: hourly windows slide, quiet anomalies clear. */
  tick(now: number, deadLetters: ReadonlyMap<string, number> | undefined): AlertEvent[] {
    const out: AlertEvent[] = []
    for (const rule of this.rules) {
      if (rule.kind === 'hourlyCost') this.hourly(rule, now, out)
      else if (rule.kind === 'deadLetters' && deadLetters !== undefined) {
        for (const [agent, count] of deadLetters)
          this.check(rule, { agent }, count, now, out, () => {
            return `${agent}: ${count} dead letter${count === 1 ? '' : 's'} in its mailbox (threshold ${rule.threshold})`
          })
        for (const [key, a] of this.active)
          if (a.rule === rule && !deadLetters.has(a.alert.subject.agent ?? ''))
            this.resolve(key, now, 0, undefined, out)
      }
    }
    for (const [key, a] of this.active)
      if (a.rule.kind === 'anomaly' && now - a.lastAt >= (a.rule.clearAfterMs ?? 300_000))
        this.resolve(key, now, 0, 'no new anomaly since', out)
    return out
  }

  private hourly(rule: AlertRule, now: number, out: AlertEvent[]): void {
    const list = this.costs.get(rule.id) ?? []
    const windowMs = rule.windowMs ?? 3_600_000
    while (list.length > 0 && list[0].at <= now - windowMs) list.shift()
    const sum = list.reduce((s, c) => s + c.usd, 0)
    const minutes = Math.round(windowMs / 60_000)
    this.check(rule, {}, sum, now, out, () => {
      return `${money(sum)} spent on models over the last ${minutes} min (threshold ${money(rule.threshold)})`
    })
  }

  private runEnded(runId: string, now: number, out: AlertEvent[]): void {
    this.running.delete(runId)
    this.runCost.delete(runId)
    for (const [key, a] of this.active)
      if (a.alert.subject.run === runId && (a.rule.kind === 'runCost' || a.rule.kind === 'budget'))
        this.resolve(key, now, a.alert.value, 'the run ended', out)
  }

  private check(
    rule: AlertRule,
    subject: Alert['subject'],
    value: number,
    now: number,
    out: AlertEvent[],
    message: () => string,
    extra = '',
  ): void {
    const key = keyOf(rule, subject, extra)
    const existing = this.active.get(key)
    if (existing === undefined) {
      if (value <= 0 || value < rule.threshold) return
      const alert: Alert = {
        id: `alr_${randomUUID().replaceAll('-', '').slice(0, 20)}`,
        rule: rule.id,
        severity: rule.severity,
        state: 'raised',
        message: message(),
        subject,
        value,
        threshold: rule.threshold,
        raisedAt: now,
      }
      this.active.set(key, { alert, rule, lastAt: now })
      out.push({ type: 'alert.raised', at: now, alert: { ...alert, subject: { ...subject } } })
    } else if (value < rule.threshold * (1 - rule.hysteresis) && rule.kind !== 'anomaly') {
      this.resolve(key, now, value, undefined, out)
    }
  }

  private resolve(key: string, now: number, value: number, why: string | undefined, out: AlertEvent[]): void {
    const a = this.active.get(key)
    if (a === undefined) return
    this.active.delete(key)
    const alert: Alert = {
      ...a.alert,
      subject: { ...a.alert.subject },
      state: 'resolved',
      value,
      resolvedAt: now,
      message: `${a.alert.message} — resolved: ${why ?? `back under ${a.rule.threshold * (1 - a.rule.hysteresis)}`}`,
    }
    out.push({ type: 'alert.resolved', at: now, alert })
  }
}

function keyOf(rule: AlertRule, subject: Alert['subject'], extra = ''): string {
  return `${rule.id}|${subject.agent ?? ''}|${subject.run ?? ''}|${extra}`
}
