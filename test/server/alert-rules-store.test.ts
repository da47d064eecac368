import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import type { Logger } from '../../src/telemetry/telemetry.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// Alert rules set through PUT /api/v1/alerts/rules are stored: a server
// restarted on the same SQLite file starts with them; an alerts file given at
// start wins over them; a refused body stores nothing.

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-alert-rules-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

type Rules = { rules: { id: string; kind: string; threshold: number }[]; webhook?: { url: string; signed: boolean } }

async function call<T>(
  server: RunningServer,
  key: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const headers = new Headers(init.headers)
  headers.set('authorization', `Bearer ${key}`)
  if (init.body !== undefined) headers.set('content-type', 'application/json')
  const r = await fetch(`${server.url}/api/v1/alerts/rules`, { ...init, headers })
  return { status: r.status, body: (await r.json()) as T }
}
const put = (server: RunningServer, key: string, body: unknown) =>
  call<Rules & { error?: { code: string; details?: { field?: string } } }>(server, key, {
    method: 'PUT',
    body: JSON.stringify(body),
  })

function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = []
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_data, message) => void warnings.push(message),
    error: () => undefined,
    child: () => logger,
  }
  return { logger, warnings }
}

describe('alert rules set through the API are stored (SQLite file, over HTTP)', () => {
  it('survive a restart of the server; a refused body changes nothing; an alerts file wins at start', async () => {
    const store = join(dir, 'serve.db')
    let admin = ''
    let server = await startServer({ store, port: 0, onAdminKey: (k) => (admin = k) })
    const rules = {
      rules: [
        { kind: 'errorRate', threshold: 0.3, severity: 'critical' },
        { id: 'dear-runs', kind: 'runCost', threshold: 2 },
      ],
      webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a secret of sixteen+ chars' },
    }
    try {
      expect((await call<Rules>(server, admin)).body).toEqual({ rules: [] })
      const ok = await put(server, admin, rules)
      expect(ok.status).toBe(200)
      const bad = await put(server, admin, { rules: [{ kind: 'runCost', threshold: -1 }] })
      expect(bad.status).toBe(400)
      expect(bad.body.error).toMatchObject({ code: 'ALERTS_CONFIG_INVALID', details: { field: 'rules.0.threshold' } })
      const unknownKind = await put(server, admin, { rules: [{ kind: 'vibes', threshold: 1 }] })
      expect(unknownKind.status).toBe(400)
    } finally {
      await server.close()
    }

    // Restarted on the same file: the rules and the webhook (with its secret) are back.
    server = await startServer({ store, port: 0 })
    try {
      const back = await call<Rules>(server, admin)
      expect(back.body.rules.map((r) => [r.id, r.kind, r.threshold])).toEqual([
        ['errorRate', 'errorRate', 0.3],
        ['dear-runs', 'runCost', 2],
      ])
      expect(back.body.webhook).toEqual({ url: 'http://127.0.0.1:9/hook', signed: true })
      expect(server.deps.alerts.rules().webhook?.secret).toBe('a secret of sixteen+ chars')
    } finally {
      await server.close()
    }

    // An alerts file given at start wins; a PUT then is stored and in force until the next start with the file.
    const file = join(dir, 'alerts.yaml')
    await writeFile(file, 'rules:\n  - kind: hourlyCost\n    threshold: 10\n')
    server = await startServer({ store, port: 0, alerts: file })
    try {
      expect((await call<Rules>(server, admin)).body).toEqual({
        rules: [{ id: 'hourlyCost', kind: 'hourlyCost', threshold: 10, severity: 'warning', hysteresis: 0.1 }],
      })
      expect((await put(server, admin, { rules: [{ kind: 'deadLetters', threshold: 3 }] })).status).toBe(200)
    } finally {
      await server.close()
    }
    server = await startServer({ store, port: 0 })
    try {
      expect((await call<Rules>(server, admin)).body.rules.map((r) => r.kind)).toEqual(['deadLetters'])
    } finally {
      await server.close()
    }
  }, 60_000)

  it('stored rules that no longer validate are logged and left out: the server starts without rules', async () => {
    const path = join(dir, 'stale.db')
    const raw = SqliteStore.open({ path })
    await raw.putSetting('alerts', { rules: [{ kind: 'sentiment', threshold: 1 }] })
    await raw.close()
    const { logger, warnings } = recordingLogger()
    let admin = ''
    const server = await startServer({ store: path, port: 0, logger, onAdminKey: (k) => (admin = k) })
    try {
      expect((await call<Rules>(server, admin)).body).toEqual({ rules: [] })
      expect(warnings).toContain('the stored alert rules are not valid; starting without rules (PUT new ones)')
    } finally {
      await server.close()
    }
  })
})

function settingsContract(open: () => Promise<Store>): void {
  it('keeps named JSON values, replaces them, refuses bad keys and non-JSON values', async () => {
    const store = await open()
    try {
      expect(await store.getSetting!('alerts')).toBeUndefined()
      await store.putSetting!('alerts', { rules: [{ kind: 'runCost', threshold: 1 }] })
      await store.putSetting!('other.thing', [1, 'two', null])
      expect(await store.getSetting!('alerts')).toEqual({ rules: [{ kind: 'runCost', threshold: 1 }] })
      await store.putSetting!('alerts', { rules: [] })
      expect(await store.getSetting!('alerts')).toEqual({ rules: [] })
      expect(await store.getSetting!('other.thing')).toEqual([1, 'two', null])
      await expect(store.putSetting!('Bad Key', 1)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      await expect(store.putSetting!('fn', () => 1)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      await expect(store.putSetting!('big', 1n)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      expect(await store.getSetting!('fn')).toBeUndefined()
    } finally {
      await store.close()
    }
  })
}

describe('store settings: memory', () => settingsContract(async () => new MemoryStore()))
describe('store settings: SQLite', () =>
  settingsContract(async () => SqliteStore.open({ path: join(dir, `settings-${Math.random()}.db`) })))
await describePostgres('store settings: PostgreSQL (store migration 8)', () => {
  it('keeps named JSON values across connections', async () => {
    await withFreshSchema(async (url) => {
      const a = await openStoreAsync(url)
      await a.putSetting!('alerts', { rules: [{ kind: 'budget', threshold: 0.9 }] })
      await a.putSetting!('alerts', { rules: [{ kind: 'budget', threshold: 0.8 }] })
      await a.close()
      const b = await openStoreAsync(url)
      try {
        expect(await b.getSetting!('alerts')).toEqual({ rules: [{ kind: 'budget', threshold: 0.8 }] })
        await expect(b.putSetting!('Bad Key', 1)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      } finally {
        await b.close()
      }
    })
  })
})
