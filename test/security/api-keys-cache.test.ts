import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { ApiKeys } from '../../src/security/api-keys.js'
import { MemorySecurityStore } from '../../src/security/memory/memory-security-store.js'
import type { ApiKeyRecord } from '../../src/security/security-store.js'

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  throw new Error('expected a FlotillaError')
}

/** A memory store that counts key reads and can hold the next one until released. */
class CountingStore extends MemorySecurityStore {
  reads = 0
  private gate: Promise<void> | undefined

  /** The next getKey waits for the returned function to be called. */
  holdNextRead(): () => void {
    let release!: () => void
    this.gate = new Promise((r) => (release = r))
    return release
  }

  override async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    this.reads++
    const record = await super.getKey(id)
    const gate = this.gate
    this.gate = undefined
    if (gate !== undefined) await gate
    return record
  }
}

function setup(cacheMs?: number) {
  const clock = new FakeClock()
  const store = new CountingStore()
  const keys = new ApiKeys(store, { clock, ...(cacheMs === undefined ? {} : { cacheMs }) })
  // Another process on the same store (a CLI, another server): its own ApiKeys, its own memory.
  const elsewhere = new ApiKeys(store, { clock })
  return { clock, store, keys, elsewhere }
}

describe('API keys: the verified-key cache', () => {
  it('reads the store once per cacheMs (default 1000 ms) for a key presented again and again', async () => {
    const { clock, store, keys } = setup()
    const { key } = await keys.create({ name: 'ci', role: 'SERVICE' })
    for (let i = 0; i < 5; i++) expect((await keys.authenticate(key)).role).toBe('SERVICE')
    expect(store.reads).toBe(1)
    await clock.advance(999)
    await keys.authenticate(key)
    expect(store.reads).toBe(1)
    await clock.advance(1)
    await keys.authenticate(key)
    expect(store.reads).toBe(2)
  })

  it('refuses a wrong secret for a remembered key id (and asks the store, not the cache)', async () => {
    const { store, keys } = setup()
    const { key } = await keys.create({ name: 'ci', role: 'ADMIN' })
    await keys.authenticate(key)
    const wrong = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const e = await failure(keys.authenticate(wrong))
    expect(e.code).toBe('AUTH_INVALID')
    expect(e.details).toEqual({})
    expect(store.reads).toBe(2)
  })

  it('revoke → the next request is refused at once, though the key was remembered', async () => {
    const { keys } = setup()
    const { key, info } = await keys.create({ name: 'ci', role: 'ADMIN' })
    await keys.authenticate(key)
    await keys.revoke(info.id)
    expect((await failure(keys.authenticate(key))).details).toMatchObject({ reason: 'it was revoked' })
  })

  it('a revoke by another process takes effect within cacheMs; with cacheMs 0 at once', async () => {
    const { clock, keys, elsewhere } = setup()
    const { key, info } = await keys.create({ name: 'ci', role: 'ADMIN' })
    await keys.authenticate(key)
    await elsewhere.revoke(info.id)
    await clock.advance(999)
    expect((await keys.authenticate(key)).keyId).toBe(info.id) // the documented bound: up to cacheMs
    await clock.advance(1)
    expect((await failure(keys.authenticate(key))).details).toMatchObject({ reason: 'it was revoked' })

    const uncached = setup(0)
    const other = await uncached.keys.create({ name: 'ci', role: 'ADMIN' })
    await uncached.keys.authenticate(other.key)
    await uncached.elsewhere.revoke(other.info.id)
    expect((await failure(uncached.keys.authenticate(other.key))).code).toBe('AUTH_INVALID')
  })

  it('a request in flight during a revoke is not remembered, and cannot undo the revoke', async () => {
    const { store, keys } = setup()
    const { key, info } = await keys.create({ name: 'ci', role: 'ADMIN' })
    const release = store.holdNextRead()
    const inFlight = keys.authenticate(key) // has read the key before the revoke, and waits
    await keys.revoke(info.id)
    release()
    await inFlight.catch(() => undefined)
    expect((await store.getKey(info.id))?.revokedAt).not.toBeNull()
    expect((await failure(keys.authenticate(key))).details).toMatchObject({ reason: 'it was revoked' })
  })

  it('rotate: the old secret works within its grace period, remembered or not, and is refused after it; the new one at once', async () => {
    const { clock, keys, elsewhere } = setup()
    const { key: old, info } = await keys.create({ name: 'ci', role: 'OPERATOR' })
    await keys.authenticate(old)
    const { key: next } = await keys.rotate(info.id, { graceMs: 500 })
    expect((await keys.authenticate(old)).keyId).toBe(info.id) // read again after the rotate: grace
    expect((await keys.authenticate(next)).keyId).toBe(info.id) // remembered now, with both hashes
    await clock.advance(499)
    expect((await keys.authenticate(old)).keyId).toBe(info.id) // from memory, inside the grace period
    await clock.advance(1)
    // still within cacheMs of the read, but the grace period is over
    expect((await failure(keys.authenticate(old))).details).toMatchObject({
      reason: 'it was rotated and its grace period is over',
    })
    expect((await keys.authenticate(next)).keyId).toBe(info.id)

    // A rotate by another process: the new secret is not in memory, so the store is asked at once.
    const { key: third } = await elsewhere.rotate(info.id)
    expect((await keys.authenticate(third)).keyId).toBe(info.id)
    expect((await failure(keys.authenticate(next))).details).toEqual({})
  })

  it('an expired key is refused at its expiry, though remembered', async () => {
    const { clock, store, keys } = setup()
    const { key } = await keys.create({ name: 'short', role: 'GUEST', ttlMs: 300 })
    await keys.authenticate(key)
    await clock.advance(299)
    await keys.authenticate(key)
    expect(store.reads).toBe(1)
    await clock.advance(1)
    expect((await failure(keys.authenticate(key))).details).toMatchObject({ reason: 'it expired' })
  })

  it('refuses a cacheMs that is not a number ≥ 0', () => {
    for (const cacheMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ApiKeys(new MemorySecurityStore(), { cacheMs })).toThrow(/cacheMs/)
    }
  })
})
