import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { ApiKeys } from '../../src/security/api-keys.js'
import { AuditLog } from '../../src/security/audit.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// openBackend(url) gives the security tables too: API keys, blocks and the audit
// log, in the same database as the runs, shared by every process that opens it.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-security-backend-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Two backends on one URL, as two server processes: a key, a block and audit entries cross from one to the other. */
async function expectShared(one: Backend, two: Backend): Promise<void> {
  const { key, info } = await new ApiKeys(one.security).create({ name: 'ci', role: 'OPERATOR' })
  const seen = await new ApiKeys(two.security).authenticate(key)
  expect(seen).toMatchObject({ keyId: info.id, role: 'OPERATOR' })
  expect((await two.security.listKeys()).map((k) => k.id)).toEqual([info.id])
  await two.security.putBlock({
    target: 'ip:10.0.0.9',
    reason: 'r',
    createdAt: 0,
    until: Date.now() + 60_000,
    createdBy: 't',
  })
  expect(await one.security.getBlock('ip:10.0.0.9', Date.now())).toMatchObject({ reason: 'r' })
  const a = new AuditLog(one.audit)
  const b = new AuditLog(two.audit)
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? a : b).record({ actor: `w${i % 2}`, action: 'x.y', resource: `r:${i}`, outcome: 'succeeded' }),
    ),
  )
  expect((await a.query()).map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
  expect(await b.verify()).toMatchObject({ ok: true, checked: 10 })
}

describe('openBackend: security and audit', () => {
  const opened: Backend[] = []
  const open = async (url: string): Promise<Backend> => {
    const backend = await openBackend(url)
    opened.push(backend)
    return backend
  }
  afterEach(async () => {
    for (const b of opened.splice(0).reverse()) await b.close()
  })

  it('memory: a security store and an audit log of this process', async () => {
    const backend = await open('memory')
    const { key } = await new ApiKeys(backend.security).create({ name: 'ci', role: 'ANALYST' })
    expect((await new ApiKeys(backend.security).authenticate(key)).role).toBe('ANALYST')
    await new AuditLog(backend.audit).record({
      actor: 'cli',
      action: 'key.create',
      resource: 'k',
      outcome: 'succeeded',
    })
    expect(await new AuditLog(backend.audit).verify()).toMatchObject({ ok: true, checked: 1 })
  })

  it('sqlite: two opens of one file see the same keys, blocks and one audit chain', async () => {
    const url = `sqlite:${join(dir, 'shared.db')}`
    await expectShared(await open(url), await open(url))
  })

  it('sqlite: closing the backend closes its security parts', async () => {
    const backend = await openBackend(`sqlite:${join(dir, 'closed.db')}`)
    await backend.close()
    await expect(backend.security.listKeys()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(backend.audit.query({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
  })
})

await describePostgres('openBackend (PostgreSQL): security and audit', () => {
  it('two backends on one schema see the same keys, blocks and one audit chain; closed with the backend', async () => {
    await withFreshSchema(async (url) => {
      const one = await openBackend(url, { postgres: { poolSize: 3 } })
      const two = await openBackend(url, { postgres: { poolSize: 3 } })
      try {
        await expectShared(one, two)
      } finally {
        await two.close()
        await one.close()
      }
      await expect(one.security.listKeys()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      await expect(one.audit.query({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    })
  })
})
