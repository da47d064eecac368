import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, runCli, spawnCli, tempDir } from '../cli/run-cli.js'

// examples/dynamic-research: a planner's plan run as a child run of specialists spawned from templates.

const WORKFLOW = 'examples/dynamic-research/workflow.yaml'
const { dir, cleanup } = tempDir('flotilla-dynamic-research-')
beforeAll(ensureBuilt)
afterAll(cleanup)

interface TreeNode {
  runId: string
  workflow: string
  state: string
  parentTaskId: string | null
  agents: { agent: string; tasks: number; calls: number; costUsd: number }[]
  children: TreeNode[]
}

describe('examples/dynamic-research', () => {
  it('plans specialists, runs them as a child run from templates (one by the generic template) and synthesises; runs show displays the tree with cost per agent', async () => {
    const store = join(dir, 'dynamic.db')
    const r = await runCli(['run', WORKFLOW, '--store', store])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('Recommendation: proceed with a pilot. Based on 4 specialist findings.')
    const id = /Run (run_\w+)/.exec(r.stdout)?.[1]
    const show = await runCli(['runs', 'show', id!, '--store', store, '--json'])
    expect(show.code, show.stderr).toBe(0)
    const { tree, run } = JSON.parse(show.stdout) as {
      tree: TreeNode
      run: { summary: { text: string; model: string; spend: { calls: number; costUsd: number } } | null }
    }
    // The workflow's summary: written by offline:summary from the results, its cost counted.
    expect(run.summary?.model).toBe('scripted:summary')
    expect(run.summary?.text).toContain('2 of the run')
    expect(run.summary?.spend.costUsd).toBeGreaterThan(0)
    expect(tree.children).toHaveLength(1)
    const child = tree.children[0]
    expect(child).toMatchObject({ workflow: 'coordinator-plan', state: 'SUCCEEDED', parentTaskId: 'plan' })
    const agents = child.agents.map((a) => a.agent.replace(/-[0-9a-f]{8}@/, '@')).sort()
    expect(agents).toEqual(['economist@1.0.0', 'hydrology@1.0.0', 'researcher@1.0.0'])
    for (const a of child.agents) expect(a.costUsd).toBeGreaterThan(0)
    const plain = await runCli(['runs', 'show', id!, '--store', store])
    expect(plain.stdout).toMatch(/\[plan\] → \S+ "coordinator-plan" SUCCEEDED/)
    expect(plain.stdout).toMatch(/Summary \(by scripted:summary, \$0\.\d{4}\):\n {2}The team planned specialists/)
    expect(plain.stdout).toMatch(/· hydrology-[0-9a-f]{8}@1\.0\.0: 1 task, 1 model call, \$0\.\d{4}/)
    // A replay that keeps the plan (--children keep, the default) shows the child run it reused, marked kept.
    const replay = await runCli(['runs', 'replay', id!, '--store', store, '--json'])
    expect(replay.code, replay.stderr).toBe(0)
    const again = JSON.parse(replay.stdout) as { runId: string }
    const kept = await runCli(['runs', 'show', again.runId, '--store', store, '--json'])
    const keptTree = (JSON.parse(kept.stdout) as { tree: TreeNode & { children: (TreeNode & { kept?: true })[] } }).tree
    expect(keptTree.children).toHaveLength(1)
    expect(keptTree.children[0]).toMatchObject({ runId: `${id}.plan`, kept: true, parentTaskId: 'plan' })
    const keptPlain = await runCli(['runs', 'show', again.runId, '--store', store])
    expect(keptPlain.stdout).toContain(`[plan] kept from the replayed run → ${id}.plan "coordinator-plan" SUCCEEDED`)
  }, 60_000)

  it('flotilla serve --agents: the worker advertises the module templates (GET /api/v1/agent-templates); a plan there runs as a child run on its worker', async () => {
    const cli = spawnCli([
      'serve',
      '--port',
      '0',
      '--store',
      join(dir, 'serve.db'),
      '--agents',
      'examples/dynamic-research/agents.mjs',
    ])
    try {
      await cli.waitFor('Ctrl-C or SIGTERM stops it.', 20_000)
      const url = /listening on (http:\/\/\S+)/.exec(cli.stdout())?.[1]
      const key = /flt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/.exec(cli.stdout())?.[0]
      const call = (path: string, init: RequestInit = {}) =>
        fetch(`${url}/api/v1${path}`, {
          ...init,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        })
      const { templates } = (await (await call('/agent-templates')).json()) as {
        templates: { name: string; generic: boolean }[]
      }
      expect(templates.map((t) => `${t.name}${t.generic ? ' (generic)' : ''}`).sort()).toEqual([
        'economist',
        'generic (generic)',
        'researcher',
      ])
      const started = await call('/runs', {
        method: 'POST',
        body: JSON.stringify({
          workflow: { name: 'ask', tasks: [{ id: 'plan', agent: 'coordinator', input: 'Why?' }] },
        }),
      })
      const { id } = (await started.json()) as { id: string }
      let task: { state: string; output: unknown; error: { code: string } | null } | undefined
      for (let i = 0; i < 400 && (task === undefined || !['SUCCEEDED', 'FAILED'].includes(task.state)); i++) {
        await new Promise((r) => setTimeout(r, 50))
        ;[task] = ((await (await call(`/runs/${id}/tasks`)).json()) as { tasks: (typeof task)[] }).tasks
      }
      expect(task, JSON.stringify(task)).toMatchObject({ state: 'SUCCEEDED', error: null })
      expect(Object.keys(task?.output as object).length).toBeGreaterThan(0)
      const child = (await (await call(`/runs/${id}.plan`)).json()) as { id: string; state: string }
      expect(child).toMatchObject({ id: `${id}.plan`, state: 'SUCCEEDED' })
    } finally {
      cli.child.kill('SIGKILL')
      await cli.exited
    }
  }, 60_000)
})
