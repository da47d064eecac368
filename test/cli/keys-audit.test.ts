import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, runCli, tempDir, type CliResult } from './run-cli.js'

/**
 * `flotilla keys` and `flotilla audit` on a SQLite file, each command a
 * separate process. When the SQLite backend keeps no security tables yet
 * (it then falls back to memory, and says so), the tests that need keys and
 * entries to outlive a process are skipped, and `audit verify` is checked
 * on a clean (empty) log only.
 */
const tmp = tempDir('flotilla-keys-')
const db = join(tmp.dir, 'sec.db')
const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--store', db], { cwd: tmp.dir })
const KEY = /flt_([a-z0-9]{12})_[A-Za-z0-9_-]{43}/

/** True when the store file holds the audit table (the SQLite security adapters are wired into the backend). */
function durable(): boolean {
  if (!existsSync(db)) return false
  const conn = new Database(db, { readonly: true })
  try {
    return (
      conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'flotilla_audit'").get() !==
      undefined
    )
  } finally {
    conn.close()
  }
}

let created: { id: string; key: string }
let persisted = false

beforeAll(async () => {
  ensureBuilt()
  const r = await cli('keys', 'create', '--name', 'ci', '--role', 'service', '--ttl', '30d', '--json')
  expect(r.code, r.stderr).toBe(0)
  const out = JSON.parse(r.stdout) as {
    ok: boolean
    key: string
    info: { id: string; role: string; expiresAt: number }
  }
  created = { id: out.info.id, key: out.key }
  persisted = durable()
}, 60_000)

afterAll(() => tmp.cleanup())

describe('flotilla keys', () => {
  it('create prints the key once, with its role, and says it will not be shown again', async () => {
    expect(created.key).toMatch(KEY)
    const r = await cli(
      'keys',
      'create',
      '--name',
      'nightly',
      '--role',
      'SERVICE',
      '--scope',
      'workflow:hello=read,start',
      '--scope',
      'run:*=read',
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(KEY)
    expect(r.stdout).toContain('(SERVICE, scopes workflow:hello=read,start run:*=read)')
    expect(r.stdout).toContain('This is the only time the key is shown')
    if (!persisted) expect(r.stderr).toContain('keeps no API keys or audit log')
  })

  it('refuses scopes beyond the role, malformed flags and unknown roles', async () => {
    const escalate = await cli('keys', 'create', '--name', 'x', '--role', 'SERVICE', '--scope', 'key:*=create')
    expect(escalate.code).toBe(1)
    expect(escalate.stderr).toContain('error [PERMISSION_ESCALATION]')
    const noRole = await cli('keys', 'create', '--name', 'x')
    expect(noRole.code).toBe(2)
    expect(noRole.stderr).toContain('needs --name and --role')
    const badScope = await cli('keys', 'create', '--name', 'x', '--role', 'GUEST', '--scope', 'workflow:*')
    expect(badScope.code).toBe(2)
    expect(badScope.stderr).toContain('--scope expects resource=action1,action2')
    const badRole = await cli('keys', 'create', '--name', 'x', '--role', 'ROOT')
    expect(badRole.code).toBe(1)
    expect(badRole.stderr).toContain('role must be one of ADMIN, OPERATOR, ANALYST, SERVICE, GUEST')
    const badTtl = await cli('keys', 'create', '--name', 'x', '--role', 'GUEST', '--ttl', 'soon')
    expect(badTtl.code).toBe(2)
  })

  it('list, rotate and revoke on a store file that does not exist create nothing', async () => {
    const missing = join(tmp.dir, 'missing.db')
    const list = await runCli(['keys', 'list', '--store', missing], { cwd: tmp.dir })
    expect(list.code).toBe(0)
    expect(list.stdout).toContain('No API keys in')
    const revoke = await runCli(['keys', 'revoke', 'abcdefabcdef', '--store', missing], { cwd: tmp.dir })
    expect(revoke.code).toBe(1)
    expect(revoke.stderr).toContain('error [KEY_NOT_FOUND]')
    const verify = await runCli(['audit', 'verify', '--store', missing], { cwd: tmp.dir })
    expect(verify.code).toBe(0)
    expect(existsSync(missing)).toBe(false)
  })

  it('list shows the keys without secrets; rotate gives a new secret; revoke ends a key (needs a durable store)', async (t) => {
    if (!persisted) t.skip('the SQLite backend keeps no API keys yet')
    const list = await cli('keys', 'list')
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/ID\s+NAME\s+ROLE\s+STATE/)
    expect(list.stdout).toContain(created.id)
    expect(list.stdout).not.toMatch(KEY)
    const json = JSON.parse((await cli('keys', 'list', '--json')).stdout) as Record<string, unknown>[]
    expect(json.find((k) => k.id === created.id)).toMatchObject({ name: 'ci', role: 'SERVICE', revokedAt: null })
    expect(JSON.stringify(json)).not.toContain('hash')

    const rotate = await cli('keys', 'rotate', created.id, '--grace', '1h')
    expect(rotate.code, rotate.stderr).toBe(0)
    const fresh = KEY.exec(rotate.stdout)
    expect(fresh?.[1]).toBe(created.id)
    expect(fresh?.[0]).not.toBe(created.key)
    expect(rotate.stdout).toContain('the old one works until')
    expect((await cli('keys', 'list')).stdout).toMatch(new RegExp(`${created.id}\\s+ci\\s+SERVICE\\s+rotating`))

    const revoke = await cli('keys', 'revoke', created.id)
    expect(revoke.code, revoke.stderr).toBe(0)
    expect(revoke.stdout).toContain(`API key ${created.id} "ci" is revoked`)
    expect((await cli('keys', 'list')).stdout).toMatch(new RegExp(`${created.id}\\s+ci\\s+SERVICE\\s+revoked`))
    const again = await cli('keys', 'rotate', created.id)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('was revoked')
  })

  it('rotate and revoke of an unknown key are KEY_NOT_FOUND', async () => {
    for (const sub of ['rotate', 'revoke']) {
      const r = await cli('keys', sub, 'zzzzzzzzzzzz')
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('error [KEY_NOT_FOUND]')
    }
  })
})

