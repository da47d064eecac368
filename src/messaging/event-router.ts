import { FlotillaError } from '../core/errors.js'
import type { BusEvent, EventFilter, EventHandler, Subscription } from './bus.js'
import { checkHandler, compileFilter, type CompiledFilter, matchesFilter } from './validate.js'

interface Sub {
  readonly filter: CompiledFilter
  readonly handler: EventHandler
  /** False once unsubscribed: a dispatch already under way skips it. */
  active: boolean
}

/**
 * The in-process side of publish/subscribe shared by the bus adapters:
 * subscriptions per event type (or `'*'`), filter matching and error
 * reporting. An adapter validates and copies the event, then calls
 * {@link EventRouter.dispatch}; handlers run synchronously, in subscription
 * order, and a throw or rejection goes to `onError`, never to the publisher.
 */
export class EventRouter {
  private readonly byType = new Map<string, Sub[]>()

  constructor(private readonly onError: (error: unknown, event: BusEvent) => void) {}

  /**
   * Adds a subscription after checking the type, the filter and the handler.
   *
   * @throws FlotillaError `VALIDATION_FAILED` naming the bad argument.
   */
  subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Subscription {
    checkEventType(type, true)
    const sub: Sub = { filter: compileFilter(filter), handler, active: true }
    checkHandler(handler)
    // Copy on write: a dispatch iterating the old array is not disturbed.
    this.byType.set(type, [...(this.byType.get(type) ?? []), sub])
    return {
      unsubscribe: async () => {
        if (!sub.active) return
        sub.active = false
        const rest = (this.byType.get(type) ?? []).filter((s) => s !== sub)
        if (rest.length === 0) this.byType.delete(type)
        else this.byType.set(type, rest)
      },
    }
  }

  /** Whether any subscription could receive an event of `type`. */
  has(type: string): boolean {
    return this.byType.has(type) || this.byType.has('*')
  }

  /** Whether there is no subscription at all. */
  isEmpty(): boolean {
    return this.byType.size === 0
  }

  /** Hands `event` to the matching subscribers of its type, then to those of `'*'`. */
  dispatch(event: BusEvent): void {
    const typed = this.byType.get(event.type)
    if (typed !== undefined) this.run(typed, event)
    const all = this.byType.get('*')
    if (all !== undefined) this.run(all, event)
  }

  /** Forgets every subscription. */
  clear(): void {
    for (const subs of this.byType.values()) for (const s of subs) s.active = false
    this.byType.clear()
  }

  private run(subs: readonly Sub[], event: BusEvent): void {
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i] as Sub
      if (!sub.active || !matchesFilter(sub.filter, event)) continue
      try {
        const r = sub.handler(event)
        if (r !== undefined && typeof (r as Promise<void>).then === 'function')
          (r as Promise<void>).then(undefined, (err: unknown) => this.onError(err, event))
      } catch (err) {
        this.onError(err, event)
      }
    }
  }
}

/**
 * Checks an event type: a non-empty string, and not `'*'` unless allowed
 * (subscriptions may use the wildcard; events may not).
 *
 * @throws FlotillaError `VALIDATION_FAILED`.
 */
export function checkEventType(type: unknown, allowWildcard: boolean): void {
  if (typeof type !== 'string' || type.trim() === '' || (type === '*' && !allowWildcard)) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Event type must be a non-empty string${allowWildcard ? '' : " other than '*'"}.`,
      { details: { field: 'type' } },
    )
  }
}
