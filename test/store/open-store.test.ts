import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FlotillaError } from '../../src/core/errors.js'
import { newRunId } from '../../src/core/ids.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import {
  connectPostgres,
  DEFAULT_STORE_PATH,
  openStore,
  openStoreAsync,
  parseStoreSpec,
} from '../../src/store/open-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'

describe('openStore', () => {
  let cwd: string
  const opened: Store[] = []
  const keep = <S extends Store>(s: S): S => {
    opened.push(s)
    return s
  }
  /** Runs `fn` with FLOTILLA_STORE set to `value` (or unset), restoring it after. */
  async function withEnv<T>(value: string | undefined, fn: () => T | Promise<T>): Promise<T> {
    const before = process.env.FLOTILLA_STORE
    if (value === undefined) delete process.env.FLOTILLA_STORE
    else process.env.FLOTILLA_STORE = value
    try {
      return await fn()
    } finally {
      if (before === undefined) delete process.env.FLOTILLA_STORE
      else process.env.FLOTILLA_STORE = before
    }
  }

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'flotilla-open-'))
  })

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    rmSync(cwd, { recursive: true, force: true })
  })

  it('returns a given store as it is', async () => {
    const store = new MemoryStore()
    expect(openStore(store)).toBe(store)
    expect(await openStoreAsync(store)).toBe(store)
  })

  it('opens a memory store for "memory"', () => {
    const store = keep(openStore('memory'))
    expect(store).toBeInstanceOf(MemoryStore)
    expect(store).toMatchObject({ kind: 'memory', durable: false })
  })

  it.each([
    ['sqlite:runs.db', 'runs.db'],
    ['sqlite:data/runs.db', join('data', 'runs.db')],
    ['sqlite://nested/dir/store.sqlite', join('nested', 'dir', 'store.sqlite')],
    ['sqlite:no-extension', 'no-extension'],
    ['plain.db', 'plain.db'],
    ['sub/file.sqlite', join('sub', 'file.sqlite')],
    ['file.SQLITE3', 'file.SQLITE3'],
    ['  padded.db  ', 'padded.db'],
  ])('opens "%s" as a SQLite file relative to cwd', async (spec, relative) => {
    const store = keep(openStore(spec, { cwd }))
    expect(store).toBeInstanceOf(SqliteStore)
    expect(store).toMatchObject({ kind: 'sqlite', durable: true, path: join(cwd, relative) })
    expect(existsSync(join(cwd, relative))).toBe(true)
    const id = newRunId()
    await store.commit({
      ops: [
        {
          op: 'run.create',
          run: {
            id,
            workflow: 'w',
            workflowHash: 'h',
            definition: {},
            input: undefined,
            state: 'PENDING',
            createdAt: 1,
            startedAt: undefined,
            finishedAt: undefined,
            error: undefined,
            parentRunId: undefined,
          },
          tasks: [],
        },
      ],
      events: [],
    })
    expect((await store.getRun(id))?.id).toBe(id)
  })

  it('opens an absolute path as it is, in every form', () => {
    const abs = join(cwd, 'abs', 'store.db')
    for (const spec of [abs, `sqlite:${abs}`, `sqlite://${abs}`]) {
      const store = keep(openStore(spec, { cwd: '/nonexistent-elsewhere' }))
      expect((store as SqliteStore).path).toBe(abs)
    }
  })

  it('opens SQLite in memory for sqlite::memory:', () => {
    const store = keep(openStore('sqlite::memory:', { cwd }))
    expect(store).toMatchObject({ kind: 'sqlite', path: ':memory:' })
    expect(existsSync(join(cwd, ':memory:'))).toBe(false)
  })

  it('defaults to FLOTILLA_STORE, else to .flotilla/flotilla.db under cwd', async () => {
    expect(DEFAULT_STORE_PATH).toBe('.flotilla/flotilla.db')
    await withEnv(undefined, () => {
      const store = keep(openStore(undefined, { cwd }))
      expect(store).toMatchObject({ kind: 'sqlite', path: join(cwd, '.flotilla', 'flotilla.db') })
      expect(existsSync(join(cwd, '.flotilla', 'flotilla.db'))).toBe(true)
    })
    await withEnv('memory', () => expect(keep(openStore(undefined, { cwd }))).toBeInstanceOf(MemoryStore))
    await withEnv('sqlite:from-env.db', () =>
      expect(keep(openStore(undefined, { cwd }))).toMatchObject({ path: join(cwd, 'from-env.db') }),
    )
    await withEnv('', () =>
      expect(keep(openStore(undefined, { cwd }))).toMatchObject({ path: join(cwd, DEFAULT_STORE_PATH) }),
    )
    await withEnv('bogus://x', () =>
      expect(() => openStore(undefined, { cwd })).toThrow(expect.objectContaining({ code: 'STORE_URL_INVALID' })),
    )
    await withEnv('memory', async () =>
      expect(keep(await openStoreAsync(undefined, { cwd }))).toBeInstanceOf(MemoryStore),
    )
  })

  it.each(['', '   ', 'sqlite:', 'sqlite://', 'mysql://root@localhost/db', 'notes.txt', 'memory:', 'redis://x.db'])(
    'refuses "%s" with STORE_URL_INVALID listing the accepted forms',
    (spec) => {
      expect(() => openStore(spec, { cwd })).toThrow(
        expect.objectContaining({ code: 'STORE_URL_INVALID', message: expect.stringContaining('sqlite:<path>') }),
      )
      expect(() => parseStoreSpec(spec)).toThrow(expect.objectContaining({ code: 'STORE_URL_INVALID' }))
    },
  )

  it('parses without opening anything', () => {
    expect(parseStoreSpec('memory')).toEqual({ kind: 'memory' })
    expect(parseStoreSpec('sqlite:///var/x.db')).toEqual({ kind: 'sqlite', path: '/var/x.db' })
    expect(parseStoreSpec('postgresql://h/db')).toEqual({ kind: 'postgres', url: 'postgresql://h/db' })
  })

  it('passes on the errors of opening the file', async () => {
    const { writeFileSync } = await import('node:fs')
    writeFileSync(
      join(cwd, 'junk.db'),
      'this is not a database, just text that is long enough to be a header or more of it',
    )
    expect(() => openStore('junk.db', { cwd })).toThrow(expect.objectContaining({ code: 'STORE_NOT_FLOTILLA' }))
  })

  describe('openStoreAsync and PostgreSQL', () => {
    it('opens memory and SQLite specs as openStore does', async () => {
      expect(keep(await openStoreAsync('memory'))).toBeInstanceOf(MemoryStore)
      expect(keep(await openStoreAsync('sqlite:a.db', { cwd }))).toMatchObject({ path: join(cwd, 'a.db') })
      await expect(openStoreAsync('ftp://x')).rejects.toMatchObject({ code: 'STORE_URL_INVALID' })
    })

    it('answers STORE_UNAVAILABLE for an unreachable PostgreSQL server (or a missing adapter)', async () => {
      await expect(openStoreAsync('postgres://postgres@127.0.0.1:1/none')).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
      })
    })

    it('loads the adapter and calls PostgresStore.connect with the URL', async () => {
      const store = new MemoryStore()
      const urls: string[] = []
      const mod = { PostgresStore: { connect: async (url: string) => (urls.push(url), store) } }
      expect(await connectPostgres('postgres://h/db', async () => mod)).toBe(store)
      expect(urls).toEqual(['postgres://h/db'])
    })

    it('maps a missing adapter or pg package to STORE_UNAVAILABLE telling to install pg', async () => {
      const missing = Object.assign(new Error("Cannot find package 'pg'"), { code: 'ERR_MODULE_NOT_FOUND' })
      await expect(connectPostgres('postgres://h/db', () => Promise.reject(missing))).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
        message: expect.stringContaining('npm install pg'),
      })
    })

    it.each([
      ['no export', {}],
      ['no connect', { PostgresStore: {} }],
      ['not a module', 42],
    ])('maps an adapter module with %s to STORE_UNAVAILABLE', async (_label, mod) => {
      await expect(connectPostgres('postgres://h/db', async () => mod)).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
      })
    })

    it('maps a failed connection to STORE_UNAVAILABLE, keeps a Flotilla error, and refuses a non-store', async () => {
      const refused = {
        PostgresStore: {
          connect: async () => {
            throw new Error('connect ECONNREFUSED')
          },
        },
      }
      await expect(connectPostgres('postgres://u:pw@h/db', async () => refused)).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
        message: expect.not.stringContaining(':pw@'),
      })
      const typed = {
        PostgresStore: {
          connect: async () => {
            throw new FlotillaError('STORE_SCHEMA_TOO_NEW', 'newer')
          },
        },
      }
      await expect(connectPostgres('postgres://h/db', async () => typed)).rejects.toMatchObject({
        code: 'STORE_SCHEMA_TOO_NEW',
      })
      const odd = { PostgresStore: { connect: async () => ({ not: 'a store' }) } }
      await expect(connectPostgres('postgres://h/db', async () => odd)).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
      })
    })
  })
})
