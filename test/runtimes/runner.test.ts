import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { AgentRunner, type RunnerHooks } from '../../src/agents/runner.js'
import { ROOT } from '../cli/run-cli.js'
import { ensureFreshBuild } from './fresh-build.js'

const dir = mkdtempSync(join(tmpdir(), 'flotilla-runner-'))
const CASES = join(ROOT, 'test/fixtures/agents/runner-cases.mjs')
const hooks: RunnerHooks = { onEvent: () => undefined, call: (op) => Promise.resolve({ op }) }

beforeAll(() => ensureFreshBuild(), 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return isFlotillaError(e) ? e.code : String(e)
  }
  return 'resolved'
}

describe('AgentRunner', () => {
  it('loads a module given as a file URL and runs at most maxConcurrency commands at once', async () => {
    const runner = await AgentRunner.start({
      instanceId: 'agt_r1',
      module: pathToFileURL(CASES).href,
      exportName: 'single',
      workspace: join(dir, 'r1'),
      hooks,
    })
    expect(runner.name).toBe('single')
    const outs = (await Promise.all(Array.from({ length: 6 }, () => runner.execute({ ms: 20 })))) as { peak: number }[]
    expect(Math.max(...outs.map((o) => o.peak))).toBe(2)
    expect(runner.activeCommands).toBe(0)
    expect(runner.handlerMs).toBeGreaterThanOrEqual(6 * 19)
  })

  it('stops: commands in flight and waiting reject with the stop error, later ones too', async () => {
    const runner = await AgentRunner.start({
      instanceId: 'agt_r2',
      name: 'renamed',
      module: CASES,
      exportName: 'single',
      workspace: join(dir, 'r2'),
      hooks,
    })
    expect(runner.name).toBe('renamed')
    const running = [1, 2, 3].map(() => codeOf(runner.execute({ ms: 5_000 })))
    runner.stop()
    expect(await Promise.all(running)).toEqual(['AGENT_TERMINATED', 'AGENT_TERMINATED', 'AGENT_TERMINATED'])
    expect(await codeOf(runner.execute({ ms: 1 }))).toBe('AGENT_TERMINATED')
    expect(runner.activeCommands).toBe(0)
  })

  it('reports the agent’s health check', async () => {
    const runner = await AgentRunner.start({
      instanceId: 'agt_r3',
      module: CASES,
      exportName: 'single',
      workspace: join(dir, 'r3'),
      hooks,
    })
    expect(await runner.health()).toEqual({ healthy: false, detail: 'disk full' })
  })

  it('loads the default export when no export is named', async () => {
    const runner = await AgentRunner.start({
      instanceId: 'agt_r4',
      module: join(ROOT, 'test/fixtures/agents/kitchen-sink.mjs'),
      workspace: join(dir, 'r4'),
      hooks,
    })
    expect(runner.definition.name).toBe('kitchen-sink')
  })
})
