import { systemClock, type Clock } from '../../core/clock.js'
import type { Alert, FlotillaEvent } from '../../core/events.js'
import { errorFields, noopLogger, type Logger } from '../telemetry.js'
import { parseAlertsConfig, type AlertRuleInput, type AlertsConfig, type AlertWebhookConfig } from './config.js'
import { AlertEvaluator, type AlertEvent } from './evaluator.js'
import { AlertWebhook, type WebhookOutcome } from './webhook.js'

/** Options of an {@link AlertMonitor}. */
export interface AlertMonitorOptions {
  /** The rules (validated: a bad one throws `ALERTS_CONFIG_INVALID` naming the field). @default none */
  rules?: readonly AlertRuleInput[]
  /** Where alert events are POSTed, signed and retried. @default none */
  webhook?: AlertWebhookConfig
  /** Where webhook failures and listener errors go. @default a no-op logger */
  logger?: Logger
  clock?: Clock
  /** How often time-based rules (hourly cost, quiet anomalies, dead letters) are evaluated, in ms. @default 1000 */
  tickMs?: number
  /** Resolved alerts kept for {@link AlertMonitor.alerts}, newest first. @default 500 */
  keepResolved?: number
  /** Told the outcome of each webhook delivery (for metrics and tests). */
  onWebhook?: (outcome: WebhookOutcome) => void
}

/**
 * Where an {@link AlertMonitor} hears events: an `Orchestrator`, a `Worker`,
 * or anything with `on('*', listener)`. `emit` (optional) gets the alert
 * events back into the source's own listeners; `deadLetters` (optional) counts
 * the dead letters per agent on each tick.
 */
export interface AlertSource {
  on(type: '*', listener: (event: FlotillaEvent) => void): () => void
  emit?(event: AlertEvent): void
  deadLetters?(): Promise<ReadonlyMap<string, number>>
}

/**
 * Watches events against alert rules and raises and resolves alerts
 * (`alert.raised` / `alert.resolved` events, the optional webhook). Pass it
 * to an Orchestrator (`new Orchestrator({ alerts: monitor })`) or give it
 * events yourself with {@link AlertMonitor.observe}; `flotilla serve
 * --alerts <file>` runs one over the store's events.
 *
 * @example
 * ```ts
 * import { AlertMonitor, Orchestrator } from 'flotilla'
 * const alerts = new AlertMonitor({ rules: [{ kind: 'errorRate', threshold: 0.5, severity: 'critical' }] })
 * const orchestrator = new Orchestrator({ store: 'memory', alerts })
 * orchestrator.on('alert.raised', (e) => console.log(e.alert.message))
 * await orchestrator.close()
 * console.log(alerts.alerts().length) // 0
 * ```
 */
export class AlertMonitor {
  private config: AlertsConfig
  private readonly evaluator: AlertEvaluator
  private webhook: AlertWebhook | undefined
  private readonly listeners = new Set<(event: AlertEvent) => void>()
  private readonly sources = new Set<AlertSource>()
  private readonly resolved: Alert[] = []
  private readonly clock: Clock
  private readonly logger: Logger
  private timer: NodeJS.Timeout | undefined
  private ticking = false

  constructor(private readonly options: AlertMonitorOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.logger = options.logger ?? noopLogger
    this.config = parseAlertsConfig({
      rules: options.rules ?? [],
      ...(options.webhook === undefined ? {} : { webhook: options.webhook }),
    })
    this.evaluator = new AlertEvaluator(this.config.rules)
    this.webhook = this.newWebhook(this.config.webhook)
  }

  /** The rules and webhook in force (defaults filled in). */
  rules(): AlertsConfig {
    return structuredClone(this.config)
  }

  /**
   * Replaces the rules and webhook (validated first: `ALERTS_CONFIG_INVALID`
   * names the bad field, and nothing changes). Alerts of removed or changed
   * rules are resolved; the measuring windows start empty.
   */
  setRules(config: unknown): AlertsConfig {
    const next = parseAlertsConfig(config)
    const before = this.config.webhook
    this.config = next
    if (JSON.stringify(next.webhook) !== JSON.stringify(before)) {
      void this.webhook?.close()
      this.webhook = this.newWebhook(next.webhook)
    }
    this.publish(this.evaluator.setRules(next.rules, this.clock.wallNow()))
    return this.rules()
  }

  /** Raised alerts (newest first), then the latest resolved ones (newest first). */
  alerts(filter: { state?: Alert['state'] } = {}): Alert[] {
    const raised = filter.state === 'resolved' ? [] : this.evaluator.raised().sort((a, b) => b.raisedAt - a.raisedAt)
    return [...raised, ...(filter.state === 'raised' ? [] : this.resolved)].map((a) => structuredClone(a))
  }

  /** Listens to `alert.raised` and `alert.resolved`; returns the unsubscribe function. */
  on(listener: (event: AlertEvent) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  /** Takes one event into account (alert events are ignored). */
  observe(event: FlotillaEvent): void {
    if (event.type === 'alert.raised' || event.type === 'alert.resolved') return
    this.publish(this.evaluator.observe(event, this.clock.wallNow()))
  }

  /** Evaluates the time-based rules now (done every `tickMs` while attached). */
  async evaluate(): Promise<void> {
    const counts = new Map<string, number>()
    let polled = false
    for (const s of this.sources) {
      if (s.deadLetters === undefined) continue
      try {
        for (const [agent, n] of await s.deadLetters()) counts.set(agent, (counts.get(agent) ?? 0) + n)
        polled = true
      } catch (e) {
        this.logger.warn(errorFields(e), 'counting dead letters for the alerts failed; the next tick tries again')
      }
    }
    this.publish(this.evaluator.tick(this.clock.wallNow(), polled ? counts : undefined))
  }

  /** Hears the events of a source (and evaluates time-based rules every `tickMs`); returns the detach function. */
  attach(source: AlertSource): () => void {
    const off = source.on('*', (e) => this.observe(e))
    this.sources.add(source)
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        if (this.ticking) return
        this.ticking = true
        this.evaluate().finally(() => (this.ticking = false))
      }, this.options.tickMs ?? 1000)
      this.timer.unref()
    }
    return () => {
      off()
      this.sources.delete(source)
      if (this.sources.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer)
        this.timer = undefined
      }
    }
  }

  /** Stops the timer and waits for the webhook's queued deliveries (at most `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.sources.clear()
    await this.webhook?.close(graceMs)
  }

  private newWebhook(config: AlertWebhookConfig | undefined): AlertWebhook | undefined {
    return config === undefined ? undefined : new AlertWebhook(config, this.logger, this.options.onWebhook)
  }

  private publish(events: readonly AlertEvent[]): void {
    for (const e of events) {
      if (e.type === 'alert.resolved') {
        this.resolved.unshift(e.alert)
        if (this.resolved.length > (this.options.keepResolved ?? 500)) this.resolved.pop()
      }
      this.webhook?.send(e)
      for (const l of [...this.listeners, ...[...this.sources].flatMap((s) => (s.emit ? [s.emit.bind(s)] : []))]) {
        try {
          l(e)
        } catch (err) {
          this.logger.error({ ...errorFields(err), eventType: e.type }, 'an alert listener threw')
        }
      }
    }
  }
}
