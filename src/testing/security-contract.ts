import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../core/errors.js'
import { FakeClock } from '../core/fake-clock.js'
import { ApiKeys } from '../security/api-keys.js'
import { AuditLog, type AuditLogStore } from '../security/audit.js'
import type { ApiKeyRecord, SecurityStore } from '../security/security-store.js'

/** How a SecurityStore adapter is made and torn down for the contract suite. */
export interface SecurityStoreContractInit {
  /** Adapter name shown in the suite title. */
  name: string
  /** A fresh, empty store. */
  create(): Promise<SecurityStore>
  /** Releases what `create` made. */
  destroy?(store: SecurityStore): Promise<void>
}

/** How an AuditLogStore adapter is made and torn down for the contract suite. */
export interface AuditLogContractInit {
  name: string
  /** A fresh, empty log; `create` called twice in one test must give two handles on the SAME log (two server processes). */
  create(): Promise<AuditLogStore>
  /** Releases what `create` made. */
  destroy?(log: AuditLogStore): Promise<void>
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return isFlotillaError(err) ? err.code : `not a FlotillaError: ${String(err)}`
  }
  return 'resolved'
}

function key(id: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    name: `key ${id}`,
    role: 'OPERATOR',
    scopes: null,
    hash: 'a'.repeat(64),
    previous: null,
    createdBy: 'test',
    createdAt: 1_000,
    expiresAt: null,
    revokedAt: null,
    rotatedAt: null,
    lastUsedAt: null,
    ...over,
  }
}

