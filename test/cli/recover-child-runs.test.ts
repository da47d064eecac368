import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, runCli, spawnCli, tempDir, writeFiles } from './run-cli.js'

// `flotilla recover` after a SIGKILL during a child run: the parent's planning task takes the child run over
// (the plan is replayed from the journal, finished specialists are kept); the child is not resumed on its own.

const { dir, cleanup } = tempDir('flotilla-recover-child-')
const side = join(dir, 'side.txt')
const lib = (file: string): string => pathToFileURL(join(ROOT, 'dist', file)).href

/** A planner of four chained specialists spawned from a template; every model call appends to the side file. */
const AGENTS = `import { appendFileSync } from 'node:fs'
import { defineAgentTemplate, definePlannerAgent } from '${lib('index.js')}'
import { scriptedModel } from '${lib('testing.js')}'
const note = (line) => appendFileSync(${JSON.stringify(side)}, line + '\\n')
const asked = (call) => (call.prompt.filter((m) => m.role === 'user').at(-1)?.content ?? []).map((p) => p.text ?? '').join('')
export const step = defineAgentTemplate({
  name: 'step',
  model: scriptedModel([(call) => (note('work ' + (/job (\\w)/.exec(asked(call))?.[1] ?? '?')), { delayMs: 600, text: 'done' })], { repeatLast: true }),
})
export const planner = definePlannerAgent({
  name: 'planner',
  model: scriptedModel([() => (note('plan'), { object: { tasks: ['a', 'b', 'c', 'd'].map((id, i) => ({ id, specialty: 'step', prompt: 'job ' + id, dependsOn: i === 0 ? [] : ['abcd'[i - 1]] })) } })], { repeatLast: true }),
  templates: ['step'],
})
`
const WORKFLOW = `name: chained
agents: ./agents.mjs
tasks:
  - id: plan
    agent: planner
    input: go
`

beforeAll(() => {
  ensureBuilt()
  writeFiles(dir, { 'agents.mjs': AGENTS, 'chained.yaml': WORKFLOW })
})
afterAll(cleanup)

const lines = (): string[] => (existsSync(side) ? readFileSync(side, 'utf8').split('\n').filter(Boolean) : [])

describe('flotilla recover with child runs', () => {
  it('recovers the parent, whose task takes the child run over (runs resume of the child alone is refused): the plan is not asked again, finished specialists do not run again', async () => {
    const store = `sqlite:${join(dir, 'runs.db')}`
    const cli = spawnCli(['run', join(dir, 'chained.yaml'), '--store', store])
    try {
      for (let i = 0; lines().filter((l) => l.startsWith('work')).length < 2; i++) {
        if (i === 600) throw new Error(`the child run never got to its second task: ${lines().join(', ')}`)
        await new Promise((r) => setTimeout(r, 25))
      }
    } finally {
      cli.child.kill('SIGKILL')
      await cli.exited
    }
    const stored = JSON.parse((await runCli(['runs', 'list', '--store', store, '--json'])).stdout) as { id: string }[]
    const parent = stored.find((x) => !x.id.includes('.'))?.id
    const alone = await runCli(['runs', 'resume', `${parent}.plan`, '--store', store], { cwd: dir })
    expect(alone.code).toBe(1)
    expect(alone.stderr).toContain(
      `error [RUN_STATE_INVALID]: Run ${parent}.plan is a child run of run ${parent} (task "plan"), whose task takes it over: resume that run instead`,
    )

    const r = await runCli(['recover', '--store', store, '--json'], { cwd: dir })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { ok: boolean; runs: { runId: string; state: string }[]; errors: unknown[] }
    expect(out.errors).toEqual([])
    expect(out.runs).toHaveLength(1)
    expect(out.runs[0]).toMatchObject({ state: 'SUCCEEDED' })
    expect(out.runs[0]?.runId).not.toContain('.')
    const seen = lines()
    expect(seen.filter((l) => l === 'plan')).toHaveLength(1)
    // a finished before the kill, b was in flight (asked again), c and d ran after recovery
    const count = (job: string) => seen.filter((l) => l === `work ${job}`).length
    expect(count('a')).toBe(1)
    expect(count('b')).toBe(2)
    expect(count('c')).toBe(1)
    expect(count('d')).toBe(1)
    const listed = JSON.parse((await runCli(['runs', 'list', '--store', store, '--json'])).stdout) as {
      id: string
      state: string
    }[]
    expect(listed.map((x) => x.state)).toEqual(['SUCCEEDED', 'SUCCEEDED'])
  }, 60_000)
})
