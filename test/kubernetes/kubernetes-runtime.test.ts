// The kubernetes runtime against a fake Kubernetes API started by the test (no real cluster runs here):
// the runtime contract suite, the Pod it sends, pod states watched into exits with codes, and bad input.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { newAgentId } from '../../src/core/ids.js'
import { KubernetesRuntime, type KubernetesRuntimeOptions } from '../../src/kubernetes.js'
import type { DeployRequest, Runtime } from '../../src/runtimes/runtime.js'
import { AgentSupervisor } from '../../src/runtimes/supervisor.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { errorOf, recordingHooks, runtimeContract, SINK } from '../contract/runtime.contract.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { FakeKubeApi } from './fake-kube-api.js'

const fake = new FakeKubeApi()
const root = mkdtempSync(join(tmpdir(), 'flotilla-k8s-'))

beforeAll(async () => {
  ensureFreshBuild()
  await fake.start()
}, 120_000)
afterAll(async () => {
  await fake.stop()
  rmSync(root, { recursive: true, force: true })
})

function options(over: KubernetesRuntimeOptions = {}): KubernetesRuntimeOptions {
  return {
    cluster: { server: fake.url, token: fake.token },
    namespace: 'agents',
    image: 'flotilla:test',
    workspacePath: root,
    ownerPod: null,
    terminationGraceSeconds: 1,
    usageIntervalMs: 100,
    readyTimeoutMs: 20_000,
    ...over,
  }
}

runtimeContract({
  name: 'kubernetes (fake API server)',
  create: () => new KubernetesRuntime(options()),
  liveProcesses: () => fake.running(),
})

