import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { Client } from '../../src/orchestrator/client.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { chatText, startFakeLlm } from '../helpers/fake-llm.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'
import { startWorker, stopWorker } from './worker-processes.js'

// A run budget held across workers: two `flotilla worker` processes run the
// ten one-call tasks of a run whose agent may make 4 model calls per run, at
// most two tasks at a time. Each worker counts what the run's task records
// hold before each task's first call, so together they make at most 4 calls,
// plus 1 for the task running at the same time on the other worker (the
// documented bound). Counted each for itself, they would make up to 8. On
// one SQLite file and on one PostgreSQL schema.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-run-budget-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function twoWorkers(store: string, side: string): Promise<void> {
  const llm = await startFakeLlm(() => ({ ...chatText('an answer'), delayMs: 150 }))
  const options = {
    agents: new URL('../fixtures/workers/budget-agents.mjs', import.meta.url).pathname,
    env: { FLOTILLA_TEST_LLM_URL: llm.url },
    concurrency: 1, // one task at a time each, so both take tasks
  }
  const client = await Client.connect(await openStoreAsync(store))
  try {
    const workers = await Promise.all([
      startWorker(store, 'one', side, 20, options),
      startWorker(store, 'two', side, 20, options),
    ])
    const runId = await client.start({
      name: 'spend',
      concurrency: 2,
      tasks: Array.from({ length: 10 }, (_, i) => ({
        id: `t${i}`,
        agent: 'spender',
        input: `q${i}`,
        continueOnFailure: true,
      })),
    })
    const result = await client.result(runId, { timeoutMs: 60_000 })
    expect(result.state).toBe('SUCCEEDED')
    const tasks = await client.getTasks(runId)
    const made = tasks.filter((t) => t.state === 'SUCCEEDED')
    const refused = tasks.filter((t) => t.error?.code === 'BUDGET_EXCEEDED')
    expect(made.length + refused.length).toBe(10)
    // At most the budget, plus the one task the other worker may run at the same time.
    expect(llm.requests.length).toBeGreaterThanOrEqual(4)
    expect(llm.requests.length).toBeLessThanOrEqual(5)
    expect(made).toHaveLength(llm.requests.length)
    // The task records hold every call made, once.
    expect(tasks.reduce((n, t) => n + (t.model?.calls ?? 0), 0)).toBe(llm.requests.length)
    expect(refused[0]?.error?.details).toMatchObject({ scope: 'run', measure: 'calls', limit: 4 })
    // Both workers ran tasks of the run (else one process's count would have held it anyway).
    const pids = new Set(
      (existsSync(side) ? readFileSync(side, 'utf8').trim().split('\n') : []).map((l) => l.split(' ')[2]),
    )
    expect(pids.size).toBe(2)
    await Promise.all(workers.map(stopWorker))
  } finally {
    await client.close()
    await client.store.close()
    await llm.close()
  }
}

it(
  'two workers on one SQLite file share the run budget of an agent: the model server gets at most budget + 1 requests',
  () => twoWorkers(join(dir, 'w.db'), join(dir, 'side.log')),
  90_000,
)

await describePostgres('run budget across workers on PostgreSQL', () => {
  it(
    'two workers on one PostgreSQL schema share the run budget of an agent',
    () => withFreshSchema((url) => twoWorkers(url, join(dir, 'side-pg.log'))),
    90_000,
  )
})