describe('flotilla audit', () => {
  it('verify on a clean log exits 0 and prints the head hash', async () => {
    const r = await cli('audit', 'verify')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('is intact')
    expect(r.stdout).toMatch(/^head \d+ [0-9a-f]{64}$/m)
    const json = JSON.parse((await cli('audit', 'verify', '--json')).stdout) as { ok: boolean; checked: number }
    expect(json.ok).toBe(true)
    const badHead = await cli('audit', 'verify', '--head', 'nothex')
    expect(badHead.code).toBe(2)
  })

  it('list shows what the CLI did, by actor cli, with filters (needs a durable store)', async (t) => {
    if (!persisted) t.skip('the SQLite backend keeps no audit log yet')
    const all = await cli('audit', 'list', '--actor', 'cli')
    expect(all.code, all.stderr).toBe(0)
    expect(all.stdout).toMatch(/SEQ\s+TIME\s+ACTOR\s+ACTION\s+RESOURCE\s+OUTCOME/)
    expect(all.stdout).toMatch(new RegExp(`cli\\s+key\\.create\\s+key:${created.id}\\s+succeeded`))
    const revokes = JSON.parse((await cli('audit', 'list', '--action', 'key.revoke', '--json')).stdout) as {
      actor: string
      resource: string
    }[]
    expect(revokes).toEqual([expect.objectContaining({ actor: 'cli', resource: `key:${created.id}` })])
    const since = await cli('audit', 'list', '--since', '1h', '--limit', '1')
    expect(since.stdout).toContain('next page: --after 1')
    expect((await cli('audit', 'list', '--since', '2999-01-01')).stdout).toContain('No audit entries match')
    expect((await cli('audit', 'list', '--since', 'yesterday')).code).toBe(2)
  })

  it('verify --head finds a kept head, and names the first entry changed or removed (needs a durable store)', async (t) => {
    if (!persisted) t.skip('the SQLite backend keeps no audit log yet')
    const ok = await cli('audit', 'verify')
    expect(ok.code, ok.stderr).toBe(0)
    const [, count, head] = /^head (\d+) ([0-9a-f]{64})$/m.exec(ok.stdout) ?? []
    expect(Number(count)).toBeGreaterThanOrEqual(3)
    await cli('keys', 'create', '--name', 'later', '--role', 'GUEST')
    const kept = await cli('audit', 'verify', '--head', head as string)
    expect(kept.code, kept.stdout).toBe(0)
    expect(kept.stdout).toContain(`The head you kept is entry ${count}`)
    const unknown = await cli('audit', 'verify', '--head', 'a'.repeat(64))
    expect(unknown.code).toBe(1)
    expect(unknown.stdout).toContain('the log was rewritten')

    const conn = new Database(db)
    try {
      conn.prepare("UPDATE flotilla_audit SET actor = 'someone-else' WHERE seq = 2").run()
    } finally {
      conn.close()
    }
    const changed = await cli('audit', 'verify')
    expect(changed.code).toBe(1)
    expect(changed.stdout).toContain('BROKEN at entry 2 (changed)')
    const json = JSON.parse((await cli('audit', 'verify', '--json')).stdout) as { ok: boolean; problem: unknown }
    expect(json).toMatchObject({ ok: false, problem: { seq: 2, kind: 'changed' } })

    const conn2 = new Database(db)
    try {
      conn2.prepare('DELETE FROM flotilla_audit WHERE seq <= 2').run()
    } finally {
      conn2.close()
    }
    const removed = await cli('audit', 'verify')
    expect(removed.code).toBe(1)
    expect(removed.stdout).toContain('BROKEN at entry 1 (removed)')
  })
})
