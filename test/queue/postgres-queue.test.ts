import { afterEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { asAgentId, asTaskId, newRunId, type RunId } from '../../src/core/ids.js'
import { PostgresStore } from '../../src/postgres.js'
import type { PostgresQueue } from '../../src/store/postgres/postgres-queue.js'
import { queueChannel } from '../../src/store/postgres/queue-sql.js'
import type { QueueOffer, TaskQueue } from '../../src/store/queue.js'
import { queueContract } from '../../src/testing/queue-contract.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL, withClient } from '../helpers/postgres.js'

const T0 = Date.UTC(2026, 0, 1)

await describePostgres('PostgresQueue', () => {
  queueContract({
    name: 'postgres',
    create: () => PostgresStore.connect(POSTGRES_URL, { schema: freshSchema(), poolSize: 4 }),
    destroy: async (store) => {
      await store.close()
      await dropSchema((store as PostgresStore).schema)
    },
    openPeer: async (store) =>
      PostgresStore.connect(POSTGRES_URL, { schema: (store as PostgresStore).schema, poolSize: 4 }),
  })

  describe('PostgreSQL specifics', () => {
    const cleanup: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn()
    })

    async function open(schema = freshSchema()): Promise<PostgresStore> {
      const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 4 })
      cleanup.push(
        () => dropSchema(schema),
        () => store.close(),
      )
      return store
    }

    async function seed(store: PostgresStore, taskIds: readonly string[]): Promise<RunId> {
      const id = newRunId()
      const run = {
        id,
        workflow: 'wf',
        workflowHash: 'h'.repeat(64),
        definition: { name: 'wf', tasks: [] },
        input: null,
        state: 'RUNNING' as const,
        createdAt: T0,
        startedAt: T0,
        finishedAt: undefined,
        error: undefined,
        parentRunId: undefined,
      }
      const tasks = taskIds.map((t) => ({
        runId: id,
        taskId: asTaskId(t),
        state: 'PENDING' as const,
        attempt: 0,
        agent: undefined,
        priority: 'MEDIUM' as const,
        idempotencyKey: `${id}:${t}`,
        startedAt: undefined,
        finishedAt: undefined,
        output: undefined,
        error: undefined,
      }))
      await store.commit({ ops: [{ op: 'run.create', run, tasks }], events: [] })
      return id
    }

    const offer = (runId: RunId, t: string, extra: Partial<QueueOffer> = {}): QueueOffer => ({
      runId,
      taskId: asTaskId(t),
      attempt: 1,
      agent: 'worker',
      version: undefined,
      capability: undefined,
      priority: 2,
      rank: 0,
      notBefore: 0,
      ...extra,
    })
    const SEL = [{ agent: 'worker', versions: ['1.0.0'] }]

    /** Resolves with how long `queue.wait(ms)` took. */
    async function timedWait(queue: TaskQueue, ms: number): Promise<number> {
      const t = Date.now()
      await queue.wait(ms)
      return Date.now() - t
    }

    /** Waits until the queue's LISTEN connection is up (the first wait opens it, and its connect wakes the waiter). */
    async function listening(queue: TaskQueue): Promise<void> {
      await queue.wait(5_000)
      await queue.wait(0)
    }

    it('names its NOTIFY channel per schema, hashing names over the 63-byte identifier limit', () => {
      expect(queueChannel('flotilla')).toBe('flotilla_queue_flotilla')
      const long = queueChannel('s'.repeat(60))
      expect(long).toMatch(/^flotilla_queue_[0-9a-f]{40}$/)
      expect(queueChannel('t'.repeat(60))).not.toBe(long)
    })

    it("is one object per store; another process's offer wakes a waiter through LISTEN/NOTIFY", async () => {
      const store = await open()
      const peer = await PostgresStore.connect(POSTGRES_URL, { schema: store.schema, poolSize: 2 })
      cleanup.push(() => peer.close())
      const queue = store.queue()
      expect(store.queue()).toBe(queue)
      await listening(queue)
      const id = await seed(store, ['a'])
      const woke = timedWait(queue, 60_000)
      await peer.queue().offer([offer(id, 'a')])
      expect(await woke).toBeLessThan(5_000)
      // Nothing more happened: the next wait lasts its timeout (no busy loop).
      expect(await timedWait(queue, 300)).toBeGreaterThanOrEqual(250)
    })

    it('reconnects its LISTEN connection after it is terminated, without crashing, and is woken again', async () => {
      const store = await open()
      const peer = await PostgresStore.connect(POSTGRES_URL, { schema: store.schema, poolSize: 2 })
      cleanup.push(() => peer.close())
      const queue = store.queue()
      await listening(queue)
      const channel = (queue as PostgresQueue).channel
      const n = await withClient(
        async (c) =>
          (
            await c.query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flotilla-queue' AND query = $1`,
              [`LISTEN "${channel}"`],
            )
          ).rowCount,
      )
      expect(n).toBe(1)
      // The reconnect wakes the waiter (notifications may have been missed meanwhile)…
      expect(await timedWait(queue, 10_000)).toBeLessThan(5_000)
      await queue.wait(0)
      // …and the new connection delivers notifications again.
      const id = await seed(store, ['a'])
      const woke = timedWait(queue, 60_000)
      await peer.queue().offer([offer(id, 'a')])
      expect(await woke).toBeLessThan(5_000)
    })

    it('appends the events of a result after those flotilla_commit appended, and refuses an offer of an unknown task whole', async () => {
      const store = await open()
      const queue = store.queue(new FakeClock(0, T0))
      const id = await seed(store, ['a', 'b'])
      await store.commit({
        ops: [],
        events: [{ type: 'task.log', at: T0, runId: id, taskId: asTaskId('a'), level: 'info', message: 'one' }],
      })
      await expect(queue.offer([offer(id, 'a'), offer(id, 'zz')])).rejects.toMatchObject({
        code: 'RUN_NOT_FOUND',
        details: { taskId: 'zz' },
      })
      expect((await store.getTask(id, asTaskId('a')))?.state).toBe('PENDING')
      await queue.offer([offer(id, 'a')])
      const [a] = await queue.claim('w1', SEL, 1, 1000)
      expect(a).toMatchObject({ attempt: 1, agent: 'worker', version: undefined })
      expect((await store.getTask(id, asTaskId('a')))?.agent).toBe('worker@1.0.0')
      await queue.complete('w1', a, { ok: true, output: null }, [
        {
          type: 'task.started',
          at: T0,
          runId: id,
          taskId: a.taskId,
          attempt: 1,
          agent: 'worker@1.0.0',
          instanceId: asAgentId('agent_1'),
        },
        { type: 'task.succeeded', at: T0, runId: id, taskId: a.taskId, attempt: 1, durationMs: 1 },
      ])
      expect((await store.listEvents(id)).map((e) => [e.seq, e.event.type])).toEqual([
        [1, 'task.log'],
        [2, 'task.started'],
        [3, 'task.succeeded'],
      ])
      expect(await store.getTask(id, asTaskId('a'))).toMatchObject({ state: 'SUCCEEDED', output: null })
    })

    it('stores results completed together in one statement (group commit), each fenced on its own: a stale attempt and a cancelled run are refused, their events left out', async () => {
      const store = await open()
      const queue = store.queue(new FakeClock(0, T0))
      const ids = Array.from({ length: 30 }, (_, k) => `t${k}`)
      const id = await seed(store, ids)
      const other = await seed(store, ['x'])
      await queue.offer([...ids.map((t) => offer(id, t)), offer(other, 'x')])
      const claims = await queue.claim('w1', SEL, 100, 1000)
      expect(claims).toHaveLength(31)
      await store.commit({ ops: [{ op: 'run.state', runId: other, state: 'CANCELLED', at: T0 }], events: [] })
      const outcomes = await Promise.allSettled(
        claims.map((c) => {
          const stale = c.taskId === 't7' ? { ...c, attempt: 2 } : c
          return queue.complete('w1', stale, { ok: true, output: { t: c.taskId } }, [
            { type: 'task.succeeded', at: T0, runId: c.runId, taskId: c.taskId, attempt: stale.attempt, durationMs: 1 },
          ])
        }),
      )
      const refused = outcomes.flatMap((o, k) =>
        o.status === 'rejected'
          ? [[claims[k].taskId, (o.reason as { code: string; details: { reason?: string } }).code]]
          : [],
      )
      expect(refused.sort()).toEqual([
        ['t7', 'STORE_CONFLICT'],
        ['x', 'STORE_CONFLICT'],
      ])
      const tasks = await store.getTasks(id)
      expect(
        tasks
          .filter((t) => t.state === 'SUCCEEDED')
          .map((t) => t.taskId)
          .sort(),
      ).toEqual(ids.filter((t) => t !== 't7').sort())
      expect(tasks.find((t) => t.taskId === 't12')?.output).toEqual({ t: 't12' })
      expect((await store.getTask(id, asTaskId('t7')))?.state).toBe('RUNNING')
      const events = (await store.listEvents(id)).map((e) => (e.event as { taskId?: string }).taskId)
      expect(events).toHaveLength(29)
      expect(events).not.toContain('t7')
      expect(await store.listEvents(other)).toEqual([])
      expect(await queue.takeResults('nobody', 100)).toEqual([])
    })

    it('passes over entries another transaction holds locked (SKIP LOCKED), and drops entries of tasks already final', async () => {
      const store = await open()
      const queue = store.queue(new FakeClock(0, T0))
      const id = await seed(store, ['a', 'b', 'c'])
      await queue.offer([
        offer(id, 'a', { priority: 0 }),
        offer(id, 'b', { priority: 1 }),
        offer(id, 'c', { priority: 2 }),
      ])
      await store.commit({
        ops: [{ op: 'task.finish', runId: id, taskId: asTaskId('b'), state: 'SKIPPED', at: T0, reason: 'test' }],
        events: [],
      })
      await withClient(async (c) => {
        await c.query('BEGIN')
        await c.query(`SELECT 1 FROM "${store.schema}".queue WHERE run_id = $1 AND task_id = 'a' FOR UPDATE`, [id])
        try {
          expect((await queue.claim('w1', SEL, 5, 1000)).map((x) => x.taskId)).toEqual(['c'])
        } finally {
          await c.query('ROLLBACK')
        }
      })
      expect((await queue.claim('w1', SEL, 5, 1000)).map((x) => x.taskId)).toEqual(['a'])
      const left = await withClient(async (c) =>
        (await c.query(`SELECT task_id FROM "${store.schema}".queue ORDER BY task_id`)).rows.map((r) => r.task_id),
      )
      expect(left).toEqual(['a', 'c'])
    })

    it('closes its LISTEN connection with the store, and a pending wait resolves', async () => {
      const schema = freshSchema()
      const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 2 })
      cleanup.push(() => dropSchema(schema))
      const queue = store.queue()
      await listening(queue)
      const pending = timedWait(queue, 60_000)
      await store.close()
      expect(await pending).toBeLessThan(5_000)
      const listens = `LISTEN "${queueChannel(schema)}"`
      const left = await withClient(
        async (c) =>
          (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`, [listens])).rows[0].n,
      )
      expect(left).toBe(0)
      await expect(queue.claim('w', SEL, 1, 1000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    })
  })
})
