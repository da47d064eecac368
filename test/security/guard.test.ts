import { describe, expect, it } from 'vitest'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { AuditLog } from '../../src/security/audit.js'
import { RequestGuard, type GuardOptions } from '../../src/security/guard.js'
import { MemoryAuditLogStore } from '../../src/security/memory/memory-audit-log.js'
import { MemorySecurityStore } from '../../src/security/memory/memory-security-store.js'

async function failure(p: Promise<unknown>): Promise<FlotillaError | undefined> {
  try {
    await p
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  return undefined
}

async function setup(options: GuardOptions = {}) {
  const clock = new FakeClock()
  const store = new MemorySecurityStore()
  const audit = new AuditLog(new MemoryAuditLogStore(), { clock })
  const guard = await RequestGuard.create(store, audit, { clock, ...options })
  return { clock, store, audit, guard }
}

describe('RequestGuard', () => {
  it('limits each address and each key to the requests of a window, then RATE_LIMITED with the seconds to wait', async () => {
    const { guard } = await setup({ requests: 3, perSeconds: 10 })
    for (let i = 0; i < 3; i++) await guard.admit({ ip: '10.0.0.1', keyId: 'k1' })
    const e = await failure(guard.admit({ ip: '10.0.0.1', keyId: 'k1' }))
    expect(e?.code).toBe('RATE_LIMITED')
    expect(e?.details).toMatchObject({ target: 'ip:10.0.0.1', limit: 3, windowSeconds: 10 })
    expect((e?.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    // the same key from another address is still limited by the key's own count
    expect((await failure(guard.admit({ ip: '10.0.0.2', keyId: 'k1' })))?.details).toMatchObject({ target: 'key:k1' })
    await guard.admit({ ip: '10.0.0.3' })
  })

  it('blocks an address after repeated authentication failures, audits it, and an ADMIN lifts it', async () => {
    const { guard, audit } = await setup({ failures: 5, failureWindowSeconds: 60, blockSeconds: 120 })
    for (let i = 0; i < 6; i++) await guard.failed({ ip: '10.9.9.9' }, 'auth', `r${i}`)
    const e = await failure(guard.admit({ ip: '10.9.9.9' }))
    expect(e?.code).toBe('ACCESS_BLOCKED')
    expect(e?.message).toContain('more than 5 authentication failures in 60 s')
    await guard.admit({ ip: '10.1.1.1' })
    expect((await guard.list()).map((b) => b.target)).toEqual(['ip:10.9.9.9'])
    expect(await audit.query({ action: 'block.create' })).toMatchObject([
      { actor: 'threat-detection', resource: 'block:ip:10.9.9.9', requestId: 'r5' },
    ])
    expect(await guard.lift('ip:10.9.9.9', 'key:admin')).toBe(true)
    await guard.admit({ ip: '10.9.9.9' })
    expect((await audit.query({ action: 'block.lift' }))[0]).toMatchObject({ actor: 'key:admin', outcome: 'succeeded' })
    expect((await audit.verify()).ok).toBe(true)
  })

  it('a block ends by itself after its period', async () => {
    const { guard, clock } = await setup({ failures: 1, blockSeconds: 5, blockCacheMs: 0 })
    await guard.failed({ ip: 'a', keyId: 'k' }, 'denied')
    await guard.failed({ ip: 'a', keyId: 'k' }, 'denied')
    expect((await failure(guard.admit({ ip: 'b', keyId: 'k' })))?.code).toBe('ACCESS_BLOCKED')
    await clock.advance(5000)
    await guard.admit({ ip: 'b', keyId: 'k' })
  })

  it('refuses bad options and targets with VALIDATION_FAILED', async () => {
    expect((await failure(setup({ requests: 0 })))?.details).toMatchObject({ field: 'requests' })
    const { guard } = await setup()
    expect((await failure(guard.block('someone', 1000, 'x', 'admin')))?.code).toBe('VALIDATION_FAILED')
  })
})
