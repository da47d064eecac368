import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

const MODULE = join(ROOT, 'test/fixtures/scaling/slow-agent.mjs')

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('auto-scaling on the process runtime', () => {
  let o: Orchestrator | undefined
  let root: string | undefined
  beforeAll(() => ensureFreshBuild(), 120_000)
  afterEach(async () => {
    await o?.close()
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  it('adds agent processes for a burst (tasks spread over them) and terminates idle ones after the cooldown', async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-scaling-'))
    o = new Orchestrator({
      store: 'memory',
      runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY })],
      workspaceRoot: root,
      scalingIntervalMs: 50,
    })
    const scaled: AgentScaledEvent[] = []
    o.on('agent.scaled', (e) => scaled.push(e))
    await o.agents.deploy({
      name: 'slow',
      module: MODULE,
      export: 'slow',
      runtime: 'process',
      scaling: { min: 1, max: 3, cooldownMs: 300 },
    })
    const running = async () => (await o!.agents.list()).filter((a) => a.state === 'RUNNING').length
    expect(await running()).toBe(1)
    let b = workflow('burst') as ReturnType<typeof workflow>
    for (let i = 0; i < 12; i++) b = b.task(`t${i}`, { agent: 'slow', input: { ms: 800 } }) as never
    const result = await o.run(b.build())
    expect(result.state).toBe('SUCCEEDED')
    expect(scaled[0]).toMatchObject({ agent: 'slow', from: 1, to: 3 })
    const pids = new Set(Object.values(result.outputs).map((v) => (v as { pid: number }).pid))
    expect(pids.size).toBeGreaterThanOrEqual(2)
    expect(pids.has(process.pid)).toBe(false)
    // Idle now: back to one process, one per check after the cooldown.
    await until(async () => (await running()) === 1, 'the idle processes to terminate')
    expect(scaled.slice(1).map((e) => [e.from, e.to])).toEqual([
      [3, 2],
      [2, 1],
    ])
    expect(scaled.every((e) => e.to <= 3)).toBe(true)
    const again = await o.run(
      workflow('one')
        .task('x', { agent: 'slow', input: { ms: 10 } })
        .build(),
    )
    expect(again.state).toBe('SUCCEEDED')
  }, 60_000)
})
