// The usage of agent pods from the metrics API (metrics.k8s.io/v1beta1 PodMetrics) through the fake API
// server: read into the agent's usage when the cluster serves it, shared per namespace and read again at
// most once per interval; a cluster without it (404) gives the runner's report and no error.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newAgentId } from '../../src/core/ids.js'
import { KubernetesRuntime, type KubernetesRuntimeOptions } from '../../src/kubernetes.js'
import { podMetricsSamples, quantity } from '../../src/runtimes/kubernetes/kube-api.js'
import type { DeployRequest, RuntimeHandle } from '../../src/runtimes/runtime.js'
import { recordingHooks, SINK } from '../contract/runtime.contract.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { FakeKubeApi } from './fake-kube-api.js'

const withMetrics = new FakeKubeApi({ metrics: true })
const without = new FakeKubeApi()
const root = mkdtempSync(join(tmpdir(), 'flotilla-k8s-metrics-'))

beforeAll(async () => {
  ensureFreshBuild()
  await Promise.all([withMetrics.start(), without.start()])
}, 120_000)
afterAll(async () => {
  await Promise.all([withMetrics.stop(), without.stop()])
  rmSync(root, { recursive: true, force: true })
})

function runtime(fake: FakeKubeApi, over: KubernetesRuntimeOptions = {}): KubernetesRuntime {
  return new KubernetesRuntime({
    cluster: { server: fake.url, token: fake.token },
    namespace: 'agents',
    image: 'flotilla:test',
    workspacePath: root,
    ownerPod: null,
    terminationGraceSeconds: 1,
    usageIntervalMs: 100,
    readyTimeoutMs: 20_000,
    ...over,
  })
}

function request(): DeployRequest {
  const instanceId = newAgentId()
  return {
    instanceId,
    name: 'sink',
    module: SINK,
    exportName: 'default',
    tools: [],
    permissions: [],
    limits: {},
    env: {},
    workspace: join(root, instanceId),
  }
}

const metricsCalls = (fake: FakeKubeApi) =>
  fake.requests.filter((r) => r.path === '/apis/metrics.k8s.io/v1beta1/namespaces/agents/pods')

function podName(fake: FakeKubeApi, handle: RuntimeHandle): string {
  const pod = fake.list().find((p) => p.metadata?.labels?.['flotilla.dev/agent-id'] === handle.instanceId)
  return pod!.metadata!.name!
}

describe('kubernetes runtime usage from the metrics API (fake API server)', () => {
  it('reads the pod’s working set and CPU rate into the usage, one list per namespace per interval', async () => {
    const rt = runtime(withMetrics, { metricsIntervalMs: 60_000 })
    try {
      const [a, b] = await Promise.all([
        rt.deploy(request(), recordingHooks().hooks),
        rt.deploy(request(), recordingHooks().hooks),
      ])
      withMetrics.podMetrics.set(podName(withMetrics, a), { cpu: '250m', memory: '51200Ki' })
      const before = metricsCalls(withMetrics).length
      const usage = await a.usage()
      expect(usage.pod).toEqual({ cpuCores: 0.25, memoryBytes: 51200 * 1024, at: expect.any(Number), windowMs: 10_500 })
      expect(usage.memoryBytes).toBe(51200 * 1024)
      expect(usage.cpuMs).toBeGreaterThanOrEqual(0) // CPU time still comes from the runner
      // b's sample came with the same list, measured from its process (the fake's kubelet reads /proc)
      const other = await b.usage()
      expect(other.pod?.memoryBytes).toBeGreaterThan(10 * 2 ** 20)
      expect(other.pod?.memoryBytes).toBeLessThan(2 ** 30)
      expect(metricsCalls(withMetrics).length - before).toBe(1)
      expect(metricsCalls(withMetrics).at(-1)!.status).toBe(200)
    } finally {
      await rt.close()
    }
  }, 60_000)

  it('reads the list again once the interval has passed', async () => {
    const rt = runtime(withMetrics, { metricsIntervalMs: 50 })
    try {
      const a = await rt.deploy(request(), recordingHooks().hooks)
      const name = podName(withMetrics, a)
      withMetrics.podMetrics.set(name, { cpu: '1', memory: '100Mi' })
      expect((await a.usage()).pod?.cpuCores).toBe(1)
      withMetrics.podMetrics.set(name, { cpu: '500000000n', memory: '120Mi' })
      await new Promise((r) => setTimeout(r, 80))
      const later = await a.usage()
      expect(later.pod).toMatchObject({ cpuCores: 0.5, memoryBytes: 120 * 2 ** 20 })
    } finally {
      await rt.close()
    }
  }, 60_000)

  it('without a metrics API (404), the usage is the runner’s report, without error, and the API is not asked again at once', async () => {
    const rt = runtime(without, { metricsIntervalMs: 10 })
    try {
      const a = await rt.deploy(request(), recordingHooks().hooks)
      const first = await a.usage()
      await new Promise((r) => setTimeout(r, 30))
      const second = await a.usage()
      for (const u of [first, second]) {
        expect(u.pod).toBeUndefined()
        expect(u.memoryBytes).toBeGreaterThan(0) // the runner's resident set
      }
      expect(metricsCalls(without).map((r) => r.status)).toEqual([404])
    } finally {
      await rt.close()
    }
  }, 60_000)

  it('never reads the metrics API with metricsIntervalMs 0', async () => {
    const rt = runtime(withMetrics, { metricsIntervalMs: 0 })
    try {
      const a = await rt.deploy(request(), recordingHooks().hooks)
      const before = metricsCalls(withMetrics).length
      expect((await a.usage()).pod).toBeUndefined()
      expect(metricsCalls(withMetrics).length).toBe(before)
    } finally {
      await rt.close()
    }
  }, 60_000)
})

describe('metrics API quantities', () => {
  it('reads the quantities metrics-server writes', () => {
    expect(quantity('250m')).toBe(0.25)
    expect(quantity('12345678n')).toBeCloseTo(0.012345678, 12)
    expect(quantity('51200Ki')).toBe(52_428_800)
    expect(quantity('1Gi')).toBe(2 ** 30)
    expect(quantity('1.5')).toBe(1.5)
    expect(quantity('2k')).toBe(2000)
    expect(quantity('12x')).toBeNaN()
    expect(quantity('')).toBeNaN()
  })

  it('sums the containers of a pod and reads the window', () => {
    const samples = podMetricsSamples({
      kind: 'PodMetricsList',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { selfLink: '' },
      items: [
        {
          metadata: { name: 'p', namespace: 'agents', selfLink: '', creationTimestamp: '' },
          timestamp: '2026-01-01T00:00:00Z',
          window: '1m0.5s',
          containers: [
            { name: 'agent', usage: { cpu: '100m', memory: '10Mi' } },
            { name: 'sidecar', usage: { cpu: '50m', memory: 'garbage' } },
          ],
        },
      ],
    })
    expect(samples).toHaveLength(1)
    expect(samples[0]!.cpuCores).toBeCloseTo(0.15, 12)
    expect(samples[0]).toEqual({
      name: 'p',
      cpuCores: samples[0]!.cpuCores,
      memoryBytes: 10 * 2 ** 20,
      at: Date.parse('2026-01-01T00:00:00Z'),
      windowMs: 60_500,
    })
  })
})
