import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { loadDashboard } from '../../src/server/dashboard.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'

/**
 * `flotilla serve` serving the dashboard's built files at `/` (a folder made
 * here, so this runs without a front-end build), and `GET /runs/{id}/graph`,
 * the dependency graph the run page draws.
 */
describe('the dashboard at /', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-dashboard-'))
  const INDEX = '<!doctype html><title>Flotilla</title><script type="module" src="/assets/index-abc123.js"></script>'
  let backend: Backend
  let server: RunningServer
  let admin = ''
  let bare: RunningServer

  beforeAll(async () => {
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), INDEX)
    writeFileSync(join(dir, 'assets/index-abc123.js'), 'console.log(1)')
    writeFileSync(join(dir, 'favicon.svg'), '<svg/>')
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(
      workflow('diamond')
        .task('a', { agent: 'echo', input: 1 })
        .task('b', { agent: 'echo', input: { $ref: 'tasks.a.output' } as never })
        .task('c', { agent: 'echo', dependsOn: ['a'], retry: { maxAttempts: 3 } })
        .task('d', { capability: 'summarize', dependsOn: ['b', 'c'] })
        .build(),
    )
    server = await startServer({ backend, port: 0, workflows, dashboard: dir, onAdminKey: (k) => (admin = k) })
    bare = await startServer({ backend, port: 0, dashboard: false })
  })
  afterAll(async () => {
    await Promise.all([server.close(), bare.close()])
    await backend.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers index.html at / and at any page path, revalidated, with a content security policy', async () => {
    for (const path of ['/', '/runs/run_abc', '/agents', '/index.html']) {
      const res = await fetch(`${server.url}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
      expect(await res.text()).toBe(INDEX)
    }
    expect(server.dashboard).toBe(dir)
  })

  it('caches hashed assets for a year, other files not, and answers 404 for a missing asset', async () => {
    const js = await fetch(`${server.url}/assets/index-abc123.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(await js.text()).toBe('console.log(1)')
    const svg = await fetch(`${server.url}/favicon.svg`)
    expect(svg.headers.get('cache-control')).toBe('public, max-age=0, must-revalidate')
    expect((await fetch(`${server.url}/assets/index-zzz.js`)).status).toBe(404)
    const escape = await fetch(`${server.url}/assets/..%2f..%2findex.html`)
    expect(escape.status).toBe(404)
  })

  it('leaves the API, its 404s and /metrics alone', async () => {
    const missing = await fetch(`${server.url}/api/v1/nope`, { headers: { authorization: `Bearer ${admin}` } })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('ROUTE_NOT_FOUND')
    expect((await fetch(`${server.url}/api/v1/health`)).status).toBe(200)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
  })

  it('serves no page with dashboard: false, and refuses a folder without index.html', async () => {
    expect(bare.dashboard).toBeUndefined()
    expect((await fetch(`${bare.url}/`)).status).toBe(404)
    let error: unknown
    try {
      loadDashboard(join(dir, 'assets'))
    } catch (e) {
      error = e
    }
    expect(isFlotillaError(error) && error.code).toBe('VALIDATION_FAILED')
    expect((error as Error).message).toContain('holds no index.html')
  })

  it('gives the graph of a run: tasks after those they wait for, references as dependencies', async () => {
    const started = await fetch(`${server.url}/api/v1/workflows/diamond/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: '{}',
    })
    const run = (await started.json()) as { id: string }
    const res = await fetch(`${server.url}/api/v1/runs/${run.id}/graph`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(res.status).toBe(200)
    const graph = (await res.json()) as {
      workflow: string
      tasks: {
        taskId: string
        agent: string | null
        capability: string | null
        dependsOn: string[]
        maxAttempts: number
      }[]
    }
    expect(graph.workflow).toBe('diamond')
    const byId = new Map(graph.tasks.map((t) => [t.taskId, t]))
    expect(byId.get('b')?.dependsOn).toEqual(['a'])
    expect(byId.get('c')).toMatchObject({ dependsOn: ['a'], maxAttempts: 3, agent: 'echo' })
    expect(byId.get('d')).toMatchObject({ agent: null, capability: 'summarize' })
    expect([...(byId.get('d')?.dependsOn ?? [])].sort()).toEqual(['b', 'c'])
    const order = graph.tasks.map((t) => t.taskId)
    for (const t of graph.tasks)
      for (const d of t.dependsOn) expect(order.indexOf(d)).toBeLessThan(order.indexOf(t.taskId))
    const unknown = await fetch(`${server.url}/api/v1/runs/run_nope/graph`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(unknown.status).toBe(404)
  })
})
