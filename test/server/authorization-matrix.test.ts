import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { requiredGrant, type ApiRoute } from '../../src/server/api-route.js'
import { API_ROUTES } from '../../src/server/routes/index.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { AGENT_MODULES, AGENT_WORKSPACE } from '../helpers/api-samples.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { resourceName } from '../../src/security/authorizer.js'
import { PermissionSet, type Permission } from '../../src/security/permissions.js'
import { ROLE_GRANTS, ROLES, type Role } from '../../src/security/roles.js'
import { workflow } from '../../src/workflows/builder.js'
import { isPublicRoute, routeLabel, routeParams, SAMPLE_BODIES, takesBody } from '../helpers/api-samples.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'

/**
 * The authorization matrix, generated from the route table: every route of
 * API_ROUTES × every role (and rotated, revoked, expired, wrong, missing and
 * scoped keys) over real HTTP. A route added to API_ROUTES is in it without
 * editing this file, except for a sample body when it takes one (a test
 * below fails until it has one).
 */

const TTL_MS = 60_000
const GRACE_MS = 30_000
/** The scopes of the scoped SERVICE key: one workflow, one action. */
const SCOPES: Permission[] = [{ resource: 'workflow:greet', actions: ['start'] }]

const method = (r: ApiRoute) => r.config.method.toUpperCase()
const label = routeLabel
const paramsOf = routeParams
const isPublic = isPublicRoute

interface Sent {
  requestId: string
  route: ApiRoute
  who: string
  res: RawResponse
}

