import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { Clock } from '../../src/core/clock.js'
import { FlotillaError } from '../../src/core/errors.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { TaskQueue } from '../../src/store/queue.js'
import type { Store } from '../../src/store/store.js'

// A store that goes away for one call (a restart, a dropped connection) must
// not leave a run RUNNING forever: whatever the worker had decided in memory
// and not yet written is decided again from what the store holds. Each case
// makes one queue or store call fail once — before or after its write took
// effect (the reply lost) — while a worker runs a chain, and checks that the
// run still finishes with every task run once.

type Fault = { method: 'offer' | 'takeResults' | 'commit' | 'renewRuns'; after: boolean; skip: number; stepMs?: number }

const down = (): FlotillaError =>
  new FlotillaError('STORE_UNAVAILABLE', 'injected: the connection was closed by the server')

/** Wraps `store` so that the `skip + 1`-th call of `fault.method` fails once (after the write when `fault.after`). */
function flaky(store: Store, fault: Fault): { store: Store; fired: () => boolean } {
  let calls = 0
  let fired = false
  const hit = async <T>(run: () => Promise<T>): Promise<T> => {
    if (fired || calls++ < fault.skip) return run()
    fired = true
    if (fault.after) await run()
    throw down()
  }
  const wrapQueue = (queue: TaskQueue): TaskQueue =>
    new Proxy(queue, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown
        if (typeof value !== 'function') return value
        const fn = value as (...args: unknown[]) => unknown
        if (key === fault.method) return (...args: unknown[]) => hit(() => fn.apply(target, args) as Promise<unknown>)
        return (...args: unknown[]) => fn.apply(target, args)
      },
    })
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown
      if (typeof value !== 'function') return value
      const fn = value as (...args: unknown[]) => unknown
      if (key === 'queue') return (clock: Clock) => wrapQueue(fn.call(target, clock) as TaskQueue)
      if (key === 'commit' && fault.method === 'commit')
        return (...args: unknown[]) => hit(() => fn.apply(target, args) as Promise<unknown>)
      return (...args: unknown[]) => fn.apply(target, args)
    },
  })
  return { store: wrapped, fired: () => fired }
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const cases: Fault[] = [
  { method: 'offer', after: false, skip: 2 },
  { method: 'offer', after: true, skip: 2 },
  { method: 'takeResults', after: true, skip: 3 },
  { method: 'takeResults', after: false, skip: 3 },
  { method: 'commit', after: false, skip: 0 },
  { method: 'commit', after: true, skip: 0 },
  { method: 'renewRuns', after: false, skip: 0, stepMs: 300 }, // heartbeats come every second
]

describe('a store call that fails once while a worker runs a chain', () => {
  for (const fault of cases) {
    it(`${fault.method} failing ${fault.after ? 'after its write (reply lost)' : 'before its write'}: the run still finishes, each task run once`, async () => {
      const memory = new MemoryStore()
      const { store, fired } = flaky(memory, fault)
      const runs = new Map<string, number>()
      const step = defineAgent({
        name: 'step',
        handler: async (_: unknown, ctx) => {
          runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1)
          await new Promise((r) => setTimeout(r, fault.stepMs ?? 5))
          return ctx.taskId
        },
      })
      // A lease far longer than the test: the run must not need another worker's takeover to finish.
      const worker = new Worker({ store, id: 'faulty', leaseMs: 60_000, pollMs: 10 })
      await worker.register(step)
      await worker.start()
      cleanups.push(() => worker.stop({ drainMs: 1000 }))
      const client = await Client.connect(memory)
      const tasks = Array.from({ length: 8 }, (_, k) => ({
        id: `t${k}`,
        agent: 'step',
        ...(k > 0 ? { dependsOn: [`t${k - 1}`] } : {}),
      }))
      const runId = await client.start({ name: 'chain', tasks })
      const result = await client.result(runId, { timeoutMs: 8000 })
      expect(fired()).toBe(true)
      expect(result.state).toBe('SUCCEEDED')
      expect([...runs.values()]).toEqual(Array.from({ length: 8 }, () => 1))
    })
  }
})
