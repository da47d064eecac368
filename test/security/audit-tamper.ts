import { afterEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { AuditLog, auditHash, type AuditEntry, type AuditLogStore } from '../../src/security/audit.js'

/** A fresh, empty audit log on a database, and plain SQL on its table. */
export interface TamperSubject {
  readonly store: AuditLogStore
  /** The table of the log as SQL names it (`flotilla_audit`, `"schema".flotilla_audit`). */
  readonly table: string
  /** Runs one statement with `?` parameters, outside the store, as an attacker with database access would. */
  sql(text: string, values?: readonly unknown[]): Promise<void>
  close(): Promise<void>
}

/** The five entries every case starts from. */
async function fiveEntries(store: AuditLogStore): Promise<{ audit: AuditLog; entries: AuditEntry[] }> {
  const clock = new FakeClock()
  const audit = new AuditLog(store, { clock })
  const entries: AuditEntry[] = []
  for (let i = 1; i <= 5; i++) {
    entries.push(
      await audit.record({
        actor: `key:k${i % 2}`,
        action: i % 2 === 0 ? 'run.cancel' : 'run.start',
        resource: `run:${i}`,
        outcome: 'succeeded',
        requestId: `req-${i}`,
        details: { n: i, nested: { b: [1, 'two', null], a: true } },
      }),
    )
    await clock.advance(5)
  }
  expect((await audit.verify()).ok).toBe(true)
  return { audit, entries }
}

/**
 * Writes five entries through `AuditLog`, tampers with the table in plain
 * SQL, and expects `verify()` to name the first broken entry: a changed
 * field, a removed row, a forged row inserted in place of another.
 */
export function auditTamperSuite(engine: string, open: () => Promise<TamperSubject>): void {
  describe(`audit log tampering detected (${engine})`, () => {
    const opened: TamperSubject[] = []
    const subject = async (): Promise<TamperSubject> => {
      const s = await open()
      opened.push(s)
      return s
    }
    afterEach(async () => {
      for (const s of opened.splice(0).reverse()) await s.close()
    })

    it('an UPDATE of one field of a row: changed, at that seq', async () => {
      const s = await subject()
      const { audit } = await fiveEntries(s.store)
      await s.sql(`UPDATE ${s.table} SET actor = ? WHERE seq = ?`, ['key:mallory', 3])
      expect(await audit.verify()).toMatchObject({ ok: false, checked: 2, problem: { kind: 'changed', seq: 3 } })
    })

    it('an UPDATE of the details (JSON text) of a row: changed', async () => {
      const s = await subject()
      const { audit } = await fiveEntries(s.store)
      await s.sql(`UPDATE ${s.table} SET details = ? WHERE seq = ?`, ['{"n":4,"nested":{"a":false}}', 4])
      expect(await audit.verify()).toMatchObject({ ok: false, problem: { kind: 'changed', seq: 4 } })
    })

    it('a DELETE of a row: removed, naming the first missing seq', async () => {
      const s = await subject()
      const { audit } = await fiveEntries(s.store)
      await s.sql(`DELETE FROM ${s.table} WHERE seq = ?`, [3])
      expect(await audit.verify()).toMatchObject({ ok: false, checked: 2, problem: { kind: 'removed', seq: 3 } })
      await s.sql(`DELETE FROM ${s.table} WHERE seq IN (?, ?)`, [1, 2])
      expect((await audit.verify()).problem).toMatchObject({ kind: 'removed', seq: 1 })
    })

    it('a forged row put in place of another, hashed over its own fields: inserted', async () => {
      const s = await subject()
      const { audit, entries } = await fiveEntries(s.store)
      const forged = { ...entries[2], actor: 'key:mallory', prevHash: 'f'.repeat(64) }
      await replaceRow(s, { ...forged, hash: auditHash(forged) })
      expect(await audit.verify()).toMatchObject({ ok: false, checked: 2, problem: { kind: 'inserted', seq: 3 } })
    })

    it('a forged row chained to the one before: the entry after it no longer follows (inserted)', async () => {
      const s = await subject()
      const { audit, entries } = await fiveEntries(s.store)
      const forged = { ...entries[2], outcome: 'denied' as const }
      await replaceRow(s, { ...forged, hash: auditHash(forged) })
      expect(await audit.verify()).toMatchObject({ ok: false, checked: 3, problem: { kind: 'inserted', seq: 4 } })
    })

    it('leaves an untouched log verified, its head the hash of the last entry', async () => {
      const s = await subject()
      const { audit, entries } = await fiveEntries(s.store)
      expect(await audit.verify()).toEqual({ ok: true, checked: 5, head: entries[4].hash })
      // The entries read back equal the ones written (details parsed from the stored JSON text).
      expect(await audit.query()).toEqual(entries)
    })
  })
}

/** Deletes the row of `e.seq` and inserts `e` in its place, in plain SQL. */
async function replaceRow(s: TamperSubject, e: AuditEntry): Promise<void> {
  await s.sql(`DELETE FROM ${s.table} WHERE seq = ?`, [e.seq])
  await s.sql(
    `INSERT INTO ${s.table} (seq, at, actor, action, resource, outcome, request_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [e.seq, e.at, e.actor, e.action, e.resource, e.outcome, e.requestId, JSON.stringify(e.details), e.prevHash, e.hash],
  )
}
