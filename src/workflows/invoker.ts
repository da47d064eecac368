import type { AgentContext } from '../agents/context.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { RunId, TaskId } from '../core/ids.js'

/** One agent execution, as interceptors see it. */
export interface Invocation {
  /** The agent being run. */
  readonly definition: AnyAgentDefinition
  /** Its input, already checked against the agent's input schema. */
  readonly input: unknown
  /** The handler's context (signal, attempt, idempotency key, log, services). */
  readonly context: AgentContext
  readonly runId: RunId
  readonly taskId: TaskId
  readonly attempt: number
  /** The W3C `traceparent` of the run's span, when the run is traced: the attempt's span is its child. */
  readonly traceParent?: string | undefined
}

/** The rest of the chain, ending with the handler itself. */
export type InvokeNext = (call: Invocation) => Promise<unknown>

/**
 * Wraps every agent execution, in the style of Temporal's interceptors:
 * authorize, audit, meter, trace, change the input or the output, or refuse
 * by throwing. Call `next(call)` (or `next({ ...call, input })`) to go on.
 *
 * @example
 * ```ts
 * const timing: Interceptor = async (call, next) => {
 *   const t = Date.now()
 *   try { return await next(call) } finally { console.log(call.definition.name, Date.now() - t, 'ms') }
 * }
 * new Orchestrator({ interceptors: [timing] })
 * ```
 */
export type Interceptor = (call: Invocation, next: InvokeNext) => Promise<unknown>

/** Runs the handler: the end of every chain. */
const callHandler: InvokeNext = async (call) => call.definition.handler(call.input as never, call.context)

/**
 * Composes interceptors once (the first one listed runs outermost) into one
 * function that ends with the handler; nothing is allocated per call.
 * `undefined` when there are none, so callers keep their direct path.
 */
export function composeInterceptors(interceptors: readonly Interceptor[] | undefined): InvokeNext | undefined {
  if (interceptors === undefined || interceptors.length === 0) return undefined
  let next = callHandler
  for (let i = interceptors.length - 1; i >= 0; i--) {
    const interceptor = interceptors[i]
    const inner = next
    next = (call) => interceptor(call, inner)
  }
  return next
}
