/**
 * Helpers shared by the runtime adapters: the {@link RuntimeExit} of a limit
 * or a crash, and the errors commands reject with around them.
 */
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { ResourceUsage, RuntimeExit } from './runtime.js'

/** Which limit an instance went over. */
export type LimitKind = 'memory' | 'cpu' | 'storage'

/** The exit of an instance stopped for going over a limit. */
export function limitExit(
  limit: LimitKind,
  reason: string,
  details: Readonly<Record<string, unknown>> = {},
): RuntimeExit {
  return { code: 'RESOURCE_LIMIT_EXCEEDED', reason, details: { limit, ...details } }
}

/** The error of an exit: what in-flight commands reject with. */
export function exitError(exit: RuntimeExit): FlotillaError {
  return new FlotillaError(exit.code, exit.reason, { details: exit.details })
}

/** What a command sent to an instance that already stopped on its own rejects with. */
export function deadError(instanceId: string, exit: RuntimeExit): FlotillaError {
  return new FlotillaError('AGENT_CRASHED', `Agent instance ${instanceId} has stopped (${exit.code}): ${exit.reason}`, {
    details: { instanceId, exit: exit.code, ...exit.details },
  })
}

/** What a command sent to a terminated instance rejects with. */
export function terminatedError(instanceId: string): FlotillaError {
  return new FlotillaError(
    'AGENT_TERMINATED',
    `Agent instance ${instanceId} was terminated; it takes no more commands.`,
    { details: { instanceId } },
  )
}

/** Why an instance refuses work: terminated, or stopped on its own; `undefined` while it is alive. */
export function refusalOf(
  instanceId: string,
  terminated: boolean,
  exit: RuntimeExit | undefined,
): FlotillaError | undefined {
  if (terminated) return terminatedError(instanceId)
  if (exit !== undefined) return deadError(instanceId, exit)
  return undefined
}

/** Throws `AGENT_STATE_INVALID` for an operation (`what`) on an instance that refuses work. */
export function assertAlive(instanceId: string, refused: FlotillaError | undefined, what: string): void {
  if (refused === undefined) return
  throw new FlotillaError('AGENT_STATE_INVALID', `Cannot ${what} agent instance ${instanceId}: ${refused.message}`, {
    details: { instanceId, cause: refused.code },
  })
}

/** The handles a runtime started and has not seen end, so `close()` can terminate them all. */
export class RuntimeHandles<H extends { start(): Promise<void>; terminate(reason?: string): Promise<void> }> {
  private readonly all = new Set<H>()

  /** Makes a handle (given the callback that forgets it when it ends), starts it, and keeps it once started. */
  async start(make: (forget: () => void) => H): Promise<H> {
    const handle: H = make(() => this.all.delete(handle))
    await handle.start()
    this.all.add(handle)
    return handle
  }

  /** Terminates every handle kept. */
  async terminateAll(reason: string): Promise<void> {
    await Promise.all([...this.all].map((h) => h.terminate(reason)))
  }
}

/** The error of an abort signal's reason: itself when a FlotillaError, else `TASK_CANCELLED`. */
export function abortReason(reason: unknown): FlotillaError {
  if (isFlotillaError(reason)) return reason
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
  return new FlotillaError('TASK_CANCELLED', `The command was cancelled: ${why}.`, { details: { reason: why } })
}

/** The `TASK_TIMEOUT` of a command that ran out of time. */
export function timeoutError(instanceId: string, timeoutMs: number): FlotillaError {
  return new FlotillaError(
    'TASK_TIMEOUT',
    `Agent instance ${instanceId} did not finish the command within ${timeoutMs} ms; raise timeoutMs or make it faster.`,
    {
      details: { instanceId, timeoutMs },
    },
  )
}

/** A usage snapshot with its numbers rounded for reports. */
export function usageDetails(usage: Partial<ResourceUsage>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(usage)) if (typeof v === 'number') out[k] = Math.round(v)
  return out
}

/** Resolves after `ms` without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
