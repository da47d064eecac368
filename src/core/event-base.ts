/**
 * The fields every `FlotillaEvent` shares: {@link EventBase} for all
 * of them, {@link RunEventBase} for those of a run. The event types
 * themselves live per area (`run-events.ts`, `model-events.ts`,
 * `team-events.ts`); `events.ts` joins them into unions.
 */
import type { RunId } from './ids.js'

/** Fields every event has. */
export interface EventBase {
  /** Wall-clock milliseconds since the epoch. */
  at: number
  /**
   * Who acted, when a principal did: `key:<id>` (an API key), `cli`,
   * `agent:<name>`, or what the caller passed as `actor`. Absent for what
   * the engine did by itself (a retry, a task finishing).
   */
  actor?: string
}

/** Fields every event of a run has. */
export interface RunEventBase extends EventBase {
  runId: RunId
}
