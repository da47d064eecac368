import { isRunEvent, type FlotillaEvent, type RunEvent } from '../core/events.js'
import { errorFields, noopLogger, type Logger } from '../telemetry/telemetry.js'

/** An event listener. */
export type Listener<E> = (event: E) => void

/**
 * Fans stored events out to listeners by type, `*`, and run id. A listener
 * that throws does not stop the others (its error goes to the logger).
 */
export class EventHub {
  constructor(private readonly logger: Logger = noopLogger) {}

  private readonly byType = new Map<string, Set<Listener<FlotillaEvent>>>()
  private readonly byRun = new Map<string, Listener<RunEvent>>()
  private count = 0

  /** Listens to events of `type` (`*`: all); the listener's event type is the caller's to narrow. */
  on<E extends FlotillaEvent>(type: string, given: Listener<E>): () => void {
    const listener = given as Listener<FlotillaEvent>
    let set = this.byType.get(type)
    if (!set) this.byType.set(type, (set = new Set()))
    set.add(listener)
    this.count++
    return () => {
      if (set.delete(listener)) this.count--
    }
  }

  /** Listens to the events of one run. */
  onRun(runId: string, listener: Listener<RunEvent>): () => void {
    this.byRun.set(runId, listener)
    this.count++
    return () => {
      if (this.byRun.delete(runId)) this.count--
    }
  }

  deliver(events: readonly FlotillaEvent[]): void {
    if (this.count === 0) return
    const all = this.byType.get('*')
    for (const e of events) {
      const typed = this.byType.get(e.type)
      if (typed) for (const l of typed) this.call(l, e)
      if (all) for (const l of all) this.call(l, e)
      if (this.byRun.size > 0 && isRunEvent(e)) {
        const run = this.byRun.get(e.runId)
        if (run) this.call(run as Listener<FlotillaEvent>, e)
      }
    }
  }

  private call(listener: Listener<FlotillaEvent>, event: FlotillaEvent): void {
    try {
      listener(event)
    } catch (e) {
      this.logger.error(
        { ...errorFields(e), eventType: event.type, runId: 'runId' in event ? event.runId : undefined },
        'an event listener threw; the other listeners still got the event',
      )
    }
  }
}
