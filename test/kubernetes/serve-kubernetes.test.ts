// `flotilla serve --kubernetes` as a real child process, on a fake Kubernetes API started here and found
// through a KUBECONFIG file as a user would write it: an agent deployed over the HTTP API becomes a pod in
// the fake cluster (whose kubelet runs the real agent runner), commands reach it, and stopping the server
// deletes the pod. No real cluster runs here.
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { V1Pod } from '@kubernetes/client-node'
import { ensureBuilt, runCli, spawnCli, tempDir, type BackgroundCli } from '../cli/run-cli.js'
import { FakeKubeApi } from './fake-kube-api.js'

const MODULES = resolve(import.meta.dirname, '../fixtures/server-agents')
const KEY = /flt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/
const fake = new FakeKubeApi()
const tmp = tempDir('flotilla-serve-k8s-')
const kubeconfig = join(tmp.dir, 'kubeconfig.yaml')

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const got = probe()
    if (got !== undefined) return got
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

beforeAll(async () => {
  ensureBuilt()
  await fake.start()
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: { server: "${fake.url}", insecure-skip-tls-verify: true }
users:
  - name: runtime
    user: { token: "${fake.token}" }
contexts:
  - name: fake
    context: { cluster: fake, user: runtime }
current-context: fake
`,
  )
}, 60_000)
afterAll(async () => {
  await fake.stop()
  tmp.cleanup()
})

describe('flotilla serve --kubernetes', () => {
  let cli: BackgroundCli
  let url = ''
  let key = ''

  type Json = Record<string, unknown> & { id: string; runtime: string; error?: { code: string; message: string } }
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, json: (await res.json()) as Json }
  }

  it('deploys the agents of the API as pods in the namespace given, with the image given, and deletes them on stop', async () => {
    cli = spawnCli(
      [
        'serve',
        '--port',
        '0',
        '--agent-modules',
        MODULES,
        '--agent-workspace',
        join(tmp.dir, 'agents'),
        '--kubernetes',
        '--kubernetes-namespace',
        'agents',
        '--kubernetes-image',
        'registry.example/acme/agents:7',
      ],
      {
        cwd: tmp.dir,
        env: {
          KUBECONFIG: kubeconfig,
          FLOTILLA_STORE: 'memory',
          FLOTILLA_ADMIN_KEY: undefined,
          FLOTILLA_AGENT_WORKSPACE: join(tmp.dir, 'pod-workspaces'),
        },
      },
    )
    await cli.waitFor('Ctrl-C or SIGTERM stops it.', 30_000)
    url = /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]!
    key = KEY.exec(cli.stdout())![0]
    expect(cli.stdout()).toContain('as pods in namespace agents (kubernetes runtime)')

    const deployed = await api('POST', '/deployed-agents', { spec: { name: 'mailbox', module: 'mailbox.mjs' } })
    expect(deployed.status, JSON.stringify(deployed.json)).toBe(201)
    expect(deployed.json).toMatchObject({ name: 'mailbox', runtime: 'kubernetes', state: 'RUNNING' })
    const pods = fake.list('agents')
    expect(pods).toHaveLength(1)
    const pod: V1Pod = pods[0]!
    expect(pod.metadata?.labels).toMatchObject({
      'flotilla.dev/agent': 'mailbox',
      'flotilla.dev/agent-id': deployed.json.id,
      'app.kubernetes.io/managed-by': 'flotilla',
    })
    expect(pod.spec?.containers[0]?.image).toBe('registry.example/acme/agents:7')
    expect(fake.typeProblems).toEqual([])
    expect(fake.requests.some((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/agents/pods')).toBe(true)

    const ran = await api('POST', `/deployed-agents/${deployed.json.id}/execute`, { input: { hello: 'pod' } })
    expect(ran).toEqual({ status: 200, json: { output: { echo: { hello: 'pod' } } } })

    // a spec may still ask for a child process
    const local = await api('POST', '/deployed-agents', {
      spec: { name: 'mailbox', module: 'mailbox.mjs' },
      runtime: 'process',
    })
    expect(local.status, JSON.stringify(local.json)).toBe(201)
    expect(local.json.runtime).toBe('process')
    expect(fake.list('agents')).toHaveLength(1)

    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    await until('the pod to be deleted', () => (fake.list('agents').length === 0 ? true : undefined))
    expect(
      fake.requests.some(
        (r) => r.method === 'DELETE' && r.path === `/api/v1/namespaces/agents/pods/${pod.metadata!.name!}`,
      ),
    ).toBe(true)
  }, 90_000)

  it('refuses a namespace the service account may not use with KUBERNETES_FORBIDDEN, leaving no pod', async () => {
    cli = spawnCli(
      ['serve', '--port', '0', '--agent-modules', MODULES, '--kubernetes', '--kubernetes-namespace', 'kube-system'],
      { cwd: tmp.dir, env: { KUBECONFIG: kubeconfig, FLOTILLA_STORE: 'memory', FLOTILLA_ADMIN_KEY: undefined } },
    )
    await cli.waitFor('Ctrl-C or SIGTERM stops it.', 30_000)
    url = /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]!
    key = KEY.exec(cli.stdout())![0]
    const refused = await api('POST', '/deployed-agents', { spec: { name: 'mailbox', module: 'mailbox.mjs' } })
    expect(refused.json.error?.code, JSON.stringify(refused.json)).toBe('KUBERNETES_FORBIDDEN')
    expect(refused.json.error?.message).toContain('kube-system')
    expect(fake.list('kube-system')).toEqual([])
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
  }, 60_000)

  it('refuses flags that cannot work, saying what to add', async () => {
    const bare = await runCli(['serve', '--kubernetes'], { env: { FLOTILLA_STORE: 'memory' } })
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain('add --agent-modules DIR')
    const alone = await runCli(['serve', '--kubernetes-namespace', 'agents'], { env: { FLOTILLA_STORE: 'memory' } })
    expect(alone.code).toBe(2)
    expect(alone.stderr).toContain('add --kubernetes')
    const badNs = await runCli(
      ['serve', '--agent-modules', MODULES, '--kubernetes', '--kubernetes-namespace', 'Not_A_Namespace'],
      { env: { FLOTILLA_STORE: 'memory' } },
    )
    expect(badNs.code).toBe(2)
    expect(badNs.stderr).toContain('is not a namespace name')
  }, 60_000)
})
