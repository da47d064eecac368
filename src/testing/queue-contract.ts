import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../core/fake-clock.js'
import { asTaskId, newRunId, type RunId, type TaskId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { QueueOffer, QueueSelector, TaskQueue } from '../store/queue.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { queueWaitingContract } from './queue-waiting-contract.js'

/** How the queue contract gets a fresh store (and, for races, a second connection to the same one). */
export interface QueueContractInit {
  name: string
  create(): Promise<Store>
  destroy?(store: Store): Promise<void>
  /** A second store on the same database (another connection or process-like handle). */
  openPeer?(store: Store): Promise<Store>
}

const T0 = Date.UTC(2026, 0, 1)
const tid = (t: string): TaskId => asTaskId(t)
const ALL: QueueSelector[] = [
  { agent: 'worker', versions: ['1.0.0'] },
  { capability: 'search', agent: 'finder' },
]

function runRecord(id: RunId, state: RunState): RunRecord {
  return {
    id,
    workflow: 'wf',
    workflowHash: 'h'.repeat(64),
    definition: { name: 'wf', tasks: [] },
    input: null,
    state,
    createdAt: T0,
    startedAt: T0,
    finishedAt: undefined,
    error: undefined,
    parentRunId: undefined,
  }
}

function taskRecord(runId: RunId, taskId: string): TaskRecord {
  return {
    runId,
    taskId: tid(taskId),
    state: 'PENDING',
    attempt: 0,
    agent: undefined,
    priority: 'MEDIUM',
    idempotencyKey: `${runId}:${taskId}`,
    startedAt: undefined,
    finishedAt: undefined,
    output: undefined,
    error: undefined,
  }
}

function offer(runId: RunId, taskId: string, extra: Partial<QueueOffer> = {}): QueueOffer {
  return {
    runId,
    taskId: tid(taskId),
    attempt: 1,
    agent: 'worker',
    version: '1.0.0',
    capability: undefined,
    priority: 2,
    rank: 0,
    notBefore: 0,
    ...extra,
  }
}

/** The TaskQueue contract: every adapter passes it unchanged (with `waiting`, see `queue-waiting-contract.ts`). */
export function queueContract(init: QueueContractInit): void {
  describe(`TaskQueue contract: ${init.name}`, () => {
    let store: Store
    let queue: TaskQueue
    let clock: FakeClock

    beforeEach(async () => {
      store = await init.create()
      clock = new FakeClock(0, T0)
      queue = store.queue!(clock)
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(store)
      else await store.close()
    })

    async function seed(taskIds: readonly string[] = ['a', 'b', 'c'], state: RunState = 'RUNNING'): Promise<RunId> {
      const id = newRunId()
      await store.commit({
        ops: [{ op: 'run.create', run: runRecord(id, state), tasks: taskIds.map((t) => taskRecord(id, t)) }],
        events: [],
      })
      return id
    }

    it('offers attempts (the task becomes READY), claims them in priority, rank and offer order, and starts the task under a lease', async () => {
      const id = await seed()
      await queue.offer([
        offer(id, 'a', { priority: 3 }),
        offer(id, 'b', { priority: 0 }),
        offer(id, 'c', { priority: 0, rank: 5 }),
      ])
      expect((await store.getTask(id, tid('a')))?.state).toBe('READY')
      const claims = await queue.claim('w1', ALL, 10, 1000)
      expect(claims.map((c) => c.taskId)).toEqual(['c', 'b', 'a'])
      expect(claims[0]).toMatchObject({ attempt: 1, worker: 'w1', leaseUntil: T0 + 1000, idempotencyKey: `${id}:c` })
      expect(await store.getTask(id, tid('c'))).toMatchObject({
        state: 'RUNNING',
        attempt: 1,
        agent: 'worker@1.0.0',
        startedAt: T0,
      })
      expect(await queue.claim('w2', ALL, 10, 1000)).toEqual([])
    })

    it('is idempotent per task: a second offer of a task already queued is ignored', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a')])
      await queue.offer([offer(id, 'a', { priority: 0 })])
      expect(await queue.claim('w1', ALL, 10, 1000)).toHaveLength(1)
    })

    it('respects the not-before time (stored retry backoff) and max', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a', { notBefore: T0 + 500 }), offer(id, 'b'), offer(id, 'c')])
      expect((await queue.claim('w1', ALL, 1, 1000)).map((c) => c.taskId)).toEqual(['b'])
      expect((await queue.claim('w1', ALL, 5, 1000)).map((c) => c.taskId)).toEqual(['c'])
      await clock.advance(500)
      expect((await queue.claim('w1', ALL, 5, 1000)).map((c) => c.taskId)).toEqual(['a'])
    })

    it('claims only what the selectors match: agent name, exact version, capability', async () => {
      const id = await seed(['a', 'b', 'c', 'd'])
      await queue.offer([
        offer(id, 'a', { agent: 'other' }),
        offer(id, 'b', { version: '2.0.0' }),
        offer(id, 'c', { agent: undefined, version: undefined, capability: 'search' }),
        offer(id, 'd', { version: undefined }),
      ])
      const claims = await queue.claim('w1', ALL, 10, 1000)
      expect(claims.map((c) => c.taskId).sort()).toEqual(['c', 'd'])
      expect((await store.getTask(id, tid('c')))?.agent).toBe('finder')
      expect((await queue.claim('w2', [{ agent: 'other' }], 10, 1000)).map((c) => c.taskId)).toEqual(['a'])
      expect(await queue.claim('w2', [], 10, 1000)).toEqual([])
    })

    it('claims nothing of a PAUSED or CANCELLED run, and resumes with the run', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a')])
      await store.commit({ ops: [{ op: 'run.state', runId: id, state: 'PAUSED', at: T0 }], events: [] })
      expect(await queue.claim('w1', ALL, 10, 1000)).toEqual([])
      await store.commit({ ops: [{ op: 'run.state', runId: id, state: 'RUNNING', at: T0 }], events: [] })
      expect(await queue.claim('w1', ALL, 10, 1000)).toHaveLength(1)
    })

    it('stores a result fenced by attempt and lease; the coordinator holding the run takes it once', async () => {
      const id = await seed()
      await queue.claimRuns('coord', 10, 5000)
      await queue.offer([offer(id, 'a'), offer(id, 'b')])
      const [a, b] = await queue.claim('w1', ALL, 10, 1000)
      await expect(queue.complete('w2', a, { ok: true, output: 1 })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { reason: 'lease-lost' },
      })
      await queue.complete('w1', a, { ok: true, output: { n: 1 } }, [
        { type: 'task.succeeded', at: T0, runId: id, taskId: a.taskId, attempt: 1, durationMs: 3 },
      ])
      await queue.complete('w1', b, {
        ok: false,
        error: { code: 'TASK_FAILED', message: 'no', details: {}, retryable: true },
      })
      await expect(queue.complete('w1', a, { ok: true, output: 2 })).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      expect(await store.getTask(id, a.taskId)).toMatchObject({ state: 'SUCCEEDED', output: { n: 1 } })
      expect(await store.getTask(id, b.taskId)).toMatchObject({ state: 'RETRYING', error: { code: 'TASK_FAILED' } })
      expect((await store.listEvents(id)).map((e) => e.event.type)).toEqual(['task.succeeded'])
      expect(await queue.takeResults('someone-else', 10)).toEqual([])
      const done = await queue.takeResults('coord', 10)
      expect(done.map((d) => [d.taskId, d.ok]).sort()).toEqual([
        ['a', true],
        ['b', false],
      ])
      expect(await queue.takeResults('coord', 10)).toEqual([])
    })

    it('re-offers an attempt whose lease ran out with attempt + 1 and the same idempotency key; the late result is refused', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a')])
      const [first] = await queue.claim('dead', ALL, 1, 1000)
      await clock.advance(999)
      expect(await queue.claim('w2', ALL, 1, 1000)).toEqual([])
      await clock.advance(2)
      const [second] = await queue.claim('w2', ALL, 1, 1000)
      expect(second).toMatchObject({ attempt: 2, idempotencyKey: first.idempotencyKey, worker: 'w2' })
      await expect(queue.complete('dead', first, { ok: true, output: 'late' })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await queue.complete('w2', second, { ok: true, output: 'fresh' })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', attempt: 2, output: 'fresh' })
    })

    it('heartbeats extend leases, and report lost and cancelled claims', async () => {
      const id = await seed()
      const other = await seed()
      await queue.offer([offer(id, 'a'), offer(other, 'a')])
      const [mine, theirs] = await queue.claim('w1', ALL, 2, 1000)
      await clock.advance(900)
      let report = await queue.heartbeat('w1', [mine, theirs], 1000)
      expect(report).toEqual({ lost: [], cancelled: [] })
      await clock.advance(900)
      expect(await queue.claim('w2', ALL, 5, 1000)).toEqual([])
      await store.commit({ ops: [{ op: 'run.state', runId: theirs.runId, state: 'CANCELLED', at: T0 }], events: [] })
      await clock.advance(2000)
      const [stolen] = await queue.claim('w2', ALL, 5, 1000)
      expect(stolen.runId).toBe(mine.runId)
      report = await queue.heartbeat('w1', [mine, theirs], 1000)
      expect(report.lost.map((c) => c.runId)).toEqual([mine.runId])
      expect(report.cancelled.map((c) => c.runId)).toEqual([theirs.runId])
    })

    it('refuses a result of a cancelled run, keeping the store as it was', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a')])
      const [a] = await queue.claim('w1', ALL, 1, 1000)
      await store.commit({ ops: [{ op: 'run.state', runId: id, state: 'CANCELLED', at: T0 }], events: [] })
      await expect(queue.complete('w1', a, { ok: true, output: 1 })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { runState: 'CANCELLED' },
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', output: undefined })
    })

    it('release gives an unrun claim back with the same attempt', async () => {
      const id = await seed()
      await queue.offer([offer(id, 'a')])
      const [a] = await queue.claim('w1', ALL, 1, 1000)
      await queue.release('w1', [a])
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'READY', attempt: 0 })
      const [again] = await queue.claim('w2', ALL, 1, 1000)
      expect(again.attempt).toBe(1)
    })

    it('leases runs: unheld unfinished runs are claimed once, renewed by their holder, taken over after the lease, released', async () => {
      const a = await seed()
      const b = await seed(['x'], 'PAUSED')
      await seed(['y'], 'SUCCEEDED')
      const held = await queue.claimRuns('c1', 10, 1000)
      expect(held.map((r) => r.runId).sort()).toEqual([a, b].sort())
      expect(held.find((r) => r.runId === b)?.state).toBe('PAUSED')
      expect(await queue.claimRuns('c2', 10, 1000)).toEqual([])
      expect(await queue.runHolder(a)).toEqual({ holder: 'c1', leaseUntil: T0 + 1000 })
      await clock.advance(800)
      expect((await queue.renewRuns('c1', [a], 1000)).map((r) => r.runId)).toEqual([a])
      await clock.advance(800)
      expect((await queue.claimRuns('c2', 10, 1000)).map((r) => r.runId)).toEqual([b])
      expect(await queue.renewRuns('c1', [a, b], 1000)).toEqual([{ runId: a, state: 'RUNNING' }])
      await queue.releaseRuns('c1', [a])
      expect((await queue.claimRuns('c2', 10, 1000)).map((r) => r.runId)).toEqual([a])
      await expect(queue.runHolder(newRunId())).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
    })

    it('claims only the runs named when asked, and wakes waiters on notify', async () => {
      const a = await seed()
      const b = await seed()
      expect(await queue.claimRuns('c1', 10, 1000, [])).toEqual([])
      expect((await queue.claimRuns('c1', 10, 1000, [b])).map((r) => r.runId)).toEqual([b])
      expect((await queue.claimRuns('c2', 10, 1000)).map((r) => r.runId)).toEqual([a])
      const woke = queue.wait(60_000)
      await queue.notify()
      await woke
    })

    it('a run created with a holder is not claimable until its lease ends', async () => {
      const id = newRunId()
      await store.commit({
        ops: [
          {
            op: 'run.create',
            run: runRecord(id, 'RUNNING'),
            tasks: [taskRecord(id, 'a')],
            holder: 'embedded',
            leaseUntil: T0 + 1000,
          },
        ],
        events: [],
      })
      expect(await queue.claimRuns('c1', 10, 1000)).toEqual([])
      await clock.advance(1001)
      expect(await queue.claimRuns('c1', 10, 1000)).toEqual([{ runId: id, state: 'RUNNING' }])
    })

    it('keeps a worker catalog with heartbeats', async () => {
      const w = {
        id: 'w1',
        agents: [{ name: 'worker', version: '1.0.0', capabilities: ['x'] }],
        host: 'h',
        pid: 1,
        concurrency: 4,
        startedAt: T0,
        heartbeatAt: T0,
      }
      await queue.advertise(w)
      await queue.advertise({ ...w, id: 'w2', heartbeatAt: T0 - 10_000 })
      expect((await queue.listWorkers(T0 - 5000)).map((x) => x.id)).toEqual(['w1'])
      await queue.retire('w1')
      expect(await queue.listWorkers(0)).toHaveLength(1)
    })

    it("tells the store's own time, or undefined when the store shares this host's clock", async () => {
      const before = Date.now()
      const t = await queue.storeTime()
      if (t !== undefined) expect(Math.abs(t - (before + Date.now()) / 2)).toBeLessThan(5000)
    })

    it('refuses a claim without a worker, with max < 1 or a lease under 100 ms (VALIDATION_FAILED)', async () => {
      await expect(queue.claim('', ALL, 1, 1000)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      await expect(queue.claim('w', ALL, 0, 1000)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      await expect(queue.claim('w', ALL, 1, 10)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    })

    it('wakes a waiter when something is offered, else after the timeout', async () => {
      const id = await seed()
      const woke = queue.wait(60_000)
      await queue.offer([offer(id, 'a')])
      await woke
      const t = Date.now()
      await queue.wait(20)
      expect(Date.now() - t).toBeLessThan(5000)
    })

    if (init.openPeer !== undefined) {
      it('two workers on one store race for the same attempts: each attempt is claimed exactly once', async () => {
        const peer = await init.openPeer!(store)
        try {
          const other = peer.queue!(clock)
          const ids: RunId[] = []
          for (let r = 0; r < 5; r++) ids.push(await seed(Array.from({ length: 20 }, (_, i) => `t${i}`)))
          await queue.offer(ids.flatMap((id) => Array.from({ length: 20 }, (_, i) => offer(id, `t${i}`))))
          const taken: string[] = []
          const grab = async (q: TaskQueue, w: string): Promise<void> => {
            for (;;) {
              const claims = await q.claim(w, ALL, 7, 1000)
              if (claims.length === 0) return
              for (const c of claims) {
                taken.push(`${c.runId}/${c.taskId}/${c.attempt}`)
                await q.complete(w, c, { ok: true, output: w })
              }
            }
          }
          await Promise.all([grab(queue, 'w1'), grab(other, 'w2'), grab(queue, 'w3'), grab(other, 'w4')])
          expect(taken).toHaveLength(100)
          expect(new Set(taken).size).toBe(100)
          for (const id of ids)
            for (const t of await store.getTasks(id)) expect(t).toMatchObject({ state: 'SUCCEEDED', attempt: 1 })
        } finally {
          await peer.close()
        }
      })
    }
  })
  queueWaitingContract(init)
}