describe('KubernetesRuntime (kubernetes-only behaviour, fake API server)', () => {
  let runtime: Runtime
  afterEach(async () => {
    await runtime?.close()
    expect(fake.list()).toEqual([]) // no pod left behind
  })

  function request(over: Partial<DeployRequest> = {}): DeployRequest {
    const instanceId = newAgentId()
    return {
      instanceId,
      name: 'sink',
      module: SINK,
      exportName: 'default',
      tools: [],
      permissions: [{ resource: 'file:**', actions: ['*'] }],
      limits: {},
      env: {},
      workspace: join(root, instanceId),
      ...over,
    }
  }

  it('creates a pod with labels, owner, resources from the limits, env and command; the body fits the client library’s Pod type', async () => {
    runtime = new KubernetesRuntime(
      options({ labels: { 'flotilla.dev/run': 'run_1' }, secretEnv: { API_KEY: { secret: 'keys', key: 'api' } } }),
    )
    fake.secrets.set('keys', { api: 'k-123' })
    const parent = await runtime.deploy(request({ limits: { memoryMb: 128, storageMb: 10 } }), recordingHooks().hooks)
    const child = await runtime.deploy(
      request({
        name: 'helper',
        parentId: parent.instanceId,
        env: { MODE: 'x', NODE_OPTIONS: '--inspect' },
        limits: { memoryMb: 64 },
      }),
      recordingHooks().hooks,
    )
    expect(await child.execute({ op: 'pid', env: 'API_KEY' })).toMatchObject({
      env: 'k-123',
      nodeOptions: '--max-old-space-size=64',
    })
    const [p, c] = fake.list()
    expect(p!.metadata!.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'flotilla',
      'flotilla.dev/agent': 'sink',
      'flotilla.dev/agent-id': parent.instanceId,
      'flotilla.dev/run': 'run_1',
    })
    expect(c!.metadata!.labels).toMatchObject({
      'flotilla.dev/parent-id': parent.instanceId,
      'flotilla.dev/agent': 'helper',
    })
    expect(c!.metadata!.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: p!.metadata!.name, uid: p!.metadata!.uid, blockOwnerDeletion: true },
    ])
    const container = p!.spec!.containers[0]!
    expect(container.command).toEqual(['flotilla', 'agent', 'run', '--http', '8080'])
    expect(container.resources).toEqual({
      requests: { cpu: '100m', memory: '288Mi', 'ephemeral-storage': '74Mi' },
      limits: { memory: '288Mi', 'ephemeral-storage': '74Mi' },
    })
    expect(p!.spec!.restartPolicy).toBe('Never')
    const env = c!.spec!.containers[0]!.env!
    expect(env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=64')
    expect(env.find((e) => e.name === 'API_KEY')?.valueFrom).toEqual({ secretKeyRef: { name: 'keys', key: 'api' } })
    expect(env.filter((e) => e.name === 'NODE_OPTIONS')).toHaveLength(1)
    expect(fake.typeProblems).toEqual([])
    const creates = fake.requests.filter((r) => r.method === 'POST')
    expect(creates.slice(-2).map((r) => [r.path, r.status])).toEqual([
      ['/api/v1/namespaces/agents/pods', 201],
      ['/api/v1/namespaces/agents/pods', 201],
    ])
    expect(
      fake.requests.some(
        (r) => r.query.watch === 'true' && r.query.fieldSelector === `metadata.name=${p!.metadata!.name}`,
      ),
    ).toBe(true)
  })

  it('deleting a parent pod in the cluster deletes its children (ownerReferences); the child reports a crash', async () => {
    runtime = new KubernetesRuntime(options())
    const parent = await runtime.deploy(request(), recordingHooks().hooks)
    const { hooks, rec } = recordingHooks()
    await runtime.deploy(request({ parentId: parent.instanceId }), hooks)
    const parentPod = fake.list().find((p) => p.metadata!.labels!['flotilla.dev/agent-id'] === parent.instanceId)!
    await fetch(`${fake.url}/api/v1/namespaces/agents/pods/${parentPod.metadata!.name}?gracePeriodSeconds=0`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${fake.token}` },
    })
    const exit = await rec.exited
    expect(exit.code).toBe('AGENT_CRASHED')
    expect(exit.reason).toContain('deleted')
  })

  it('OOMKilled is RESOURCE_LIMIT_EXCEEDED (memory) and the pod is deleted', async () => {
    runtime = new KubernetesRuntime(options())
    const { hooks, rec } = recordingHooks()
    const handle = await runtime.deploy(request({ limits: { memoryMb: 64 } }), hooks)
    const running = errorOf(handle.execute({ op: 'sleep', ms: 10_000 }))
    fake.oomKill(fake.list()[0]!.metadata!.name!)
    const exit = await rec.exited
    expect(exit).toMatchObject({
      code: 'RESOURCE_LIMIT_EXCEEDED',
      details: { limit: 'memory', reason: 'OOMKilled', exitCode: 137 },
    })
    expect((await running).code).toBe('RESOURCE_LIMIT_EXCEEDED')
    await until(() => fake.list().length === 0)
  })

  it('an eviction is KUBERNETES_POD_EVICTED with the node’s message', async () => {
    runtime = new KubernetesRuntime(options())
    const { hooks, rec } = recordingHooks()
    await runtime.deploy(request(), hooks)
    fake.evict(fake.list()[0]!.metadata!.name!)
    const exit = await rec.exited
    expect(exit.code).toBe('KUBERNETES_POD_EVICTED')
    expect(exit.reason).toContain('low on resource: memory')
    await until(() => fake.list().length === 0)
  })

  it('a dropped watch is started again from its resource version, and later pod states are still seen', async () => {
    runtime = new KubernetesRuntime(options())
    const { hooks, rec } = recordingHooks()
    await runtime.deploy(request(), hooks)
    const watches = (): number => fake.requests.filter((r) => r.query.watch === 'true').length
    const before = watches()
    fake.dropWatches()
    await until(() => watches() > before)
    expect(fake.requests.filter((r) => r.query.watch === 'true').at(-1)!.query.resourceVersion).toMatch(/^\d+$/)
    await rec.event((e) => e.type === 'log' && String(e.data.message).includes('watching again'))
    fake.oomKill(fake.list()[0]!.metadata!.name!)
    expect((await rec.exited).code).toBe('RESOURCE_LIMIT_EXCEEDED')
  })

  it('a watch that cannot be started again is KUBERNETES_WATCH_LOST, and the pod is deleted', async () => {
    runtime = new KubernetesRuntime(options({ watchRetryMs: 600 }))
    const { hooks, rec } = recordingHooks()
    const handle = await runtime.deploy(request(), hooks)
    fake.refuseWatches(1000)
    fake.dropWatches()
    const exit = await rec.exited
    fake.refuseWatches(0)
    expect(exit.code).toBe('KUBERNETES_WATCH_LOST')
    expect(exit.reason).toContain('HTTP 500')
    expect((await errorOf(handle.execute({ op: 'echo' }))).code).toBe('AGENT_CRASHED')
    await until(() => fake.list().length === 0)
  })

  it.each([
    [
      'an image that cannot be pulled',
      { image: 'registry.example/missing:1' },
      {},
      'KUBERNETES_IMAGE_PULL_FAILED',
      'ImagePullBackOff',
    ],
    [
      'a forbidden namespace',
      { namespace: 'kube-system' },
      {},
      'KUBERNETES_FORBIDDEN',
      'cannot create resource "pods"',
    ],
    ['a pod the API server finds invalid', { image: ' ' }, {}, 'KUBERNETES_INVALID', 'spec.containers[0].image'],
    ['limits a quota refuses', {}, { limits: { memoryMb: 4096 } }, 'KUBERNETES_QUOTA_EXCEEDED', 'exceeded quota'],
    [
      'an API server that cannot be reached',
      { cluster: { server: 'http://127.0.0.1:9' } },
      {},
      'KUBERNETES_UNREACHABLE',
      'cannot be reached',
    ],
  ] as const)(
    '%s fails the deploy with a typed code and leaves no pod behind',
    async (_what, over, req, code, text) => {
      if (code === 'KUBERNETES_QUOTA_EXCEEDED') fake.quotas.set('agents', 1024)
      runtime = new KubernetesRuntime(options(over as KubernetesRuntimeOptions))
      const e = await errorOf(runtime.deploy(request(req as Partial<DeployRequest>), recordingHooks().hooks))
      fake.quotas.delete('agents')
      expect(e.code).toBe(code)
      expect(e.message).toContain(text)
      expect(fake.running()).toBe(0)
    },
    20_000,
  )

  it('a pod name already taken is a 409: KUBERNETES_API_ERROR', async () => {
    runtime = new KubernetesRuntime(options())
    const r = request()
    await runtime.deploy(r, recordingHooks().hooks)
    const e = await errorOf(runtime.deploy(r, recordingHooks().hooks))
    expect(e).toMatchObject({ code: 'KUBERNETES_API_ERROR', details: { status: 409, reason: 'AlreadyExists' } })
  })

  it('under the supervisor: an OOMKilled pod makes the agent FAILED with the reason; a refused deploy stores it and leaves no pod', async () => {
    const store = new MemoryStore()
    runtime = new KubernetesRuntime(options())
    fake.quotas.set('agents', 1024)
    const supervisor = new AgentSupervisor({ store, runtimes: [runtime], workspaceRoot: root })
    try {
      const agent = await supervisor.deploy({ name: 'sink', module: SINK, limits: { memoryMb: 64 } })
      fake.oomKill(fake.list()[0]!.metadata!.name!)
      await until(async () => (await supervisor.status(agent.id)).state === 'FAILED')
      expect((await supervisor.status(agent.id)).reason).toMatch(/^RESOURCE_LIMIT_EXCEEDED: .*OOMKilled/)
      const refused = await errorOf(supervisor.deploy({ name: 'big', module: SINK, limits: { memoryMb: 4096 } }))
      expect(refused.code).toBe('KUBERNETES_QUOTA_EXCEEDED')
      const [big] = await supervisor.list({ name: 'big' })
      expect(big).toMatchObject({ state: 'TERMINATED' })
      expect(big!.reason).toContain('exceeded quota')
    } finally {
      fake.quotas.delete('agents')
      await supervisor.close()
    }
  })
})

async function until(test: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}
