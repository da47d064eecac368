import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defineAgentTemplate, Orchestrator, workflow, type AgentTemplate } from '../../src/index.js'
import { llmAgentBudget } from '../../src/agents/llm-agent.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import type { Permission } from '../../src/security/permissions.js'
import { scriptedModel } from '../../src/testing.js'
import { ROOT } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from './fresh-build.js'

const MODULE = join(ROOT, 'test/fixtures/team/template-spawner.mjs')
const READ_REPORTS: Permission[] = [{ resource: 'artifact:reports/*', actions: ['read'] }]

function analyst(options: { permissions?: Permission[]; budget?: { task?: { calls?: number } } } = {}): AgentTemplate {
  return defineAgentTemplate({
    name: 'analyst',
    model: scriptedModel([{ text: 'Revenue grew 4 %.', usage: { inputTokens: 10, outputTokens: 5 } }], {
      repeatLast: true,
    }),
    system: 'You are a careful analyst.',
    ...(options.permissions === undefined ? {} : { permissions: options.permissions }),
    ...(options.budget === undefined ? {} : { budget: options.budget }),
  })
}

interface LeadOutput {
  answer: string
  answers: string[]
  name: string
  pid: number
}

const open: { o: Orchestrator; root: string }[] = []
afterEach(async () => {
  for (const { o, root } of open.splice(0)) {
    await o.close()
    await rm(root, { recursive: true, force: true })
  }
})

async function orchestrator(kind: 'process' | 'inprocess'): Promise<Orchestrator> {
  const root = await mkdtemp(join(tmpdir(), 'flotilla-tspawn-'))
  const o = new Orchestrator({
    store: 'memory',
    runtimes: [kind === 'process' ? new ProcessRuntime({ entry: CHILD_ENTRY }) : new InProcessRuntime()],
    workspaceRoot: root,
  })
  open.push({ o, root })
  return o
}

function deployLead(o: Orchestrator, kind: string, extra: Record<string, unknown> = {}) {
  return o.agents.deploy({
    name: 'lead',
    module: MODULE,
    export: 'lead',
    runtime: kind,
    permissions: READ_REPORTS,
    ...extra,
  })
}

describe('ctx.spawn({ template }) from a deployed agent', () => {
  beforeAll(() => ensureFreshBuild(), 120_000)

  it('process runtime: a task of a deployed agent spawns from a template over IPC; the agent runs as a child run of the task', async () => {
    const o = await orchestrator('process')
    await o.register(analyst({ permissions: READ_REPORTS }))
    await deployLead(o, 'process')
    const result = await o.run(
      workflow('ask')
        .task('q', {
          agent: 'lead',
          input: { spawn: { template: 'analyst', overrides: { temperature: 0 } }, question: 'How did Q3 go?' },
        })
        .build(),
    )
    expect(result.state).toBe('SUCCEEDED')
    const out = result.output('q') as LeadOutput
    expect(out.answer).toBe('Revenue grew 4 %.')
    expect(out.pid).not.toBe(process.pid) // the spawner ran in its own process
    expect(out.name).toMatch(/^analyst-[0-9a-f]{8}$/)
    // Registered, carved from the deployed agent's permissions.
    const made = o.registry.getDefinition(out.name)
    expect(made?.permissions).toEqual(READ_REPORTS)
    const [child] = await o.listRuns({ parentRunId: result.runId })
    expect(child).toMatchObject({ parentTaskId: 'q', state: 'SUCCEEDED' })
    expect(child.id).toBe(`${result.runId}.q.${out.name}.1`)
  }, 90_000)

  it('process runtime: an agent process naming a task it does not run in its spawn is refused (PERMISSION_DENIED)', async () => {
    const o = await orchestrator('process')
    await o.register(analyst())
    await o.agents.deploy({ name: 'forger', module: MODULE, export: 'forger', runtime: 'process' })
    const other = await o.run(
      workflow('other')
        .task('q', { agent: 'forger', input: { runId: 'none' } })
        .build(),
    )
    const result = await o.run(
      workflow('forge')
        .task('q', { agent: 'forger', input: { runId: other.runId } })
        .build(),
    )
    expect(result.output('q')).toEqual({ code: 'PERMISSION_DENIED' })
    expect(await o.listRuns({ parentRunId: other.runId })).toEqual([])
    expect(o.registry.definitions().some((d) => d.name.startsWith('analyst-'))).toBe(false)
  }, 90_000)

  it('process runtime: a template asking for more than the deployed agent holds is AGENT_TEMPLATE_ESCALATION, nothing registered', async () => {
    const o = await orchestrator('process')
    await o.register(analyst({ permissions: [{ resource: 'artifact:**', actions: ['read', 'write'] }] }))
    const lead = await deployLead(o, 'process')
    const before = o.registry.definitions().length
    const error = await o.agents.execute(lead.id, { spawn: { template: 'analyst' }, question: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'AGENT_TEMPLATE_ESCALATION' })
    expect(o.registry.definitions().length).toBe(before)
    const unknown = await o.agents.execute(lead.id, { spawn: { template: 'nobody' }, question: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(unknown).toMatchObject({ code: 'AGENT_TEMPLATE_NOT_FOUND' })
  }, 90_000)

  it('process runtime: budgets are carved from what the tree budget has left, and the spawned agent spends from it', async () => {
    const o = await orchestrator('process')
    await o.register(analyst())
    const lead = await deployLead(o, 'process', { budget: { tree: { calls: 5, tokens: 100_000 } } })
    // A command outside any run: the spawned agent runs in a run of its own.
    const out = (await o.agents.execute(lead.id, {
      spawn: { template: 'analyst' },
      question: 'Why?',
      times: 2,
    })) as LeadOutput
    expect(out.answers).toEqual(['Revenue grew 4 %.', 'Revenue grew 4 %.'])
    const made = o.registry.getDefinition(out.name)!
    // Each of its budgets is bounded by what the tree had left when it was spawned.
    expect(llmAgentBudget(made)).toEqual({
      task: { calls: 5, tokens: 100_000 },
      run: { calls: 5, tokens: 100_000 },
      agent: { calls: 5, tokens: 100_000 },
    })
    const tree = o.agents.treeBudget(lead.id)!
    expect(tree.calls).toMatchObject({ limit: 5, spent: 2, left: 3 })
    expect(tree.tokens).toMatchObject({ spent: 30, left: 99_970 })
    // More than is left: refused before anything runs.
    const over = await o.agents
      .execute(lead.id, {
        spawn: { template: 'analyst', overrides: { budget: { task: { calls: 4 } } } },
        question: 'x',
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(over).toMatchObject({ code: 'AGENT_TEMPLATE_ESCALATION' })
    expect(o.agents.treeBudget(lead.id)!.calls).toMatchObject({ spent: 2 })
  }, 90_000)

  it('inprocess runtime: the same spawn works for an agent deployed in process', async () => {
    const o = await orchestrator('inprocess')
    await o.register(analyst())
    const lead = await deployLead(o, 'inprocess')
    const out = (await o.agents.execute(lead.id, { spawn: { template: 'analyst' }, question: 'Q?' })) as LeadOutput
    expect(out.answer).toBe('Revenue grew 4 %.')
    const runs = await o.listRuns({})
    expect(runs.some((r) => r.id.startsWith(`spawn.lead.${out.name}.`) && r.state === 'SUCCEEDED')).toBe(true)
  }, 60_000)
})
