import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { childWorkflow, defineAgent, Orchestrator } from '../../src/index.js'
import { ensureBuilt, runCli, serveCli, tempDir, type BackgroundCli } from './run-cli.js'

// `flotilla runs show <id> --server`: the tree of a run and its child runs, read over the HTTP API
// (GET /api/v1/runs?parentRunId=…), as `runs show` prints it from a store.

const tmp = tempDir('flotilla-remote-tree-')
const db = join(tmp.dir, 'runs.db')
let server: BackgroundCli
let url = ''
let key = ''
let parent = ''

beforeAll(async () => {
  ensureBuilt()
  const o = await Orchestrator.open(db)
  await o.register(defineAgent({ name: 'upper', handler: (s: string) => Promise.resolve(s.toUpperCase()) }))
  await o.register(
    defineAgent({
      name: 'fan-out',
      handler: (words: string[]) =>
        Promise.resolve(
          childWorkflow({ name: 'words', tasks: words.map((w, i) => ({ id: `w${i}`, agent: 'upper', input: w })) }),
        ),
    }),
  )
  const result = await o.run({ name: 'shout', tasks: [{ id: 'plan', agent: 'fan-out', input: ['a', 'b'] }] })
  expect(result.state).toBe('SUCCEEDED')
  parent = result.runId
  await o.close()
  ;({ server, url, key } = await serveCli(['--store', db], { cwd: tmp.dir }))
}, 60_000)

afterAll(async () => {
  server?.child.kill('SIGTERM')
  await server?.exited
  tmp.cleanup()
})

describe('runs show --server', () => {
  it('prints the tree of runs, and gives it in --json', async () => {
    const text = await runCli(['runs', 'show', parent, '--server', url, '--api-key', key], { cwd: tmp.dir })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('Runs and agents:')
    expect(text.stdout).toContain(`${parent}.plan`)
    const json = await runCli(['runs', 'show', parent, '--server', url, '--api-key', key, '--json'], { cwd: tmp.dir })
    expect(json.code, json.stderr).toBe(0)
    const tree = (
      JSON.parse(json.stdout) as {
        tree: { children: { runId: string; parentTaskId: string; agents: { agent: string; tasks: number }[] }[] }
      }
    ).tree
    expect(tree.children.map((c) => [c.runId, c.parentTaskId])).toEqual([[`${parent}.plan`, 'plan']])
    expect(tree.children[0]?.agents).toEqual([expect.objectContaining({ agent: 'upper@1.0.0', tasks: 2 })])
  }, 60_000)
})