/** The shared behaviour of every SecurityStore adapter (API keys and blocks). */
export function securityStoreContract(init: SecurityStoreContractInit): void {
  describe(`SecurityStore contract: ${init.name}`, () => {
    let store: SecurityStore
    beforeEach(async () => {
      store = await init.create()
    })
    afterEach(async () => {
      await init.destroy?.(store)
    })

    it('keeps keys as given: insert, get, list oldest first, update; a taken id and an unknown one are refused', async () => {
      const scoped = key('bbbbbbbbbbbb', {
        createdAt: 2_000,
        scopes: [{ resource: 'workflow:nightly', actions: ['start'] }],
        previous: { hash: 'c'.repeat(64), validUntil: 9_000 },
        expiresAt: 50_000,
      })
      await store.insertKey(scoped)
      await store.insertKey(key('aaaaaaaaaaaa'))
      expect(await store.getKey('bbbbbbbbbbbb')).toEqual(scoped)
      expect(await store.getKey('nope')).toBeUndefined()
      expect((await store.listKeys()).map((k) => k.id)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb'])
      expect(await codeOf(store.insertKey(key('aaaaaaaaaaaa')))).toBe('VALIDATION_FAILED')
      const revoked = { ...scoped, revokedAt: 3_000, previous: null, lastUsedAt: 2_500 }
      await store.updateKey(revoked)
      expect(await store.getKey('bbbbbbbbbbbb')).toEqual(revoked)
      expect(await codeOf(store.updateKey(key('zzzzzzzzzzzz')))).toBe('KEY_NOT_FOUND')
    })

    it('touches a key: only lastUsedAt changes, so a revoke stored meanwhile stays; an unknown id is ignored', async () => {
      await store.insertKey(key('cccccccccccc'))
      const revoked = { ...key('cccccccccccc'), revokedAt: 4_000, previous: null }
      await store.updateKey(revoked)
      await store.touchKey('cccccccccccc', 5_000)
      expect(await store.getKey('cccccccccccc')).toEqual({ ...revoked, lastUsedAt: 5_000 })
      await store.touchKey('zzzzzzzzzzzz', 5_000)
      expect(await store.getKey('zzzzzzzzzzzz')).toBeUndefined()
    })

    it('keeps blocks until they end; putting one again replaces it; lifting ends it', async () => {
      const b = { target: 'ip:10.0.0.1', reason: 'too many failures', createdAt: 1_000, until: 5_000, createdBy: 't' }
      await store.putBlock(b)
      await store.putBlock({ ...b, target: 'key:aaaaaaaaaaaa', until: 3_000 })
      expect(await store.getBlock('ip:10.0.0.1', 4_999)).toEqual(b)
      expect(await store.getBlock('ip:10.0.0.1', 5_000)).toBeUndefined()
      expect((await store.listBlocks(2_000)).map((x) => x.target)).toEqual(['key:aaaaaaaaaaaa', 'ip:10.0.0.1'])
      expect((await store.listBlocks(3_000)).map((x) => x.target)).toEqual(['ip:10.0.0.1'])
      await store.putBlock({ ...b, until: 8_000, reason: 'again' })
      expect((await store.getBlock('ip:10.0.0.1', 6_000))?.reason).toBe('again')
      expect(await store.liftBlock('ip:10.0.0.1', 6_000)).toBe(true)
      expect(await store.liftBlock('ip:10.0.0.1', 6_000)).toBe(false)
      expect(await store.getBlock('ip:10.0.0.1', 6_000)).toBeUndefined()
    })

    it('serves ApiKeys end to end: create, authenticate, rotate with grace, revoke', async () => {
      const clock = new FakeClock()
      const keys = new ApiKeys(store, { clock })
      const { key: first, info } = await keys.create({ name: 'ci', role: 'SERVICE' })
      expect((await keys.authenticate(first)).name).toBe(`key:${info.id}`)
      const { key: second } = await keys.rotate(info.id, { graceMs: 1_000 })
      expect((await keys.authenticate(first)).role).toBe('SERVICE')
      await clock.advance(1_000)
      expect(await codeOf(keys.authenticate(first))).toBe('AUTH_INVALID')
      expect((await keys.authenticate(second)).keyId).toBe(info.id)
      await keys.revoke(info.id)
      expect(await codeOf(keys.authenticate(second))).toBe('AUTH_INVALID')
    })
  })
}

/** The shared behaviour of every AuditLogStore adapter: one chain, whatever the number of writers. */
export function auditLogContract(init: AuditLogContractInit): void {
  describe(`AuditLogStore contract: ${init.name}`, () => {
    const opened: AuditLogStore[] = []
    const open = async (): Promise<AuditLogStore> => {
      const s = await init.create()
      opened.push(s)
      return s
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await init.destroy?.(s)
    })

    it('chains entries: sequence 1..n, each with the hash of the one before; verify passes', async () => {
      const audit = new AuditLog(await open(), { clock: new FakeClock() })
      const a = await audit.record({ actor: 'cli', action: 'key.create', resource: 'key:x', outcome: 'succeeded' })
      const b = await audit.record({
        actor: 'key:x',
        action: 'run.start',
        resource: 'workflow:w',
        outcome: 'denied',
        requestId: 'req-1',
        details: { code: 'PERMISSION_DENIED', nested: { z: 1, a: [1, 'two'] } },
      })
      expect([a.seq, b.seq]).toEqual([1, 2])
      expect(b.prevHash).toBe(a.hash)
      expect(b.details).toEqual({ code: 'PERMISSION_DENIED', nested: { z: 1, a: [1, 'two'] } })
      expect(await audit.verify()).toEqual({ ok: true, checked: 2, head: b.hash })
    })

    it('queries by actor, action, resource, time and position, oldest first, with a limit', async () => {
      const clock = new FakeClock()
      const t0 = clock.wallNow()
      const audit = new AuditLog(await open(), { clock })
      for (let i = 0; i < 6; i++) {
        await audit.record({
          actor: i % 2 === 0 ? 'key:a' : 'key:b',
          action: i < 3 ? 'run.start' : 'run.cancel',
          resource: `run:${i}`,
          outcome: 'succeeded',
        })
        await clock.advance(10)
      }
      const seqs = async (f: Parameters<AuditLog['query']>[0]) => (await audit.query(f)).map((e) => e.seq)
      expect(await seqs({ actor: 'key:a' })).toEqual([1, 3, 5])
      expect(await seqs({ action: 'run.cancel' })).toEqual([4, 5, 6])
      expect(await seqs({ resource: 'run:2' })).toEqual([3])
      expect(await seqs({ since: t0 + 20, until: t0 + 40 })).toEqual([3, 4])
      expect(await seqs({ afterSeq: 4 })).toEqual([5, 6])
      expect(await seqs({ limit: 2 })).toEqual([1, 2])
    })

    it('keeps one chain when two handles on the same log append at once', async () => {
      const one = new AuditLog(await open())
      const two = new AuditLog(await open())
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? one : two).record({
            actor: `w${i % 2}`,
            action: 'x',
            resource: `r:${i}`,
            outcome: 'succeeded',
          }),
        ),
      )
      const all = await one.query({ limit: 1000 })
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      expect((await two.verify()).ok).toBe(true)
    })
  })
}
