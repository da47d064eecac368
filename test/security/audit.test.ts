import { describe, expect, it } from 'vitest'
import { AuditLog, type AuditEntry } from '../../src/security/audit.js'
import { MemoryAuditLogStore } from '../../src/security/memory/memory-audit-log.js'

/** A log of five entries, and direct access to its rows (as someone editing the database would have). */
async function logOfFive(): Promise<{ audit: AuditLog; rows: AuditEntry[] }> {
  const store = new MemoryAuditLogStore()
  const audit = new AuditLog(store)
  for (let i = 1; i <= 5; i++)
    await audit.record({ actor: 'cli', action: 'run.start', resource: `run:${i}`, outcome: 'succeeded' })
  const rows = (store as unknown as { entries: AuditEntry[] }).entries
  return { audit, rows }
}

describe('AuditLog.verify', () => {
  it('passes an untouched chain and gives its head hash', async () => {
    const { audit, rows } = await logOfFive()
    expect(await audit.verify()).toEqual({ ok: true, checked: 5, head: rows[4]!.hash })
  })

  it('names an entry whose fields were changed', async () => {
    const { audit, rows } = await logOfFive()
    rows[2] = { ...rows[2]!, actor: 'someone-else' }
    expect((await audit.verify()).problem).toMatchObject({ seq: 3, kind: 'changed' })
  })

  it('names the entries that were removed', async () => {
    const { audit, rows } = await logOfFive()
    rows.splice(1, 2)
    const v = await audit.verify()
    expect(v.problem).toMatchObject({ seq: 2, kind: 'removed' })
    expect(v.problem?.message).toContain('Entries 2–3 are missing')
  })

  it('names an entry that was inserted (renumbered to fit), even with a hash computed for its own fields', async () => {
    const { audit, rows } = await logOfFive()
    const { hash: _h, ...body } = rows[2]!
    const { auditHash } = await import('../../src/security/audit.js')
    const forged = { ...body, resource: 'run:forged', prevHash: 'f'.repeat(64) }
    rows[2] = { ...forged, hash: auditHash(forged) }
    expect((await audit.verify()).problem).toMatchObject({ seq: 3, kind: 'inserted' })
  })

  it('refuses an entry without actor, action or resource', async () => {
    const audit = new AuditLog(new MemoryAuditLogStore())
    expect(() => audit.record({ actor: '', action: 'x', resource: 'y', outcome: 'failed' })).toThrow(/actor/)
  })
})
