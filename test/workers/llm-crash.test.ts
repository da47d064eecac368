import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { Client } from '../../src/orchestrator/client.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { chatText, chatToolCalls, startFakeLlm, toolMessages } from '../helpers/fake-llm.js'
import { startWorker, stopWorker } from './worker-processes.js'

// Durable model calls across a crash: a worker process running a ten-step
// tool loop against a local model server is killed (SIGKILL) in the middle;
// another worker takes the task over after the lease and goes on from the
// journal. The server counts the requests: no call answered before the kill
// is made again (only the one in flight at the kill may be), and no tool
// call whose result was kept runs twice.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-llm-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('SIGKILL in the middle of a ten-step tool loop: the other worker resumes from the journal', async () => {
  const llm = await startFakeLlm((request) => {
    const k = toolMessages(request)
    return k < 10
      ? { ...chatToolCalls([{ id: `call_${k}`, name: 'tick', input: { n: k } }]), delayMs: 150 }
      : chatText('ten ticks')
  })
  const store = join(dir, 'w.db')
  const side = join(dir, 'side.log')
  const options = {
    agents: new URL('../fixtures/workers/llm-agents.mjs', import.meta.url).pathname,
    env: { FLOTILLA_TEST_LLM_URL: llm.url },
  }
  const client = await Client.connect(await openStoreAsync(store))
  try {
    const first = await startWorker(store, 'first', side, 20, options)
    const runId = await client.start({
      name: 'loop',
      tasks: [{ id: 'l', agent: 'looper', input: 'Tick ten times.', retry: { maxAttempts: 3 } }],
    })
    await expect.poll(() => llm.requests.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(5)
    first.kill('SIGKILL')
    const atKill = llm.requests.length
    const second = await startWorker(store, 'second', side, 20, options)
    const result = await client.result(runId, { timeoutMs: 60_000 })
    expect(result.state).toBe('SUCCEEDED')
    expect((await client.getTasks(runId))[0].output).toBe('ten ticks')
    // Each step k of the loop was asked for once, except at most the one in flight at the kill.
    const steps = llm.requests.map(toolMessages)
    const repeated = [...new Set(steps.filter((k, i) => steps.indexOf(k) !== i))]
    expect(new Set(steps).size).toBe(11)
    expect(repeated.length).toBeLessThanOrEqual(1)
    expect(llm.requests.length).toBeLessThanOrEqual(12)
    expect(atKill).toBeLessThan(11)
    const tools = readFileSync(side, 'utf8')
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ')[1]))
    expect(new Set(tools).size).toBe(10)
    expect(tools.length - new Set(tools).size).toBeLessThanOrEqual(1)
    await stopWorker(second)
  } finally {
    await client.close()
    await client.store.close()
    await llm.close()
  }
}, 90_000)
