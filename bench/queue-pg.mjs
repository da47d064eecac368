// PostgreSQL task-queue throughput. Run after `npx tsc -p tsconfig.build.json`:
//   node bench/queue-pg.mjs [--tasks 3000] [--raw-claims 20000] [--repeat 3]
// (1) the raw claim rate of a bare `SELECT … FOR UPDATE SKIP LOCKED` loop on a simple table, batch 1 and 50;
// (2) PostgresQueue offer + claim + complete throughput with 1, 2 and 4 concurrent claimers (one process,
//     a store and pool each), at claim batch sizes 1 and 50. Each figure is the median of --repeat runs.
// URL: FLOTILLA_BENCH_POSTGRES_URL, else FLOTILLA_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { PostgresStore } from '../dist/postgres.js'
import { asTaskId, newRunId } from '../dist/core/ids.js'

const URL =
  process.env.FLOTILLA_BENCH_POSTGRES_URL ??
  process.env.FLOTILLA_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/test'
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? dflt : Number(process.argv[i + 1])
}
const TASKS = arg('tasks', 3000)
const RAW = arg('raw-claims', 20000)
const REPEAT = arg('repeat', 3)
const TASKS_PER_RUN = 100
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const schemaName = () => `flotilla_bench_${randomBytes(5).toString('hex')}`

async function withClient(fn) {
  const c = new pg.Client({ connectionString: URL })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** Claims/s of a bare SKIP LOCKED claim loop (one connection, autocommit, one statement per claim). */
async function rawClaimRate(batch) {
  const s = schemaName()
  return withClient(async (c) => {
    await c.query(
      `CREATE SCHEMA ${s}; CREATE TABLE ${s}.jobs (id bigserial PRIMARY KEY, priority int NOT NULL, state text NOT NULL, worker text)`,
    )
    await c.query(`CREATE INDEX jobs_ready ON ${s}.jobs (priority, id) WHERE state = 'READY'`)
    await c.query(`INSERT INTO ${s}.jobs (priority, state) SELECT g % 4, 'READY' FROM generate_series(1, $1) g`, [RAW])
    await c.query(`VACUUM ANALYZE ${s}.jobs`)
    const claim = {
      name: `raw_claim_${s}`,
      text: `WITH c AS (SELECT id FROM ${s}.jobs WHERE state = 'READY' ORDER BY priority, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        UPDATE ${s}.jobs j SET state = 'CLAIMED', worker = $2 FROM c WHERE j.id = c.id RETURNING j.id`,
    }
    let n = 0
    const t0 = performance.now()
    for (;;) {
      const r = await c.query({ ...claim, values: [batch, 'w1'] })
      if (r.rowCount === 0) break
      n += r.rowCount
    }
    const s1 = (performance.now() - t0) / 1000
    await c.query(`DROP SCHEMA ${s} CASCADE`)
    return n / s1
  })
}

const T0 = Date.now()

/** Offers TASKS attempts, then `claimers` stores claim `batch` at a time and complete each claim (a batch's completes run concurrently). */
async function queueThroughput(claimers, batch) {
  const schema = schemaName()
  const coord = await PostgresStore.connect(URL, { schema, poolSize: 4 })
  const stores = []
  try {
    for (let i = 0; i < claimers; i++) stores.push(await PostgresStore.connect(URL, { schema, poolSize: 4 }))
    const runs = []
    for (let r = 0; r < Math.ceil(TASKS / TASKS_PER_RUN); r++) {
      const id = newRunId()
      const n = Math.min(TASKS_PER_RUN, TASKS - r * TASKS_PER_RUN)
      const taskIds = Array.from({ length: n }, (_, i) => `t${i}`)
      const run = {
        id,
        workflow: 'wf',
        workflowHash: 'h'.repeat(64),
        definition: { name: 'wf' },
        input: null,
        state: 'RUNNING',
        createdAt: T0,
        startedAt: T0,
      }
      const tasks = taskIds.map((t) => ({
        runId: id,
        taskId: asTaskId(t),
        state: 'PENDING',
        attempt: 0,
        priority: 'MEDIUM',
        idempotencyKey: `${id}:${t}`,
      }))
      await coord.commit({ ops: [{ op: 'run.create', run, tasks }], events: [] })
      runs.push({ id, taskIds })
    }
    const q = coord.queue()
    const t0 = performance.now()
    for (const { id, taskIds } of runs) {
      await q.offer(
        taskIds.map((t) => ({
          runId: id,
          taskId: asTaskId(t),
          attempt: 1,
          agent: 'worker',
          version: undefined,
          capability: undefined,
          priority: 2,
          rank: 0,
          notBefore: 0,
        })),
      )
    }
    const t1 = performance.now()
    const sel = [{ agent: 'worker', versions: ['1.0.0'] }]
    let done = 0
    await Promise.all(
      stores.map(async (store, i) => {
        const queue = store.queue()
        const w = `w${i}`
        for (;;) {
          const claims = await queue.claim(w, sel, batch, 30_000)
          if (claims.length === 0) return
          await Promise.all(
            claims.map((c) =>
              queue.complete(w, c, { ok: true, output: { w } }, [
                {
                  type: 'task.succeeded',
                  at: Date.now(),
                  runId: c.runId,
                  taskId: c.taskId,
                  attempt: c.attempt,
                  durationMs: 0,
                },
              ]),
            ),
          )
          done += claims.length
        }
      }),
    )
    const t2 = performance.now()
    if (done !== TASKS) throw new Error(`completed ${done} of ${TASKS}`)
    return {
      offer: TASKS / ((t1 - t0) / 1000),
      claimComplete: TASKS / ((t2 - t1) / 1000),
      total: TASKS / ((t2 - t0) / 1000),
    }
  } finally {
    for (const s of stores) await s.close()
    await coord.close()
    await withClient((c) => c.query(`DROP SCHEMA ${schema} CASCADE`))
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US').padStart(9)
const settings = await withClient(
  async (c) =>
    (await c.query(`SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc`))
      .rows[0],
)
console.log(`PostgreSQL ${settings.v}, synchronous_commit=${settings.sc}; medians of ${REPEAT} runs`)
console.log(`\n(1) raw SELECT … FOR UPDATE SKIP LOCKED claim loop (${RAW} rows, one connection)`)
console.log('batch   claims/s')
for (const batch of [1, 50]) {
  const xs = []
  for (let i = 0; i < REPEAT; i++) xs.push(await rawClaimRate(batch))
  console.log(`${String(batch).padStart(5)} ${fmt(median(xs))}`)
}
console.log(
  `\n(2) PostgresQueue, ${TASKS} tasks: offer (batches of ${TASKS_PER_RUN}) then claim + complete (1 event each)`,
)
console.log('claimers batch  offer/s  claim+complete/s  end-to-end tasks/s')
for (const batch of [1, 50]) {
  for (const claimers of [1, 2, 4]) {
    const rs = []
    for (let i = 0; i < REPEAT; i++) rs.push(await queueThroughput(claimers, batch))
    console.log(
      `${String(claimers).padStart(8)} ${String(batch).padStart(5)} ${fmt(median(rs.map((r) => r.offer)))} ${fmt(median(rs.map((r) => r.claimComplete))).padStart(17)} ${fmt(median(rs.map((r) => r.total))).padStart(19)}`,
    )
  }
}
