import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { ref, workflow } from '../../src/workflows/builder.js'

const ok = defineAgent({ name: 'ok', handler: async (input: { v?: unknown }) => ({ got: input?.v ?? null }) })
const broken = defineAgent({
  name: 'broken',
  handler: async () => {
    throw new Error('always')
  },
})

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

for (const kind of ['memory', 'sqlite'] as const) {
  describe(`dependencies: any on workers (${kind})`, () => {
    it('the coordinator starts an any-task on an upstream success and skips one whose upstream tasks all failed', async () => {
      let store: Store
      if (kind === 'memory') store = new MemoryStore()
      else {
        const dir = mkdtempSync(join(tmpdir(), 'flotilla-any-workers-'))
        const sqlite = SqliteStore.open({ path: join(dir, 'w.db') })
        cleanups.push(async () => {
          await sqlite.close()
          rmSync(dir, { recursive: true, force: true })
        })
        store = sqlite
      }
      const w = new Worker({ store, id: 'w0', leaseMs: 3000, pollMs: 20 })
      for (const a of [ok, broken]) await w.register(a)
      await w.start()
      cleanups.push(() => w.stop({ drainMs: 1000 }))
      const wf = workflow('any-dist')
        .task('a', { agent: 'broken', continueOnFailure: true })
        .task('b', { agent: 'ok', input: { v: 'b' } })
        .task('c', { agent: 'ok', dependencies: 'any', input: { v: ref('b', 'got') }, dependsOn: ['a'] })
        .task('x', { agent: 'broken', continueOnFailure: true })
        .task('y', { agent: 'ok', dependsOn: ['x'], dependencies: 'any' })
        .build()
      const client = await Client.connect(store)
      const runId = await client.start(wf)
      const run = await client.result(runId, { timeoutMs: 10_000 })
      expect(run.state).toBe('SUCCEEDED')
      const tasks = Object.fromEntries((await client.getTasks(runId)).map((t) => [t.taskId, t]))
      expect(tasks.c).toMatchObject({ state: 'SUCCEEDED', output: { got: 'b' } })
      expect(tasks.a.state).toBe('FAILED')
      expect(tasks.y.state).toBe('SKIPPED')
      const skipped = (await client.listEvents(runId)).map((e) => e.event).find((e) => e.type === 'task.skipped')
      expect(skipped).toMatchObject({ taskId: 'y', reason: 'no upstream task succeeded (dependencies: any)' })
    })
  })
}
