import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FlotillaError, isFlotillaError } from '../../src/core/errors.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { Bus, BusEvent, BusMessage } from '../../src/messaging/bus.js'
import { openPostgresBus, type PostgresBus } from '../../src/messaging/postgres/postgres-bus.js'
import { resolveBusOptions } from '../../src/messaging/postgres/options.js'
import { channelOf } from '../../src/messaging/postgres/schema.js'
import { busContract } from '../../src/testing/bus-contract.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL, withClient } from '../helpers/postgres.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const AGENT = fileURLToPath(new URL('../fixtures/bus-agent.mjs', import.meta.url))

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return isFlotillaError(err) ? err.code : `not a FlotillaError: ${String(err)}`
  }
  return 'resolved'
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('openPostgresBus options', () => {
  it('refuses missing, doubled and malformed options before connecting', async () => {
    expect(await codeOf(openPostgresBus({}))).toBe('VALIDATION_FAILED')
    expect(await codeOf(openPostgresBus({ connectionString: POSTGRES_URL, pool: new pg.Pool() }))).toBe(
      'VALIDATION_FAILED',
    )
    expect(await codeOf(openPostgresBus({ connectionString: POSTGRES_URL, schema: 'no-dashes' }))).toBe(
      'VALIDATION_FAILED',
    )
    expect(await codeOf(openPostgresBus({ connectionString: POSTGRES_URL, maxDeliveries: 0 }))).toBe(
      'VALIDATION_FAILED',
    )
    expect(await codeOf(openPostgresBus({ connectionString: POSTGRES_URL, unknown: 1 } as never))).toBe(
      'VALIDATION_FAILED',
    )
    expect(await codeOf(openPostgresBus({ connectionString: 'mysql://db/app' }))).toBe('STORE_URL_INVALID')
  })

  it('resolves defaults, the schema from the URL, and synchronousCommit into the session options', () => {
    const o = resolveBusOptions({ connectionString: 'postgres://me:secret@db.example:6543/app?schema=fleet' })
    expect(o).toMatchObject({
      schema: 'fleet',
      maxDeliveries: 5,
      maxPayloadBytes: 256 * 1024,
      defaultVisibilityTimeoutMs: 30_000,
      poolSize: 10,
      startupOptions: undefined,
    })
    expect(o.where).toBe('me@db.example:6543/app')
    expect(o.url).not.toContain('schema=')
    expect(
      resolveBusOptions({ connectionString: 'postgres://db/app', schema: 'mine', synchronousCommit: false }),
    ).toMatchObject({ schema: 'mine', startupOptions: '-c synchronous_commit=off' })
    expect(resolveBusOptions({ pool: new pg.Pool() })).toMatchObject({
      schema: 'flotilla',
      url: undefined,
      where: 'the given pool',
    })
  })

  it('fails with STORE_UNAVAILABLE when nothing listens', async () => {
    const err = await openPostgresBus({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      connectTimeoutMs: 2_000,
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true })
  })
})

