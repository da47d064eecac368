import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client } from '../../src/orchestrator/client.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { ensureBuilt } from '../cli/run-cli.js'
import { startWorker, stopWorker } from './worker-processes.js'

// A plan returned on a real `flotilla worker` process runs as a child run on the
// workers; the process is SIGKILLed mid-child-run and another one takes over:
// the planning task's next attempt waits for the same child run, whose finished
// steps do not run again (SQLite file store).

const AGENTS = new URL('../fixtures/workers/plan-agents.mjs', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'flotilla-wchild-procs-'))
beforeAll(ensureBuilt)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** `<what> <runId>:<taskId> <attempt> <pid>` lines of the side file. */
function lines(side: string): { what: string; key: string; attempt: number; pid: number }[] {
  if (!existsSync(side)) return []
  return readFileSync(side, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, key, attempt, pid] = l.split(' ')
      return { what: what!, key: key!, attempt: Number(attempt), pid: Number(pid) }
    })
}

describe('child runs on worker processes', () => {
  it('SIGKILL during a child run: another worker takes over the same child run', async () => {
    const store = `sqlite:${join(dir, 'plan.db')}`
    const side = join(dir, 'side.log')
    const client = await Client.connect(await openStoreAsync(store))
    try {
      const first = await startWorker(store, 'pa', side, 400, { agents: AGENTS })
      const runId = await client.start({ name: 'planned', tasks: [{ id: 'p', agent: 'planner' }] })
      const child = `${runId}.p`
      await expect.poll(() => lines(side).some((l) => l.key === `${child}:s2`), { timeout: 20_000 }).toBe(true)
      first.kill('SIGKILL')
      await new Promise((r) => first.once('exit', r))
      const doneAtKill = (await client.getTasks(child)).filter((t) => t.state === 'SUCCEEDED').map((t) => t.taskId)
      expect(doneAtKill).toContain('s1')
      const second = await startWorker(store, 'pb', side, 20, { agents: AGENTS })
      const run = await client.result(runId, { timeoutMs: 60_000 })
      expect(run.state).toBe('SUCCEEDED')
      expect((await client.getTasks(runId))[0]?.output).toEqual({
        s1: { v: 1 },
        s2: { v: 2 },
        s3: { v: 3 },
        s4: { v: 4 },
      })
      const children = await client.listRuns({ parentRunId: runId })
      expect(children.map((c) => [c.id, c.parentTaskId, c.state])).toEqual([[child, 'p', 'SUCCEEDED']])
      const all = lines(side)
      // Planned on both processes; the plan of the second found the stored child run.
      expect(new Set(all.filter((l) => l.what === 'plan').map((l) => l.pid)).size).toBe(2)
      for (const id of doneAtKill) expect(all.filter((l) => l.key === `${child}:${id}`)).toHaveLength(1)
      await stopWorker(second)
    } finally {
      await client.close()
      await client.store.close()
    }
  }, 90_000)
})
