import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Logger } from '../../src/telemetry/telemetry.js'
import { workflow } from '../../src/workflows/builder.js'

const slow = defineAgent({
  name: 'slow',
  maxConcurrency: 1,
  scaling: { min: 1, max: 4, cooldownMs: 60_000 },
  handler: () => new Promise((r) => setTimeout(() => r('ok'), 200)),
})

let root: string | undefined
afterEach(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

describe('auto-scaling on a durable store', () => {
  it('an Orchestrator on SQLite scales a registered agent from the attempts waiting for it', async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-durable-scaling-'))
    const o = new Orchestrator({ store: join(root, 'f.db'), scalingIntervalMs: 50 })
    const scaled: AgentScaledEvent[] = []
    o.on('agent.scaled', (e) => scaled.push(e))
    try {
      await o.register(slow)
      let b = workflow('burst') as ReturnType<typeof workflow>
      for (let i = 0; i < 8; i++) b = b.task(`t${i}`, { agent: 'slow' }) as never
      const result = await o.run(b.build())
      expect(result.state).toBe('SUCCEEDED')
      expect(scaled[0]).toMatchObject({ agent: 'slow', from: 1 })
      expect(scaled[0]!.to).toBeGreaterThan(1)
    } finally {
      await o.close()
    }
  }, 60_000)
})

describe('auto-scaling and `flotilla worker`', () => {
  // Scaling in a worker itself: test/scaling/worker-scaling.test.ts.
  it('a worker registering a scaled agent with { instances } keeps that fixed count: no scaling, no warning', async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-worker-scaling-'))
    const store = SqliteStore.open({ path: join(root, 'w.db') })
    const warnings: string[] = []
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (_data, message) => void warnings.push(message),
      error: () => undefined,
      child: () => logger,
    }
    let active = 0
    let most = 0
    const counted = defineAgent({
      name: 'slow',
      maxConcurrency: 1,
      scaling: { min: 1, max: 4, maxWaitMs: 50, cooldownMs: 60_000 },
      handler: async () => {
        most = Math.max(most, ++active)
        await new Promise((r) => setTimeout(r, 150))
        active--
        return 'ok'
      },
    })
    const w = new Worker({ store, id: 'w-fixed', leaseMs: 3000, pollMs: 20, telemetry: { logger } })
    const scaled: AgentScaledEvent[] = []
    w.on('agent.scaled', (e) => void scaled.push(e))
    try {
      const instances = await w.register(counted, { instances: 2 })
      expect(instances).toHaveLength(2)
      await w.start()
      let b = workflow('burst') as ReturnType<typeof workflow>
      for (let i = 0; i < 8; i++) b = b.task(`t${i}`, { agent: 'slow' }) as never
      const client = await Client.connect(store)
      const runId = await client.start(b.build())
      const run = await client.result(runId, { timeoutMs: 30_000 })
      expect(run.state).toBe('SUCCEEDED')
      // Two instances of one slot each: never more than two at once, however long the others waited.
      expect(most).toBe(2)
      expect(scaled).toEqual([])
      expect(w.registry.instances().filter((i) => i.definition.name === 'slow')).toHaveLength(2)
      expect(warnings).toEqual([])
    } finally {
      await w.stop({ drainMs: 1000 })
      await store.close()
    }
  }, 60_000)
})