describe('authorization matrix (generated from API_ROUTES)', () => {
  const clock = new FakeClock(0, Date.UTC(2026, 0, 1))
  let backend: Backend
  let server: RunningServer
  let admin = ''
  /** Samples for path parameters: an existing run, a key that may be revoked and rotated, a catalog workflow, a block target. */
  const samples = { runId: '', victimKeyId: '', name: 'greet', target: 'ip:10.0.0.7' }
  const roleKeys = {} as Record<Role, string>
  /** Rotated with a grace period: the old and the new secret of a key of each role. */
  const rotated = {} as Record<Role, { old: string; current: string }>
  let revoked = ''
  let expiring = ''
  let scoped = ''
  const sent: Sent[] = []
  const counts = { routes: API_ROUTES.length, roles: ROLES.length, requests: 0, cases: new Map<string, number>() }
  let seq = 0

  const count = (kind: string) => counts.cases.set(kind, (counts.cases.get(kind) ?? 0) + 1)

  /** The sample of a path parameter; `overrides` wins. Anything not named here is "sample" (a 404 for an allowed key). */
  function sampleParam(route: ApiRoute, p: string): string {
    const path = route.config.path
    if (p === 'id' && path.startsWith('/runs')) return samples.runId
    if (p === 'id' && path.startsWith('/security/keys')) return samples.victimKeyId
    if (p === 'id' && path.startsWith('/artifacts')) return 'reports/weekly' // artifact ids may hold "/"
    if (p === 'key' && path.startsWith('/cache')) return 'doc:latest'
    if (p === 'name' && path.startsWith('/workflows')) return samples.name
    if (p === 'target') return samples.target
    return 'sample'
  }

  function pathOf(
    route: ApiRoute,
    overrides: Record<string, string> = {},
  ): { path: string; params: Record<string, string> } {
    const params: Record<string, string> = {}
    for (const p of paramsOf(route)) params[p] = overrides[p] ?? sampleParam(route, p)
    const path = route.config.path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(params[p] as string))
    return { path: `/api/v1${path}`, params }
  }

  async function call(route: ApiRoute, key: string | undefined, who: string): Promise<RawResponse> {
    const { path } = pathOf(route)
    const requestId = `matrix-${++seq}`
    const body = SAMPLE_BODIES[label(route)]
    const res = await rawRequest(server.url, {
      method: method(route),
      path,
      headers: {
        'x-request-id': requestId,
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    counts.requests++
    sent.push({ requestId, route, who, res })
    return res
  }

  const api = async (m: string, path: string, body?: unknown, key = admin) =>
    (
      await rawRequest(server.url, {
        method: m,
        path: `/api/v1${path}`,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    ).json as Record<string, unknown> & { key: string; info: { id: string } }

  const createKey = (name: string, role: Role, extra: Record<string, unknown> = {}) =>
    api('POST', '/security/keys', { name, role, ...extra })

  /** What the role's grants say about a route (the oracle), with the resource named as the server names it. */
  function expected(route: ApiRoute, grants: { allows(resource: string, action: string): boolean }) {
    const grant = requiredGrant(route, pathOf(route).params)
    if (grant === undefined) return { public: true as const }
    const resource = resourceName(grant.resource)
    return { public: false as const, resource, action: grant.action, allowed: grants.allows(resource, grant.action) }
  }

  function expectOutcome(
    route: ApiRoute,
    res: RawResponse,
    grants: PermissionSet | { allows(r: string, a: string): boolean },
    who: string,
  ) {
    const want = expected(route, grants)
    const where = `${label(route)} as ${who}: ${res.status} ${res.text.slice(0, 300)}`
    expect(res.status, where).toBeLessThan(500)
    if (want.public || want.allowed) {
      expect([401, 403], where).not.toContain(res.status)
      count(want.public ? '→ public' : '→ allowed')
    } else {
      count('→ denied')
      expect(res.status, where).toBe(403)
      const error = (res.json as { error: { code: string; details: Record<string, unknown> } }).error
      expect(error.code, where).toBe('PERMISSION_DENIED')
      expect(error.details, where).toMatchObject({ resource: want.resource, action: want.action })
    }
  }

  function expectAuthError(res: RawResponse, code: 'AUTH_REQUIRED' | 'AUTH_INVALID', where: string) {
    const msg = `${where}: ${res.status} ${res.text.slice(0, 300)}`
    expect(res.status, msg).toBe(401)
    expect((res.json as { error: { code: string } }).error.code, msg).toBe(code)
  }

  beforeAll(async () => {
    backend = await openBackend('memory', { clock })
    const workflows = new WorkflowCatalog()
    workflows.add(workflow('greet').task('a', { agent: 'echo', input: 'hi' }).build())
    server = await startServer({
      backend,
      port: 0,
      workflows,
      clock,
      onAdminKey: (k) => (admin = k),
      guard: { requests: 1e9, failures: 1e9 },
      // Deployed agents from the fixtures' folder, in this process (no child processes needed here).
      agents: { modules: AGENT_MODULES, workspaceRoot: AGENT_WORKSPACE, runtimes: [new InProcessRuntime()] },
    })
    for (const role of ROLES) roleKeys[role] = (await createKey(`role-${role}`, role)).key
    for (const role of ROLES) {
      const { info, key } = await createKey(`rotated-${role}`, role)
      const next = await api('POST', `/security/keys/${info.id}/rotate`, { graceMs: GRACE_MS })
      rotated[role] = { old: key, current: next.key }
    }
    const r = await createKey('revoked', 'ADMIN')
    await api('DELETE', `/security/keys/${r.info.id}`)
    revoked = r.key
    expiring = (await createKey('expiring', 'ADMIN', { ttlMs: TTL_MS })).key
    scoped = (await createKey('scoped', 'SERVICE', { scopes: SCOPES })).key
    samples.victimKeyId = (await createKey('victim', 'GUEST')).info.id
    samples.runId = (await api('POST', '/workflows/greet/runs', {})).id as string
    expect(samples.runId).toMatch(/^run_/)
  })

  afterAll(async () => {
    await server?.close()
    await backend?.close()
    const cases = [...counts.cases].map(([k, v]) => `${k}: ${v}`).join(', ')
    console.log(
      `authorization matrix: ${counts.routes} routes × ${counts.roles} roles; ${counts.requests} requests (${cases})`,
    )
  })

  it('has a sample body for every route that takes one (add one here for a new route)', () => {
    const missing = API_ROUTES.filter(takesBody)
      .map(label)
      .filter((l) => SAMPLE_BODIES[l] === undefined)
    expect(missing).toEqual([])
  })

  it('covers every route of the table, and the public ones are exactly health and ready', () => {
    expect(API_ROUTES.length).toBeGreaterThan(0)
    expect(new Set(API_ROUTES.map(label)).size).toBe(API_ROUTES.length)
    expect(API_ROUTES.filter(isPublic).map(label).sort()).toEqual(['GET /health', 'GET /ready'])
  })

  describe.each(API_ROUTES.map((r) => [label(r), r] as const))('%s', (_, route) => {
    if (isPublic(route)) {
      it('answers without a key, and with a key of every role', async () => {
        const res = await call(route, undefined, 'no key')
        count('public, no key')
        expect(res.status, res.text).toBe(200)
        for (const role of ROLES) {
          expectOutcome(route, await call(route, roleKeys[role], role), new PermissionSet(ROLE_GRANTS[role]), role)
          count('public, role')
        }
      })
      return
    }

    it('answers each role as its grants say (allowed: not 401/403; else 403 PERMISSION_DENIED)', async () => {
      for (const role of ROLES) {
        expectOutcome(route, await call(route, roleKeys[role], role), new PermissionSet(ROLE_GRANTS[role]), role)
        count('role')
      }
    })

    it('answers the old secret of a rotated key, within its grace period, as its role', async () => {
      for (const role of ROLES) {
        expectOutcome(
          route,
          await call(route, rotated[role].old, `${role} (old secret)`),
          new PermissionSet(ROLE_GRANTS[role]),
          `${role} (old secret)`,
        )
        count('rotated, old secret in grace')
      }
    })

    it('answers no key with 401 AUTH_REQUIRED, and a wrong, malformed or revoked key with 401 AUTH_INVALID', async () => {
      expectAuthError(await call(route, undefined, 'no key'), 'AUTH_REQUIRED', 'no key')
      // The ADMIN key with one character of its secret changed.
      const last = admin.at(-1) === 'A' ? 'B' : 'A'
      expectAuthError(await call(route, admin.slice(0, -1) + last, 'wrong secret'), 'AUTH_INVALID', 'wrong secret')
      expectAuthError(
        await call(route, 'flt_000000000000_' + 'x'.repeat(43), 'unknown key'),
        'AUTH_INVALID',
        'unknown key',
      )
      expectAuthError(await call(route, 'not-a-key', 'malformed key'), 'AUTH_INVALID', 'malformed key')
      expectAuthError(await call(route, revoked, 'revoked'), 'AUTH_INVALID', 'revoked ADMIN key')
      for (const k of ['no key', 'wrong key', 'unknown key', 'malformed key', 'revoked key']) count(k)
    })

    it('lets the scoped SERVICE key start workflow greet and nothing else', async () => {
      const role = new PermissionSet(ROLE_GRANTS.SERVICE)
      const scopes = new PermissionSet(SCOPES)
      const grants = { allows: (r: string, a: string) => role.allows(r, a) && scopes.allows(r, a) }
      expectOutcome(route, await call(route, scoped, 'scoped SERVICE'), grants, 'scoped SERVICE')
      count('scoped')
      const want = expected(route, grants)
      expect(!want.public && want.allowed).toBe(label(route) === 'POST /workflows/{name}/runs')
    })

    it('answers a key with a TTL as its role before it expires', async () => {
      expectOutcome(
        route,
        await call(route, expiring, 'expiring ADMIN'),
        new PermissionSet(ROLE_GRANTS.ADMIN),
        'expiring ADMIN',
      )
      count('ttl, before expiry')
    })
  })

  it('has in the audit log every denial, and every allowed call of a state-changing route, by request id', async () => {
    const entries: { requestId: string | null; action: string; outcome: string; resource: string }[] = []
    for (let after = 0; ; ) {
      const page = (await api('GET', `/security/audit?afterSeq=${after}&limit=1000`))
        .entries as ((typeof entries)[number] & {
        seq: number
      })[]
      entries.push(...page)
      if (page.length < 1000) break
      after = page.at(-1)!.seq
    }
    const byRequest = new Map<string, typeof entries>()
    for (const e of entries)
      if (e.requestId !== null) byRequest.set(e.requestId, [...(byRequest.get(e.requestId) ?? []), e])
    let checked = 0
    for (const s of sent) {
      const found = byRequest.get(s.requestId) ?? []
      const where = `${label(s.route)} as ${s.who} (${s.requestId}, ${s.res.status}): ${JSON.stringify(found)}`
      const code = (s.res.json as { error?: { code: string } } | undefined)?.error?.code
      if (code === 'PERMISSION_DENIED') {
        expect(
          found.some((e) => e.outcome === 'denied'),
          where,
        ).toBe(true)
        checked++
      } else if (code === 'AUTH_INVALID') {
        expect(
          found.some((e) => e.action === 'auth.fail' && e.outcome === 'failed'),
          where,
        ).toBe(true)
        checked++
      } else if (s.route.audit !== undefined && s.res.status !== 401) {
        expect(
          found.some((e) => e.action === s.route.audit && e.outcome === (s.res.status < 400 ? 'succeeded' : 'failed')),
          where,
        ).toBe(true)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(API_ROUTES.length)
  })

  describe('invariants of the role table, for every route', () => {
    const nonPublic = API_ROUTES.filter((r) => !isPublic(r))
    const odd = ['sample', 'a/b', 'a/b/c', 'x:y', '..', '*']

    it('lets ADMIN ("everything") call every route, whatever its path parameters hold', async () => {
      const grants = new PermissionSet(ROLE_GRANTS.ADMIN)
      const denied: string[] = []
      for (const route of nonPublic) {
        for (const v of odd) {
          const params = Object.fromEntries(paramsOf(route).map((p) => [p, v]))
          const grant = requiredGrant(route, params)!
          if (!grants.allows(resourceName(grant.resource), grant.action))
            denied.push(`${label(route)} ${grant.action} ${resourceName(grant.resource)}`)
        }
      }
      expect(denied).toEqual([])
      for (const route of nonPublic.filter((r) => paramsOf(r).length > 0)) {
        const { path } = pathOf(route, Object.fromEntries(paramsOf(route).map((p) => [p, 'a/b'])))
        const res = await rawRequest(server.url, {
          method: method(route),
          path,
          headers: { authorization: `Bearer ${admin}` },
        })
        count('ADMIN, "/" in a parameter')
        expect([401, 403], `${label(route)} as ADMIN with a/b: ${res.status} ${res.text}`).not.toContain(res.status)
        expect(res.status).toBeLessThan(500)
      }
    })

    it('denies GUEST and ANALYST every state-changing (audited) route', () => {
      for (const role of ['GUEST', 'ANALYST'] as const) {
        const grants = new PermissionSet(ROLE_GRANTS[role])
        for (const route of nonPublic.filter((r) => r.audit !== undefined))
          expect(expected(route, grants), `${role} ${label(route)}`).toMatchObject({ allowed: false })
      }
    })

    it('lets only ADMIN create, rotate or revoke keys and lift blocks', () => {
      const managing = nonPublic.filter((r) => {
        const g = requiredGrant(r, pathOf(r).params)!
        return (g.resource.kind === 'key' && g.action !== 'read') || g.action === 'lift'
      })
      expect(managing.length).toBeGreaterThanOrEqual(4)
      for (const role of ROLES.filter((r) => r !== 'ADMIN'))
        for (const route of managing)
          expect(expected(route, new PermissionSet(ROLE_GRANTS[role])), `${role} ${label(route)}`).toMatchObject({
            allowed: false,
          })
    })
  })

  it('denies the scoped SERVICE key starting any other workflow, named or inline', async () => {
    const other = await rawRequest(server.url, {
      method: 'POST',
      path: '/api/v1/workflows/other/runs',
      headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(other.status).toBe(403)
    expect(other.json).toMatchObject({ error: { code: 'PERMISSION_DENIED', details: { resource: 'workflow:other' } } })
    const inline = await rawRequest(server.url, {
      method: 'POST',
      path: '/api/v1/runs',
      headers: { authorization: `Bearer ${scoped}`, 'content-type': 'application/json' },
      body: JSON.stringify(SAMPLE_BODIES['POST /runs']),
    })
    expect(inline.status).toBe(403)
    expect(inline.json).toMatchObject({ error: { code: 'PERMISSION_DENIED', details: { resource: 'workflow:*' } } })
  })

  describe('bugs this test found, fixed (kept as regressions)', () => {
    it('GET /security/whoami answers the key of the request for every role (it is ADMIN-only: key:self)', async () => {
      for (const role of ROLES) {
        const res = await rawRequest(server.url, {
          method: 'GET',
          path: '/api/v1/security/whoami?resource=workflow:greet&action=start',
          headers: { authorization: `Bearer ${roleKeys[role]}` },
        })
        expect(res.status, `${role}: ${res.text}`).toBe(200)
      }
    })
  })

  describe('after the TTL and the grace period', () => {
    beforeAll(async () => {
      await clock.advance(Math.max(TTL_MS, GRACE_MS) + 1)
    })

    it.each(API_ROUTES.filter((r) => !isPublic(r)).map((r) => [label(r), r] as const))(
      '%s: an expired key and a rotated-out secret are 401 AUTH_INVALID; the new secret works as its role',
      async (_, route) => {
        expectAuthError(await call(route, expiring, 'expired ADMIN'), 'AUTH_INVALID', 'expired ADMIN key')
        count('expired')
        for (const role of ROLES) {
          expectAuthError(
            await call(route, rotated[role].old, `${role} (old secret, after grace)`),
            'AUTH_INVALID',
            `${role} old secret after the grace`,
          )
          count('rotated, old secret after grace')
          expectOutcome(
            route,
            await call(route, rotated[role].current, `${role} (new secret)`),
            new PermissionSet(ROLE_GRANTS[role]),
            `${role} (new secret)`,
          )
          count('rotated, new secret')
        }
      },
    )

    it.each(API_ROUTES.filter(isPublic).map((r) => [label(r), r] as const))(
      '%s: still answers without a key',
      async (_, route) => {
        expect((await call(route, undefined, 'no key')).status).toBe(200)
      },
    )
  })
})