await describePostgres('PostgresBus', () => {
  busContract({
    name: 'postgres',
    create: (options) =>
      openPostgresBus({ connectionString: POSTGRES_URL, schema: freshSchema(), poolSize: 7, ...options }),
    destroy: (bus: Bus) => dropSchema((bus as PostgresBus).schema),
  })

  it('creates its tables idempotently, from several instances at once, and takes the schema from the URL', async () => {
    const schema = freshSchema()
    const buses = await Promise.all(
      [1, 2, 3].map(() => openPostgresBus({ connectionString: `${POSTGRES_URL}?schema=${schema}`, poolSize: 2 })),
    )
    try {
      expect(buses.map((b) => b.schema)).toEqual([schema, schema, schema])
      const tables = await withClient((c) =>
        c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema]),
      )
      expect(tables.rows.map((r) => r.t)).toEqual([
        'flotilla_bus_dead_letters',
        'flotilla_bus_messages',
        'flotilla_bus_payloads',
        'flotilla_bus_requests',
        // The mark and the version table of the driver's migrator (the bus's tables are its domain "bus").
        'flotilla_meta',
        'flotilla_migrations',
      ])
      await buses[0]!.send('b', { kept: true })
      await buses[0]!.close()
      const again = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
      expect((await again.receive('b')).map((m) => m.body)).toEqual([{ kept: true }])
      await again.close()
    } finally {
      await Promise.all(buses.map((b) => b.close()))
      await dropSchema(schema)
    }
  })

  describe("two instances (two processes' worth of connections) on one schema", () => {
    let clock: FakeClock
    let schema: string
    let a: PostgresBus
    let b: PostgresBus
    const opened: PostgresBus[] = []
    const open = async (extra: { maxDeliveries?: number } = {}): Promise<PostgresBus> => {
      const bus = await openPostgresBus({ connectionString: POSTGRES_URL, schema, clock, poolSize: 4, ...extra })
      opened.push(bus)
      return bus
    }
    beforeEach(async () => {
      clock = new FakeClock()
      schema = freshSchema()
      a = await open({ maxDeliveries: 2 })
      b = await open({ maxDeliveries: 2 })
    })
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((bus) => bus.close()))
      await dropSchema(schema)
    })

    it('delivers events from one instance to filtered subscribers of the other, in order, once, also over the NOTIFY size limit', async () => {
      const got: BusEvent[] = []
      const three = deferred()
      await a.subscribe('progress', { where: { 'step.kind': 'tick' }, from: 'worker' }, (e) => {
        got.push(e)
        if (got.length === 3) three.resolve()
      })
      const own: BusEvent[] = []
      await b.subscribe('progress', undefined, (e) => void own.push(e))
      const barrier = deferred<BusEvent>()
      await b.subscribe('barrier', undefined, (e) => barrier.resolve(e))
      await b.publish('progress', { n: 0, step: { kind: 'tock' } }, { from: 'worker' })
      await b.publish('progress', { n: 1, step: { kind: 'tick' } }, { from: 'worker' })
      await b.publish('progress', { n: 2, step: { kind: 'tick' }, pad: 'é'.repeat(10_000) }, { from: 'worker' })
      await b.publish('progress', { n: 9, step: { kind: 'tick' } }, { from: 'other' })
      const lastId = await b.publish('progress', { n: 3, step: { kind: 'tick' } }, { from: 'worker' })
      await three.promise
      expect(got.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3])
      expect((got[1]!.data as { pad: string }).pad).toHaveLength(10_000)
      expect(got[2]).toMatchObject({ id: lastId, type: 'progress', from: 'worker', publishedAt: clock.wallNow() })
      // b's own echoes come before a's barrier on b's connection: none was dispatched twice.
      await a.publish('barrier', {}, { from: 'a' })
      await barrier.promise
      expect(own.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2, 9, 3])
    })

    it('answers requests across instances: replies, error codes, large replies, requests stored before the responder, one answer each', async () => {
      await a.onRequest('specialist', (req) => ({ echo: req.body, from: req.from, by: a.instance }))
      expect(await b.request('specialist', { q: 1 }, { timeoutMs: 5_000, from: 'analyst' })).toEqual({
        echo: { q: 1 },
        from: 'analyst',
        by: a.instance,
      })
      await a.onRequest('strict', () => {
        throw new FlotillaError('PERMISSION_DENIED', 'analyst may not ask strict', { details: { who: 'analyst' } })
      })
      const denied = await b.request('strict', 1, { timeoutMs: 5_000 }).catch((e: unknown) => e)
      expect(denied).toMatchObject({
        code: 'PERMISSION_DENIED',
        message: 'analyst may not ask strict',
        details: { who: 'analyst' },
      })
      expect(isFlotillaError(denied)).toBe(true)
      await a.onRequest('big', () => 'y'.repeat(100_000))
      expect(await b.request('big', null, { timeoutMs: 5_000 })).toHaveLength(100_000)

      const early = b.request('late', 20, { timeoutMs: 5_000 })
      await vi.waitFor(async () => {
        const { rows } = await withClient((c) =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".flotilla_bus_requests`),
        )
        expect(rows[0]!.n).toBe(1)
      })
      await a.onRequest('late', (req) => (req.body as number) * 2 + 2)
      expect(await early).toBe(42)

      const c = await open()
      const answeredBy: string[] = []
      await a.onRequest('shared', (req) => (answeredBy.push('a'), req.body))
      await c.onRequest('shared', (req) => (answeredBy.push('c'), req.body))
      const replies = await Promise.all(
        Array.from({ length: 30 }, (_, i) => b.request('shared', i, { timeoutMs: 10_000 })),
      )
      expect(replies).toEqual(Array.from({ length: 30 }, (_, i) => i))
      expect(answeredBy).toHaveLength(30)
      const rows = await withClient((cl) =>
        cl.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".flotilla_bus_requests`),
      )
      expect(rows.rows[0]!.n).toBe(0)
    })

    it('times out a request nobody answers and deletes it, so a responder that comes later does not run it', async () => {
      const pending = codeOf(b.request('away', 1, { timeoutMs: 1_000 }))
      await vi.waitFor(async () => {
        const { rows } = await withClient((c) =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".flotilla_bus_requests`),
        )
        expect(rows[0]!.n).toBe(1)
      })
      await clock.advance(1_000)
      expect(await pending).toBe('TASK_TIMEOUT')
      await vi.waitFor(async () => {
        const { rows } = await withClient((c) =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".flotilla_bus_requests`),
        )
        expect(rows[0]!.n).toBe(0)
      })
    })

    it('keeps per-sender order with consumers on both instances, and never delivers one message twice', async () => {
      const senders = ['s0', 's1', 's2', 's3', 's4', 's5']
      for (let i = 0; i < 10; i++) for (const s of senders) await b.send('box', { s, i }, { from: s })
      const seen: BusMessage[] = []
      const stop = new AbortController()
      const consume = async (bus: PostgresBus): Promise<void> => {
        while (!stop.signal.aborted) {
          const batch = await bus.receive('box', { max: 4, visibilityTimeoutMs: 60_000 })
          for (const m of batch) {
            seen.push(m)
            await bus.ack('box', m.id)
          }
          if (seen.length >= 60) stop.abort()
          else if (batch.length === 0) await bus.waitForMail('box', { signal: stop.signal })
        }
      }
      await Promise.all([a, a, a, b, b, b].map(consume))
      expect(seen).toHaveLength(60)
      expect(new Set(seen.map((m) => m.id)).size).toBe(60)
      expect(seen.every((m) => m.attempt === 1)).toBe(true)
      for (const s of senders)
        expect(seen.filter((m) => m.from === s).map((m) => (m.body as { i: number }).i)).toEqual([...Array(10).keys()])
    })

    it('shares leases, dead letters and replays between instances', async () => {
      const id = await a.send('box', { job: 1 }, { from: 'lead' })
      expect(await a.receive('box', { visibilityTimeoutMs: 10 })).toMatchObject([{ id, attempt: 1 }])
      expect(await b.receive('box', { visibilityTimeoutMs: 10 })).toEqual([])
      await clock.advance(10)
      expect(await b.receive('box', { visibilityTimeoutMs: 10 })).toMatchObject([{ id, attempt: 2 }])
      await clock.advance(10)
      expect(await a.receive('box')).toEqual([])
      const dead = await b.deadLetters('box')
      expect(dead).toMatchObject([
        { id, from: 'lead', to: 'box', body: { job: 1 }, attempt: 2, deadAt: clock.wallNow() },
      ])
      expect(dead[0]!.reason).toMatch(/2 times/)
      const woken = b.waitForMail('box')
      expect(await a.replayDeadLetter('box', id)).toBe(true)
      expect(await woken).toBe(true)
      expect(await b.receive('box')).toMatchObject([{ id, attempt: 1 }])
    })

    it('wakes a waiter of the other instance when mail is sent or broadcast', async () => {
      const one = a.waitForMail('x')
      await b.send('x', 'hi', { from: 'b' })
      expect(await one).toBe(true)
      const two = a.waitForMail('y')
      expect(await b.broadcast(['z', 'y'], 'all')).toHaveLength(2)
      expect(await two).toBe(true)
    })
  })

  it('reconnects a dropped LISTEN connection: waiters are woken and events flow again (with a given pool)', async () => {
    const schema = freshSchema()
    const app = `flotilla-bus-test-${schema}`
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, application_name: app, max: 3 })
    pool.on('error', () => undefined)
    const errors: unknown[] = []
    const d = await openPostgresBus({ pool, schema, onError: (e) => errors.push(e) })
    const e = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
    try {
      const waiting = d.waitForMail('nobody-sends-here')
      const { rows } = await withClient((c) =>
        c.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query = $2`,
          [app, `LISTEN "${channelOf(schema)}"`],
        ),
      )
      expect(rows[0]!.n).toBe(1)
      expect(await waiting).toBe(true) // woken after the reconnect: notes may have been missed meanwhile
      expect(errors.length).toBeGreaterThanOrEqual(1)
      const got = deferred<BusEvent>()
      await d.subscribe('after', undefined, (ev) => got.resolve(ev))
      await e.publish('after', { ok: true }, { from: 'e' })
      expect((await got.promise).data).toEqual({ ok: true })
    } finally {
      await d.close()
      await e.close()
      await pool.end()
      await dropSchema(schema)
    }
  })

  describe('separate processes', () => {
    const children = new Set<ChildProcessWithoutNullStreams>()
    beforeEach(() => {
      // The fixture runs on dist/: build it when missing (CI builds before testing).
      if (!existsSync(`${ROOT}/dist/messaging/postgres/postgres-bus.js`)) {
        try {
          execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' })
        } catch {
          // tsc exits non-zero on a type error elsewhere but still emits
        }
      }
    })
    afterEach(() => {
      for (const c of children) c.kill('SIGKILL')
      children.clear()
    })

    /** Starts the fixture; `lines` yields its stdout lines as they come. */
    const agent = (
      schema: string,
      args: string[],
    ): { child: ChildProcessWithoutNullStreams; next: () => Promise<string>; exit: Promise<number | null> } => {
      const child = spawn(process.execPath, [AGENT, POSTGRES_URL, schema, ...args], { stdio: 'pipe' })
      children.add(child)
      let buffer = ''
      let stderr = ''
      const lines: string[] = []
      const waiting: Array<(line: string) => void> = []
      child.stdout.on('data', (d: Buffer) => {
        buffer += d.toString()
        for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
          const line = buffer.slice(0, i)
          buffer = buffer.slice(i + 1)
          const w = waiting.shift()
          if (w) w(line)
          else lines.push(line)
        }
      })
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      const next = (): Promise<string> => {
        const l = lines.shift()
        if (l !== undefined) return Promise.resolve(l)
        return Promise.race([
          new Promise<string>((resolve) => waiting.push(resolve)),
          exit.then((code) =>
            Promise.reject(new Error(`the agent exited (${code}) before printing a line: ${stderr}`)),
          ),
        ])
      }
      return { child, next, exit }
    }

    it('a message survives a kill -9 of the receiving process: the next receiving process gets it again (attempt 2)', async () => {
      const schema = freshSchema()
      const lead = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
      try {
        const id = await lead.send('worker', { job: 'index' }, { from: 'lead' })
        const first = agent(schema, ['worker', 'hold', '1500'])
        const got = JSON.parse(await first.next()) as { id: string; attempt: number; body: unknown; pid: number }
        expect(got).toMatchObject({ id, attempt: 1, body: { job: 'index' } })
        first.child.kill('SIGKILL')
        expect(await first.exit).toBe(null)
        const second = agent(schema, ['worker', 'ack', '1500'])
        const again = JSON.parse(await second.next()) as { id: string; attempt: number; pid: number }
        expect(again).toMatchObject({ id, attempt: 2 })
        expect(again.pid).not.toBe(got.pid)
        expect(await second.next()).toBe('acked')
        expect(await second.exit).toBe(0)
        const { rows } = await withClient((c) =>
          c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".flotilla_bus_messages`),
        )
        expect(rows[0]!.n).toBe(0)
        expect(await lead.deadLetters('worker')).toEqual([])
      } finally {
        await lead.close()
        await dropSchema(schema)
      }
    })

    it('request/reply and events between processes', async () => {
      const schema = freshSchema()
      const lead = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
      try {
        const responder = agent(schema, ['specialist', 'respond'])
        expect(await responder.next()).toBe('ready')
        const reply = (await lead.request('specialist', { q: 'why?' }, { timeoutMs: 10_000, from: 'analyst' })) as {
          pid: number
        }
        expect(reply).toEqual({ echo: { q: 'why?' }, from: 'analyst', pid: responder.child.pid })
        expect(reply.pid).not.toBe(process.pid)
        const pong = deferred<BusEvent>()
        await lead.subscribe('pong', { from: 'specialist' }, (e) => pong.resolve(e))
        await lead.publish('ping', { n: 7 }, { from: 'lead' })
        expect(await pong.promise).toMatchObject({ type: 'pong', from: 'specialist', data: { n: 7 } })
      } finally {
        await lead.close()
        await dropSchema(schema)
      }
    })
  })
})
