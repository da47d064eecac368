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
