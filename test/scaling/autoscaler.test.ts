import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { Autoscaler, type ScalingTarget } from '../../src/orchestrator/autoscaler.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { resolveScaling } from '../../src/agents/scaling.js'
import type { Logger } from '../../src/telemetry/telemetry.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { workflow } from '../../src/workflows/builder.js'
import { agent, flush, Gates } from '../orchestrator/helpers.js'

function burst(n: number) {
  let b = workflow('burst') as ReturnType<typeof workflow>
  for (let i = 0; i < n; i++) b = b.task(`t${i}`, { agent: 'slow', input: { i } }) as never
  return b.build()
}

async function setup(scaling: Record<string, number>) {
  const clock = new FakeClock()
  const orch = new Orchestrator({ store: new MemoryStore(), clock, scalingIntervalMs: 100 })
  const gates = new Gates()
  const scaled: AgentScaledEvent[] = []
  orch.on('agent.scaled', (e) => scaled.push(e))
  await orch.register(
    agent('slow', (input) => gates.pass(`t${(input as { i: number }).i}`, 'done'), {
      maxConcurrency: 1,
      scaling: scaling as never,
    }),
  )
  const count = () => orch.registry.instances().filter((i) => i.definition.name === 'slow').length
  return { clock, orch, gates, scaled, count }
}

describe('auto-scaling of an in-process agent', () => {
  it('starts min instances, adds up to the queue depth (never over max), removes idle ones after the cooldown', async () => {
    const { clock, orch, gates, scaled, count } = await setup({ min: 1, max: 3, cooldownMs: 5000 })
    expect(count()).toBe(1)
    const h = orch.start(burst(6))
    await flush()
    expect(gates.current).toBe(1)
    await clock.advance(100)
    await flush()
    expect(scaled).toEqual([expect.objectContaining({ agent: 'slow', from: 1, to: 3 })])
    expect(scaled[0].reason).toMatch(/5 attempts waiting, over 1 per instance/)
    expect(count()).toBe(3)
    // The new instances took waiting attempts at once, not at the next release.
    expect(gates.current).toBe(3)
    expect(gates.max).toBe(3)
    await gates.drive(h.result, () => void clock.advance(0))
    expect((await h.result).state).toBe('SUCCEEDED')
    expect(gates.max).toBe(3)

    // Idle: nothing removed before the cooldown, then one instance per check down to min.
    await clock.advance(4000)
    await flush()
    expect(count()).toBe(3)
    await clock.advance(1200)
    await flush()
    await clock.advance(100)
    await flush()
    await clock.advance(100)
    await flush()
    expect(count()).toBe(1)
    expect(scaled.slice(1).map((e) => [e.from, e.to])).toEqual([
      [3, 2],
      [2, 1],
    ])
    expect(scaled[1].reason).toMatch(/idle for \d+ ms/)
    await orch.close()
  })

  it('adds one instance when work waits longer than maxWaitMs below the queue depth', async () => {
    const { clock, orch, gates, scaled, count } = await setup({ min: 1, max: 2, targetQueueDepth: 4, maxWaitMs: 300 })
    const h = orch.start(burst(3))
    await flush()
    await clock.advance(200)
    await flush()
    expect(scaled).toEqual([])
    await clock.advance(300)
    await flush()
    expect(scaled.map((e) => [e.from, e.to])).toEqual([[1, 2]])
    expect(scaled[0].reason).toMatch(/attempts waiting for \d+ ms/)
    expect(count()).toBe(2)
    await gates.drive(h.result)
    await orch.close()
  })

  it('removes only idle instances: a busy one is never stopped', async () => {
    const { clock, orch, gates, count } = await setup({ min: 1, max: 2, cooldownMs: 100 })
    const h = orch.start(burst(3))
    await flush()
    await clock.advance(100)
    await flush()
    expect(count()).toBe(2)
    // Both instances are busy for a long time: no removal however long it takes.
    await clock.advance(1000)
    await flush()
    expect(count()).toBe(2)
    expect(gates.current).toBe(2)
    await gates.drive(h.result)
    await orch.close()
  })
})

describe('an autoscaler whose demand is read from elsewhere (a worker and its shared queue)', () => {
  function target(instances: { id: string; active: number; calls: number }[], demand: { n: number; ageMs: number }) {
    const t: ScalingTarget = {
      agent: 'ocr',
      scaling: resolveScaling({ min: 1, max: 4, targetQueueDepth: 4, maxWaitMs: 100 }, 'ocr'),
      instances: () => instances,
      waiting: () => demand.n,
      waitingForMs: () => demand.ageMs,
      add: async () => void instances.push({ id: `i${instances.length}`, active: 1, calls: 1 }),
      remove: async () => false,
    }
    return t
  }

  it('adds one for the age the target reports, then waits maxWaitMs after the add before the next', async () => {
    const clock = new FakeClock()
    const events: AgentScaledEvent[] = []
    const instances = [{ id: 'i0', active: 1, calls: 1 }]
    const demand = { n: 1, ageMs: 0 }
    const scaler = new Autoscaler({ clock, onScaled: (e) => void events.push(e), intervalMs: 1_000_000 })
    scaler.watch(target(instances, demand))
    await scaler.check()
    expect(events).toEqual([])
    // Offered long ago (another worker's queue, before this worker's first check): added at once.
    demand.ageMs = 5000
    await scaler.check()
    expect(events.map((e) => [e.from, e.to])).toEqual([[1, 2]])
    expect(events[0].reason).toBe('attempts waiting for 5000 ms')
    // Still as old, but the instance added just now gets its maxWaitMs to take it.
    await clock.advance(50)
    await scaler.check()
    expect(events).toHaveLength(1)
    await clock.advance(50)
    await scaler.check()
    expect(events.map((e) => [e.from, e.to])).toEqual([
      [1, 2],
      [2, 3],
    ])
    scaler.stop()
  })

  it('a failed refresh skips the check, said once until a refresh succeeds', async () => {
    const clock = new FakeClock()
    const events: AgentScaledEvent[] = []
    const warnings: string[] = []
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (_d, m) => void warnings.push(m),
      error: () => undefined,
      child: () => logger,
    }
    const demand = { n: 0, ageMs: 0 }
    let down = true
    const scaler = new Autoscaler({
      clock,
      logger,
      intervalMs: 1_000_000,
      onScaled: (e) => void events.push(e),
      refresh: async () => {
        if (down) throw new Error('store down')
        Object.assign(demand, { n: 9, ageMs: 10 })
      },
    })
    scaler.watch(target([{ id: 'i0', active: 1, calls: 1 }], demand))
    await scaler.check()
    await scaler.check()
    expect(warnings).toEqual(['auto-scaling could not read the demand; no change until it can'])
    expect(events).toEqual([])
    down = false
    await scaler.check()
    expect(events.map((e) => [e.from, e.to])).toEqual([[1, 3]])
    expect(warnings).toHaveLength(1)
    scaler.stop()
  })
})
