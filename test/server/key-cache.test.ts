import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { ApiKeys } from '../../src/security/api-keys.js'
import { SqliteSecurityStore } from '../../src/security/sqlite/sqlite-security-store.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'

/**
 * The server remembers verified keys for `keyCacheMs`; these tests hold it to
 * its promise over real HTTP on a SQLite file: a revoke through the API is
 * refused at the next request, one by another process within keyCacheMs, and
 * expiry and rotation grace are exact.
 */
describe('HTTP API: keys remembered by the server', () => {
  let dir: string
  let clock: FakeClock
  let backend: Backend
  let server: RunningServer
  let admin: string
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-key-cache-'))
    clock = new FakeClock(0, Date.now())
    backend = await openBackend(`sqlite:${join(dir, 'flotilla.db')}`, { clock })
    server = await startServer({ backend, port: 0, clock, onAdminKey: (k) => (admin = k) })
  })
  afterEach(async () => {
    await server.close()
    await backend.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  const whoami = (key: string) => call('GET', '/security/whoami', key)
  const reason = (r: { body: Record<string, unknown> }) =>
    (r.body as { error: { code: string; details: { reason?: string } } }).error
  const createKey = async (body: Record<string, unknown>) => {
    const r = await call('POST', '/security/keys', admin, { name: 'k', role: 'OPERATOR', ...body })
    expect(r.status).toBe(201)
    return r.body as { key: string; info: { id: string } }
  }

  it('revoke through the API → the next request with the key is 401 AUTH_INVALID', async () => {
    const { key, info } = await createKey({})
    expect((await whoami(key)).status).toBe(200)
    expect((await whoami(key)).status).toBe(200)
    expect((await call('DELETE', `/security/keys/${info.id}`, admin)).status).toBe(200)
    const after = await whoami(key)
    expect(after.status).toBe(401)
    expect(reason(after)).toMatchObject({ code: 'AUTH_INVALID', details: { reason: 'it was revoked' } })
  })

  it('revoke by another process on the same file (flotilla keys revoke) → refused within keyCacheMs (1 s)', async () => {
    const { key, info } = await createKey({})
    expect((await whoami(key)).status).toBe(200)
    const cli = SqliteSecurityStore.open({ path: join(dir, 'flotilla.db') })
    try {
      await new ApiKeys(cli).revoke(info.id)
    } finally {
      await cli.close()
    }
    expect((await whoami(key)).status).toBe(200) // remembered: the documented bound
    await clock.advance(1000)
    expect(reason(await whoami(key))).toMatchObject({ code: 'AUTH_INVALID', details: { reason: 'it was revoked' } })
  })

  it('rotate with a grace period: the old secret works until it ends, not a millisecond more; an expired key is refused', async () => {
    const { key: old, info } = await createKey({})
    const { key: short } = await createKey({ ttlMs: 400 })
    expect((await whoami(old)).status).toBe(200)
    expect((await whoami(short)).status).toBe(200)
    const rotated = await call('POST', `/security/keys/${info.id}/rotate`, admin, { graceMs: 500 })
    expect(rotated.status).toBe(200)
    const next = (rotated.body as { key: string }).key
    expect((await whoami(old)).status).toBe(200)
    expect((await whoami(next)).status).toBe(200)
    await clock.advance(400)
    expect(reason(await whoami(short))).toMatchObject({ code: 'AUTH_INVALID', details: { reason: 'it expired' } })
    expect((await whoami(old)).status).toBe(200)
    await clock.advance(100)
    expect(reason(await whoami(old))).toMatchObject({
      code: 'AUTH_INVALID',
      details: { reason: 'it was rotated and its grace period is over' },
    })
    expect((await whoami(next)).status).toBe(200)
  })

  it('keyCacheMs 0 reads the key on every request: another process’s revoke is refused at once', async () => {
    await server.close()
    server = await startServer({ backend, port: 0, clock, keyCacheMs: 0 })
    const keys = new ApiKeys(backend.security)
    const { key, info } = await keys.create({ name: 'k', role: 'ANALYST' })
    expect((await whoami(key)).status).toBe(200)
    await keys.revoke(info.id)
    expect((await whoami(key)).status).toBe(401)
  })
})
