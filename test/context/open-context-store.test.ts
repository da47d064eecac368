import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ContextStore } from '../../src/context/context-store.js'
import { openContextStore } from '../../src/context/open-context-store.js'
import { FakeClock } from '../../src/core/fake-clock.js'

describe('openContextStore', () => {
  let dir: string
  const opened: ContextStore[] = []
  const open = async (...args: Parameters<typeof openContextStore>): Promise<ContextStore> => {
    const store = await openContextStore(...args)
    opened.push(store)
    return store
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-ctx-open-'))
  })

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('opens memory, and passes on keepVersions, clock and permissionsOf', async () => {
    const clock = new FakeClock()
    const store = await open({ url: 'memory', keepVersions: 1, clock, permissionsOf: () => undefined })
    expect(store.backend).toMatchObject({ kind: 'memory', durable: false })
    await store.put('o', 'a', 1, { ttlMs: 10 })
    await store.put('o', 'a', 2, { ttlMs: 10 })
    expect((await store.history('o', 'a')).map((v) => v.version)).toEqual([2])
    await clock.advance(10)
    await expect(store.get('o', 'a')).rejects.toMatchObject({ code: 'ARTIFACT_EXPIRED' })
  })

  it('opens SQLite from sqlite:<path> or a .db path, relative to cwd', async () => {
    const one = await open({ url: 'sqlite:ctx/one.db', cwd: dir })
    expect(one.backend).toMatchObject({ kind: 'sqlite', durable: true })
    await one.put('o', 'a', 1)
    expect(existsSync(join(dir, 'ctx/one.db'))).toBe(true)
    const same = await open({ url: join(dir, 'ctx/one.db') })
    expect((await same.get('o', 'a')).content).toBe(1)
  })

  it('defaults to $FLOTILLA_STORE, else the Flotilla store file .flotilla/flotilla.db', async () => {
    const saved = process.env.FLOTILLA_STORE
    try {
      process.env.FLOTILLA_STORE = 'memory'
      expect((await open()).backend.kind).toBe('memory')
      process.env.FLOTILLA_STORE = ''
      expect((await open({ cwd: dir })).backend.kind).toBe('sqlite')
      expect(existsSync(join(dir, '.flotilla/flotilla.db'))).toBe(true)
    } finally {
      if (saved === undefined) delete process.env.FLOTILLA_STORE
      else process.env.FLOTILLA_STORE = saved
    }
  })

  it('refuses a malformed URL with STORE_URL_INVALID and bad options with VALIDATION_FAILED, creating no file', async () => {
    await expect(openContextStore({ url: 'redis://x' })).rejects.toMatchObject({ code: 'STORE_URL_INVALID' })
    await expect(openContextStore({ url: join(dir, 'x.db'), keepVersions: -1 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'keepVersions' },
    })
    expect(existsSync(join(dir, 'x.db'))).toBe(false)
  })

  it('answers STORE_UNAVAILABLE quickly when no PostgreSQL listens', async () => {
    const began = performance.now()
    await expect(openContextStore({ url: 'postgres://postgres@127.0.0.1:1/test' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    expect(performance.now() - began).toBeLessThan(5_000)
  })
})
