import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { ensureBuilt } from '../cli/run-cli.js'
import { chatText, chatToolCalls, startFakeLlm, toolMessages, type FakeLlm } from '../helpers/fake-llm.js'

// The default embedded path: new Orchestrator({ store: <SQLite file> }) keeps
// the journal of model calls in the file, so after a kill -9 in the middle of
// a tool loop, recover() goes on from the journal instead of paying again.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-embedded-llm-'))
let llm: FakeLlm
beforeAll(async () => {
  ensureBuilt()
  llm = await startFakeLlm((request) => {
    const k = toolMessages(request)
    return k < 10
      ? { ...chatToolCalls([{ id: `call_${k}`, name: 'tick', input: { n: k } }]), delayMs: 100 }
      : chatText('ten ticks')
  })
})
afterAll(async () => {
  await llm.close()
  rmSync(dir, { recursive: true, force: true })
})

it('kill -9 in the middle of a tool loop, then recover(): no answered model call is made again', async () => {
  const file = join(dir, 'runs.db')
  const env = { ...process.env, FLOTILLA_TEST_LLM_URL: llm.url, FLOTILLA_TEST_SIDE_FILE: join(dir, 'side.log') }
  const child = spawn(
    process.execPath,
    [new URL('../fixtures/llm/embedded-loop.mjs', import.meta.url).pathname, file],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await expect.poll(() => llm.requests.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(5)
  child.kill('SIGKILL')
  await new Promise((r) => child.on('exit', r))
  const runId = out.trim()
  process.env.FLOTILLA_TEST_LLM_URL = llm.url
  // @ts-expect-error a JavaScript fixture without types
  const { looper } = (await import('../fixtures/workers/llm-agents.mjs')) as {
    looper: Parameters<Orchestrator['register']>[0]
  }
  const o = new Orchestrator({ store: file })
  try {
    await o.register(looper)
    const [handle] = await o.recover({ runIds: [runId] })
    const result = await handle.result
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('l')).toBe('ten ticks')
    // The task record counts each answered call once: the crashed attempt's through their replay.
    const [task] = await o.getTasks(runId)
    expect(task.model).toMatchObject({ calls: 11 })
    expect(task.model!.replayed).toBeGreaterThanOrEqual(4) // the fifth request may have been in flight
  } finally {
    await o.close()
  }
  const steps = llm.requests.map(toolMessages)
  expect(new Set(steps).size).toBe(11)
  expect(steps.length - new Set(steps).size).toBeLessThanOrEqual(1)
}, 60_000)
