import type { BusEvent } from '../messaging/bus.js'
import { encodeValue, type ParentMessage } from './process/protocol.js'
import type { RuntimeExit, RuntimeHooks } from './runtime.js'

/**
 * The part of a runtime handle that relays between an agent running
 * elsewhere (a child process, a pod) and the runtime's hooks: the agent's
 * events and service calls go to the hooks, bus events to the agent, and the
 * agent's subscriptions are tracked so that replacing its process or pod can
 * end them. A failing observer never breaks the channel.
 */
export class HookRelay {
  /** The agent's subscriptions: their handlers live in the current process or pod, so replacing it ends them. */
  private readonly subscriptions = new Set<string>()

  constructor(
    private readonly hooks: RuntimeHooks,
    /** The agent's name, in the log line of a failed delivery. */
    private readonly agent: string,
    /** What runs the agent (`agent process`, `agent pod`), in the same line. */
    private readonly where: string,
  ) {}

  /** Passes an event of the agent to the hooks. */
  onEvent(event: Parameters<RuntimeHooks['onEvent']>[0]): void {
    try {
      this.hooks.onEvent(event)
    } catch {
      // a failing observer must not break the channel
    }
  }

  /** Makes a service call of the agent through the hooks, tracking its subscriptions. */
  call(op: string, args: unknown): Promise<unknown> {
    const reply = this.hooks.call(op, args)
    const id = (args as { subscriptionId?: unknown } | null | undefined)?.subscriptionId
    if (typeof id === 'string' && op === 'subscribe')
      void reply.then(
        () => this.subscriptions.add(id),
        () => undefined,
      )
    if (typeof id === 'string' && op === 'unsubscribe') this.subscriptions.delete(id)
    return reply
  }

  /** Sends a bus event to the agent with `send`; a failure is logged as the agent's error. */
  deliver(subscriptionId: string, event: BusEvent, send: ((message: ParentMessage) => void) | undefined): void {
    try {
      send?.({ type: 'deliver', subscriptionId, event: { ...event, data: encodeValue(event.data) } })
    } catch (e) {
      this.onEvent({
        type: 'log',
        data: {
          agent: this.agent,
          level: 'error',
          message: `Event ${event.id} of subscription ${subscriptionId} cannot be sent to the ${this.where}: ${(e as Error).message}`,
        },
      })
    }
  }

  /** Reports the agent's exit to the hooks. */
  exit(exit: RuntimeExit): void {
    try {
      this.hooks.onExit(exit)
    } catch {
      // a failing observer must not break the runtime
    }
  }

  /** Ends the subscriptions of a process or pod being replaced: their handlers died with it. */
  dropSubscriptions(): void {
    for (const subscriptionId of this.subscriptions)
      this.hooks.call('unsubscribe', { subscriptionId }).catch(() => undefined)
    this.subscriptions.clear()
  }
}
