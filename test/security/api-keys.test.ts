import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { ApiKeys, hashSecret, parseApiKey } from '../../src/security/api-keys.js'
import { MemorySecurityStore } from '../../src/security/memory/memory-security-store.js'
import { ROLE_GRANTS, ROLES, parseRole } from '../../src/security/roles.js'
import { PermissionSet } from '../../src/security/permissions.js'

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  throw new Error('expected a FlotillaError')
}

describe('API keys', () => {
  it('issues flt_<id>_<secret> keys with 256 random bits; only the hash is stored', async () => {
    const store = new MemorySecurityStore()
    const keys = new ApiKeys(store)
    const { key, info } = await keys.create({ name: 'ci', role: 'operator', by: 'cli' })
    const parsed = parseApiKey(key)
    expect(parsed?.id).toBe(info.id)
    expect(Buffer.from(parsed!.secret, 'base64url')).toHaveLength(32)
    const stored = await store.getKey(info.id)
    expect(stored?.hash).toBe(hashSecret(parsed!.secret))
    expect(JSON.stringify(stored)).not.toContain(parsed!.secret)
    expect(info).not.toHaveProperty('hash')
    expect(info).toMatchObject({ name: 'ci', role: 'OPERATOR', createdBy: 'cli', scopes: null })
    const other = await keys.create({ name: 'ci', role: 'OPERATOR' })
    expect(other.key).not.toBe(key)
  })

  it('authenticates the right key; every wrong one is AUTH_INVALID without saying which check failed', async () => {
    const keys = new ApiKeys(new MemorySecurityStore())
    const { key, info } = await keys.create({ name: 'a', role: 'ANALYST' })
    const who = await keys.authenticate(key)
    expect(who).toMatchObject({ name: `key:${info.id}`, keyId: info.id, keyName: 'a', role: 'ANALYST' })
    expect(who.permissions.allows('run:r1', 'read')).toBe(true)
    expect(who.permissions.allows('run:r1', 'cancel')).toBe(false)
    const wrongSecret = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const unknownId = key.replace(info.id, 'zzzzzzzzzzzz')
    for (const bad of [wrongSecret, unknownId]) {
      const e = await failure(keys.authenticate(bad))
      expect(e.code).toBe('AUTH_INVALID')
      expect(e.details).toEqual({})
    }
    const malformed = await failure(keys.authenticate('Bearer nonsense'))
    expect(malformed.message).toContain('flt_<id>_<secret>')
  })

  it('expires, revokes and rotates with a grace period; the holder of the real secret is told why', async () => {
    const clock = new FakeClock()
    const keys = new ApiKeys(new MemorySecurityStore(), { clock })
    const short = await keys.create({ name: 'short', role: 'GUEST', ttlMs: 1000 })
    await clock.advance(1000)
    expect((await failure(keys.authenticate(short.key))).details).toMatchObject({ reason: 'it expired' })

    const k = await keys.create({ name: 'k', role: 'SERVICE' })
    const rotated = await keys.rotate(k.info.id, { graceMs: 5000 })
    expect(rotated.info.previousValidUntil).toBe(clock.wallNow() + 5000)
    expect((await keys.authenticate(k.key)).keyId).toBe(k.info.id) // old secret, inside the grace period
    await clock.advance(5000)
    expect((await failure(keys.authenticate(k.key))).details).toMatchObject({
      reason: 'it was rotated and its grace period is over',
    })
    expect((await keys.authenticate(rotated.key)).keyId).toBe(k.info.id)
    const now = await keys.rotate(k.info.id) // no grace: the old secret stops at once
    expect((await failure(keys.authenticate(rotated.key))).code).toBe('AUTH_INVALID')
    const revoked = await keys.revoke(k.info.id)
    expect(revoked.revokedAt).toBe(clock.wallNow())
    expect((await failure(keys.authenticate(now.key))).details).toMatchObject({ reason: 'it was revoked' })
    expect((await keys.revoke(k.info.id)).revokedAt).toBe(revoked.revokedAt)
    expect((await failure(keys.rotate(k.info.id))).code).toBe('VALIDATION_FAILED')
    expect((await failure(keys.revoke('nokeyatallx'))).code).toBe('KEY_NOT_FOUND')
  })

  it('narrows a key to scopes within its role; more than the role holds is PERMISSION_ESCALATION', async () => {
    const keys = new ApiKeys(new MemorySecurityStore())
    const { key } = await keys.create({
      name: 'nightly',
      role: 'SERVICE',
      scopes: [{ resource: 'workflow:nightly-report', actions: ['start'] }],
    })
    const who = await keys.authenticate(key)
    expect(who.permissions.allows('workflow:nightly-report', 'start')).toBe(true)
    expect(who.permissions.allows('workflow:other', 'start')).toBe(false)
    expect(who.permissions.allows('run:r1', 'read')).toBe(false)
    const e = await failure(
      keys.create({ name: 'x', role: 'SERVICE', scopes: [{ resource: 'key:*', actions: ['create'] }] }),
    )
    expect(e.code).toBe('PERMISSION_ESCALATION')
  })

  it('refuses bad options with VALIDATION_FAILED naming the field', async () => {
    const keys = new ApiKeys(new MemorySecurityStore())
    expect((await failure(keys.create({ name: ' ', role: 'ADMIN' }))).details).toMatchObject({ field: 'name' })
    expect(() => parseRole('boss')).toThrow(/ADMIN, OPERATOR, ANALYST, SERVICE, GUEST/)
    expect((await failure(keys.create({ name: 'x', role: 'ADMIN', ttlMs: -1 }))).details).toMatchObject({
      field: 'ttlMs',
    })
    expect((await failure(keys.rotate('abc', { graceMs: Number.NaN }))).details).toMatchObject({ field: 'graceMs' })
  })

  it('records when a key was last used, at most once a minute', async () => {
    const clock = new FakeClock()
    const store = new MemorySecurityStore()
    const keys = new ApiKeys(store, { clock })
    const { key, info } = await keys.create({ name: 'k', role: 'GUEST' })
    await keys.authenticate(key)
    const first = (await store.getKey(info.id))?.lastUsedAt
    expect(first).toBe(clock.wallNow())
    await clock.advance(30_000)
    await keys.authenticate(key)
    expect((await store.getKey(info.id))?.lastUsedAt).toBe(first)
    await clock.advance(30_000)
    await keys.authenticate(key)
    expect((await store.getKey(info.id))?.lastUsedAt).toBe(clock.wallNow())
  })

  it('the role table: ADMIN holds everything, each other role a strict subset of it, GUEST the least', () => {
    const admin = new PermissionSet(ROLE_GRANTS.ADMIN)
    for (const role of ROLES)
      for (const g of ROLE_GRANTS[role])
        for (const a of g.actions) expect(admin.allows(g.resource.replace(/\*+/g, 'x'), a)).toBe(true)
    const guest = new PermissionSet(ROLE_GRANTS.GUEST)
    expect(guest.allows('run:r', 'read')).toBe(false)
    expect(new PermissionSet(ROLE_GRANTS.ANALYST).allows('audit:log', 'verify')).toBe(true)
    expect(new PermissionSet(ROLE_GRANTS.OPERATOR).allows('key:abc', 'create')).toBe(false)
  })
})
