import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  childWorkflow,
  defineAgent,
  defineAgentTemplate,
  definePlannerAgent,
  Orchestrator,
  workflow,
  type AgentTemplate,
} from '../../src/index.js'
import { scriptedModel } from '../../src/testing.js'
import type { Permission } from '../../src/security/permissions.js'
import { deferred } from './helpers.js'

const open: Orchestrator[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

function orchestrator(options: ConstructorParameters<typeof Orchestrator>[0] = {}): Orchestrator {
  const o = new Orchestrator({ store: 'memory', ...options })
  open.push(o)
  return o
}

const echo = defineAgent({ name: 'echo', handler: (x: unknown) => x })

function template(name: string, options: { permissions?: Permission[]; answer?: string } = {}): AgentTemplate {
  return defineAgentTemplate({
    name,
    model: scriptedModel([{ text: options.answer ?? `${name} says hi` }], { repeatLast: true }),
    system: `You are a ${name}.`,
    ...(options.permissions === undefined ? {} : { permissions: options.permissions }),
  })
}

describe('child workflows', () => {
  it('runs a returned plan as a child run linked to its task, and the task takes its outputs', async () => {
    const o = orchestrator()
    await o.registerAll([
      echo,
      defineAgent({
        name: 'fan-out',
        handler: (topics: string[]) =>
          childWorkflow(workflow('topics').task('a', { agent: 'echo', input: topics[0] }).build(), {}),
      }),
    ])
    const result = await o.run(
      workflow('parent')
        .task('plan', { agent: 'fan-out', input: ['x'] })
        .build(),
    )
    expect(result.ok).toBe(true)
    expect(result.output('plan')).toEqual({ a: 'x' })
    const children = await o.listRuns({ parentRunId: result.runId })
    expect(children.map((c) => [c.workflow, c.parentTaskId, c.state])).toEqual([['topics', 'plan', 'SUCCEEDED']])
  })

  it('refuses a plan with a cycle, a plan too large and an unknown agent, starting nothing', async () => {
    const o = orchestrator({ maxPlanTasks: 2 })
    const plans = {
      cycle: childWorkflow({
        name: 'c',
        tasks: [
          { id: 'a', agent: 'echo', dependsOn: ['b'] },
          { id: 'b', agent: 'echo', dependsOn: ['a'] },
        ],
      }),
      large: childWorkflow({ name: 'l', tasks: ['a', 'b', 'c'].map((id) => ({ id, agent: 'echo' })) }),
      unknown: childWorkflow({ name: 'u', tasks: [{ id: 'a', agent: 'nobody' }] }),
      template: childWorkflow({ name: 't', tasks: [{ id: 'a', agent: 'x' }] }, { agents: { x: { template: 'nope' } } }),
    }
    await o.registerAll([echo, defineAgent({ name: 'planner', handler: (k: keyof typeof plans) => plans[k] })])
    const codes: Record<string, string | undefined> = {}
    for (const k of Object.keys(plans)) {
      const r = await o.run(
        workflow(k)
          .task('plan', { agent: 'planner', input: k, retry: { maxAttempts: 1 } })
          .build(),
      )
      codes[k] = r.error?.code === 'TASK_FAILED' ? String(r.tasks.plan.error?.code) : r.tasks.plan.error?.code
      expect(await o.listRuns({ parentRunId: r.runId })).toEqual([])
    }
    expect(codes).toEqual({
      cycle: 'WORKFLOW_CYCLE',
      large: 'PLAN_TOO_LARGE',
      unknown: 'WORKFLOW_UNKNOWN_AGENT',
      template: 'AGENT_TEMPLATE_NOT_FOUND',
    })
  })

  it('spawns planned agents from templates, falling back to a generic template with a specialty prompt', async () => {
    const o = orchestrator()
    const generic = scriptedModel([{ text: 'generic answer' }], { repeatLast: true })
    await o.registerAll([
      template('researcher', { answer: 'found it' }),
      defineAgentTemplate({
        name: 'generic',
        model: generic,
        specialty: (s) => `You are a specialist in ${s}.`,
      }),
      defineAgent({
        name: 'planner',
        handler: () =>
          childWorkflow(
            {
              name: 'team',
              tasks: [
                { id: 'r', agent: 'res', input: 'q' },
                { id: 'g', agent: 'geo', input: 'q' },
              ],
            },
            { agents: { res: { template: 'researcher' }, geo: { template: 'geology' } }, fallbackTemplate: 'generic' },
          ),
      }),
    ])
    const result = await o.run(workflow('p').task('plan', { agent: 'planner' }).build())
    expect(result.output('plan')).toEqual({ r: 'found it', g: 'generic answer' })
    expect(JSON.stringify(generic.calls[0].prompt)).toContain('You are a specialist in geology.')
    expect(o.registry.findByTag('template:generic').map((d) => d.name)).toEqual([expect.stringMatching(/^geo-/)])
  })

  it('cancelling the parent run cancels its child run', async () => {
    const o = orchestrator()
    const started = deferred()
    await o.registerAll([
      defineAgent({
        name: 'slow',
        handler: async (_: unknown, ctx) => {
          started.resolve()
          await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
        },
      }),
      defineAgent({
        name: 'planner',
        handler: () => childWorkflow({ name: 'c', tasks: [{ id: 's', agent: 'slow' }] }),
      }),
    ])
    const handle = o.start(workflow('p').task('plan', { agent: 'planner' }).build())
    await started.promise
    await o.cancel(handle.id)
    expect((await handle.result).state).toBe('CANCELLED')
    await expect.poll(async () => (await o.listRuns({ parentRunId: handle.id }))[0]?.state).toBe('CANCELLED')
  })
})

describe('agent templates and ctx.spawn', () => {
  it('spawns from a template within the spawner permissions and runs it as a child run', async () => {
    const o = orchestrator()
    await o.registerAll([
      template('analyst', { answer: 'analysed' }),
      defineAgent({
        name: 'boss',
        permissions: [{ resource: 'tool:*', actions: ['call'] }],
        handler: async (_: unknown, ctx) => {
          const child = await ctx.spawn({ template: 'analyst', overrides: { temperature: 0.1 } })
          return child.execute('look')
        },
      }),
    ])
    const result = await o.run(workflow('p').task('t', { agent: 'boss' }).build())
    expect(result.output('t')).toBe('analysed')
    const [child] = await o.listRuns({ parentRunId: result.runId })
    expect(child.parentTaskId).toBe('t')
  })

  it('refuses an escalating template with AGENT_TEMPLATE_ESCALATION, registering nothing', async () => {
    const o = orchestrator()
    await o.registerAll([
      template('admin', { permissions: [{ resource: 'artifact:**', actions: ['write'] }] }),
      defineAgent({
        name: 'weak',
        permissions: [{ resource: 'artifact:notes/*', actions: ['read'] }],
        handler: async (_: unknown, ctx) => ctx.spawn({ template: 'admin' }),
      }),
    ])
    const result = await o.run(
      workflow('p')
        .task('t', { agent: 'weak', retry: { maxAttempts: 1 } })
        .build(),
    )
    expect(result.tasks.t.error?.code).toBe('AGENT_TEMPLATE_ESCALATION')
    expect(o.registry.findByTag('template:admin')).toEqual([])
  })

  it('property: a plan naming an agent the planner may not spawn is refused before anything runs', async () => {
    const actions = ['read', 'write', 'delete'] as const
    const grant = fc.record({
      resource: fc.constantFrom('artifact:a/*', 'artifact:**', 'cache:*', 'tool:x'),
      actions: fc.subarray([...actions], { minLength: 1 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(grant, { maxLength: 3 }),
        fc.array(grant, { minLength: 1, maxLength: 3 }),
        async (held, asked) => {
          const o = orchestrator()
          await o.registerAll([
            template('spec', { permissions: asked }),
            defineAgent({
              name: 'planner',
              permissions: held,
              handler: () =>
                childWorkflow({ name: 'c', tasks: [{ id: 'a', agent: 's' }] }, { agents: { s: { template: 'spec' } } }),
            }),
          ])
          const { PermissionSet } = await import('../../src/security/permissions.js')
          const set = new PermissionSet(held)
          const allowed = asked.every((g) => g.actions.every((a) => set.allows(g.resource, a)))
          const r = await o.run(
            workflow('p')
              .task('plan', { agent: 'planner', retry: { maxAttempts: 1 } })
              .build(),
          )
          const children = await o.listRuns({ parentRunId: r.runId })
          if (allowed) expect(r.ok).toBe(true)
          else {
            expect(r.tasks.plan.error?.code).toBe('AGENT_TEMPLATE_ESCALATION')
            expect(children).toEqual([])
            expect(o.registry.findByTag('template:spec')).toEqual([])
          }
          await o.close()
        },
      ),
      { numRuns: 25 },
    )
  })
})

describe('definePlannerAgent', () => {
  const plan = {
    tasks: [
      { id: 'climate', specialty: 'researcher', prompt: 'Find climate facts.' },
      { id: 'sum', specialty: 'researcher', prompt: 'Summarise.', dependsOn: ['climate'] },
    ],
  }

  it('turns a request into a child run of specialists spawned from templates', async () => {
    const o = orchestrator()
    const model = scriptedModel([{ object: plan }])
    await o.registerAll([
      template('researcher', { answer: 'done' }),
      definePlannerAgent({ name: 'coordinator', model, templates: ['researcher'] }),
    ])
    const r = await o.run(workflow('q').task('plan', { agent: 'coordinator', input: 'Why is the sky blue?' }).build())
    expect(r.output('plan')).toEqual({ climate: 'done', sum: 'done' })
    expect(model.calls).toHaveLength(1)
  })

  it('asks again with what was wrong, then fails with PLAN_INVALID after malformed plans', async () => {
    const o = orchestrator()
    const cyclic = {
      tasks: [
        { id: 'a', specialty: 'researcher', prompt: 'x', dependsOn: ['b'] },
        { id: 'b', specialty: 'researcher', prompt: 'y', dependsOn: ['a'] },
      ],
    }
    const model = scriptedModel([{ object: cyclic }, { object: { tasks: 'nope' } }, { object: { tasks: 'nope' } }])
    await o.registerAll([
      template('researcher'),
      definePlannerAgent({ name: 'coordinator', model, templates: ['researcher'], attempts: 2 }),
    ])
    const r = await o.run(
      workflow('q')
        .task('plan', { agent: 'coordinator', input: 'q', retry: { maxAttempts: 1 } })
        .build(),
    )
    expect(r.tasks.plan.error?.code).toBe('PLAN_INVALID')
    expect(JSON.stringify(model.calls[1].prompt)).toContain('previous plan was refused')
    expect(await o.listRuns({ parentRunId: r.runId })).toEqual([])
  })

  it('bounds a plan by the planner run budget (PLAN_TOO_LARGE), spending no specialist budget', async () => {
    const o = orchestrator()
    const researcher = defineAgentTemplate({
      name: 'researcher',
      model: scriptedModel([{ text: 'x' }], { repeatLast: true }),
      budget: { task: { calls: 3 } },
    })
    await o.registerAll([
      researcher,
      definePlannerAgent({
        name: 'coordinator',
        model: scriptedModel([{ object: plan }]),
        templates: ['researcher'],
        budget: { run: { calls: 5 } },
      }),
    ])
    const r = await o.run(
      workflow('q')
        .task('plan', { agent: 'coordinator', input: 'q', retry: { maxAttempts: 1 } })
        .build(),
    )
    expect(r.tasks.plan.error?.code).toBe('PLAN_TOO_LARGE')
    expect(await o.listRuns({ parentRunId: r.runId })).toEqual([])
  })
})

describe('replay of a run with child runs', () => {
  it('keeps the child outputs by default, and plans and runs a new child run with children: "rerun"', async () => {
    const o = orchestrator()
    let plans = 0
    await o.registerAll([
      echo,
      defineAgent({
        name: 'planner',
        handler: () => {
          plans++
          return childWorkflow({ name: 'c', tasks: [{ id: 'a', agent: 'echo', input: plans }] })
        },
      }),
    ])
    const first = await o.run(workflow('p').task('plan', { agent: 'planner' }).build())
    const kept = await (await o.replay(first.runId)).result
    expect(kept.output('plan')).toEqual({ a: 1 })
    expect(await o.listRuns({ parentRunId: kept.runId })).toEqual([])
    const rerun = await (await o.replay(first.runId, { children: 'rerun' })).result
    expect(rerun.output('plan')).toEqual({ a: 2 })
    const [child] = await o.listRuns({ parentRunId: rerun.runId })
    expect(child.parentTaskId).toBe('plan')
  })
})
