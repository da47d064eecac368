import type { AlertMonitor } from '../telemetry/alerts/monitor.js'
import type { Registry } from '../registry/registry.js'
import type { EventHub } from './event-hub.js'
import type { Bus } from '../messaging/bus.js'

/** The dead letters waiting in each named agent's mailbox (agents without any are left out). */
export async function countDeadLetters(bus: Bus, agents: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const agent of agents) {
    const n = (await bus.deadLetters(agent)).length
    if (n > 0) counts.set(agent, n)
  }
  return counts
}

/** Attaches `alerts` to an orchestrator's events, and to the dead letters of its registered agents. */
export function attachAlerts(
  alerts: AlertMonitor | undefined,
  hub: EventHub,
  bus: Bus,
  registry: Registry,
): (() => void) | undefined {
  return alerts?.attach({
    on: (type, listener) => hub.on(type, listener),
    emit: (e) => hub.deliver([e]),
    deadLetters: () => countDeadLetters(bus, [...new Set(registry.definitions().map((d) => d.name))]),
  })
}
