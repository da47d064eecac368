// Deployed agents as pods (a fake Kubernetes API server; its "kubelet" runs each pod as a local process):
// a pod agent spawns from a template through the supervisor, and a scaled name grows and shrinks in pods.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defineAgentTemplate } from '../../src/agents/agent-template.js'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { KubernetesRuntime } from '../../src/kubernetes.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { scriptedModel } from '../../src/testing.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { FakeKubeApi } from './fake-kube-api.js'

const fake = new FakeKubeApi()
const root = mkdtempSync(join(tmpdir(), 'flotilla-k8s-scale-'))

beforeAll(async () => {
  ensureFreshBuild()
  await fake.start()
}, 120_000)
afterAll(async () => {
  await fake.stop()
  rmSync(root, { recursive: true, force: true })
})

let o: Orchestrator | undefined
afterEach(async () => {
  await o?.close()
  o = undefined
  expect(fake.list()).toEqual([]) // no pod left behind
})

function orchestrator(): Orchestrator {
  const runtime = new KubernetesRuntime({
    cluster: { server: fake.url, token: fake.token },
    namespace: 'agents',
    image: 'flotilla:test',
    workspacePath: root,
    ownerPod: null,
    terminationGraceSeconds: 1,
    usageIntervalMs: 100,
    readyTimeoutMs: 30_000,
  })
  return (o = new Orchestrator({ store: 'memory', runtimes: [runtime], workspaceRoot: root, scalingIntervalMs: 50 }))
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('deployed agents as pods (fake Kubernetes API)', () => {
  it('a pod agent spawns from a template through its supervisor; the spawned agent runs as a child run of the task', async () => {
    const o = orchestrator()
    await o.register(
      defineAgentTemplate({ name: 'analyst', model: scriptedModel([{ text: 'From a pod.' }], { repeatLast: true }) }),
    )
    await o.agents.deploy({
      name: 'lead',
      module: join(ROOT, 'test/fixtures/team/template-spawner.mjs'),
      export: 'lead',
      runtime: 'kubernetes',
    })
    expect(fake.list()).toHaveLength(1)
    const result = await o.run(
      workflow('ask')
        .task('q', { agent: 'lead', input: { spawn: { template: 'analyst' }, question: 'Where?' } })
        .build(),
    )
    expect(result.state).toBe('SUCCEEDED')
    const out = result.output('q') as { answer: string; pid: number; name: string }
    expect(out.answer).toBe('From a pod.')
    expect(out.pid).not.toBe(process.pid)
    const [child] = await o.listRuns({ parentRunId: result.runId })
    expect(child).toMatchObject({ parentTaskId: 'q', state: 'SUCCEEDED' })
  }, 120_000)

  it('a scaled name adds pods for a burst and deletes idle ones after the cooldown', async () => {
    const o = orchestrator()
    const scaled: AgentScaledEvent[] = []
    o.on('agent.scaled', (e) => scaled.push(e))
    await o.agents.deploy({
      name: 'slow',
      module: join(ROOT, 'test/fixtures/scaling/slow-agent.mjs'),
      export: 'slow',
      runtime: 'kubernetes',
      scaling: { min: 1, max: 3, cooldownMs: 300 },
    })
    expect(fake.list()).toHaveLength(1)
    let most = 0
    const watch = setInterval(() => (most = Math.max(most, fake.list().length)), 20)
    let b = workflow('burst') as ReturnType<typeof workflow>
    for (let i = 0; i < 9; i++) b = b.task(`t${i}`, { agent: 'slow', input: { ms: 1500 } }) as never
    const result = await o.run(b.build())
    expect(result.state).toBe('SUCCEEDED')
    expect(scaled[0]).toMatchObject({ agent: 'slow', from: 1, to: 3 })
    const pids = new Set(Object.values(result.outputs).map((v) => (v as { pid: number }).pid))
    expect(pids.size).toBeGreaterThanOrEqual(2) // tasks ran in more than one pod
    await until(() => fake.list().length === 1, 'the idle pods to be deleted')
    clearInterval(watch)
    expect(most).toBe(3)
    expect(scaled.slice(1).map((e) => [e.from, e.to])).toEqual([
      [3, 2],
      [2, 1],
    ])
  }, 120_000)
})
