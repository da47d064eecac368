import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiClient, unwrap } from '../../src/client/api-client.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { openApiDocument } from '../../src/server/app.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'
// @ts-expect-error a plain .mjs script of the repository
import { clientTypes } from '../../scripts/client-types.mjs'

let backend: Backend
let server: RunningServer
let admin = ''
beforeAll(async () => {
  backend = await openBackend('memory')
  const workflows = new WorkflowCatalog()
  workflows.add(workflow('greet').task('a', { agent: 'echo', input: 'hi' }).build())
  server = await startServer({ backend, port: 0, workflows, onAdminKey: (k) => (admin = k) })
})
afterAll(async () => {
  await server.close()
  await backend.close()
})

describe('the typed client (flotilla/client)', () => {
  it('creates a key, starts a named workflow and reads the run, typed end to end', async () => {
    const api = createApiClient({ url: server.url, apiKey: admin })
    const issued = unwrap(await api.POST('/api/v1/security/keys', { body: { name: 'svc', role: 'SERVICE' } }))
    const svc = createApiClient({ url: server.url, apiKey: issued.key })
    const run = unwrap(
      await svc.POST('/api/v1/workflows/{name}/runs', {
        params: { path: { name: 'greet' }, header: { 'idempotency-key': 'k1' } },
        body: {},
      }),
    )
    expect(run.workflow).toBe('greet')
    const again = unwrap(await svc.GET('/api/v1/runs/{id}', { params: { path: { id: run.id } } }))
    expect(again.id).toBe(run.id)
    const page = unwrap(await svc.GET('/api/v1/runs', { params: { query: { limit: 10 } } }))
    expect(page.runs.map((r) => r.id)).toContain(run.id)
  })

  it('turns an error body into a FlotillaError with the server’s code and status', async () => {
    const api = createApiClient({ url: server.url, apiKey: admin })
    try {
      unwrap(await api.GET('/api/v1/runs/{id}', { params: { path: { id: 'run_missing' } } }))
      expect.unreachable()
    } catch (e) {
      expect(isFlotillaError(e) && e.code).toBe('RUN_NOT_FOUND')
      expect(isFlotillaError(e) && e.details).toMatchObject({ status: 404 })
    }
    const anonymous = createApiClient({ url: server.url })
    const r = await anonymous.GET('/api/v1/runs', {})
    expect(r.response.status).toBe(401)
  })

  it('schema/openapi.json and src/client/api-types.ts are what `npm run schema` writes from the route table', async () => {
    const doc = openApiDocument()
    const root = new URL('../../', import.meta.url)
    expect(JSON.parse(readFileSync(new URL('schema/openapi.json', root), 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(doc)),
    )
    expect(readFileSync(new URL('src/client/api-types.ts', root), 'utf8')).toBe(await clientTypes(doc))
  })
})
