// W4 through the PostgreSQL task queue with real `flotilla worker` processes.
// Run after `npm run build`:
//   node bench/workers-pg.mjs [--runs 1000] [--workers 1,2,4] [--sleep 0,20] [--slots 50] [--repeat 3] [--scaling]
// Each case: a fresh schema; N worker processes (`--concurrency <slots>`) on it;
// a Client first submits --runs W4 runs (a chain of 5 tasks each), then the
// workers start together; the figure is tasks per second from the moment the
// first worker is ready to the last run stored SUCCEEDED, the median of
// --repeat rounds. Sleep 0 is a no-op task; 20 is a task that waits like a
// model call. --scaling gives the agent `scaling` (it stays at one instance):
// the cost of the worker's auto-scaling checks.
// URL: FLOTILLA_BENCH_POSTGRES_URL, else FLOTILLA_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Client, openStoreAsync } from '../dist/index.js'

const URL =
  process.env.FLOTILLA_BENCH_POSTGRES_URL ??
  process.env.FLOTILLA_TEST_POSTGRES_URL ??
  'postgres://postgres@127.0.0.1:5432/test'
const CLI = new globalThis.URL('../dist/cli/main.js', import.meta.url).pathname
const AGENTS = new globalThis.URL('./workers-agents.mjs', import.meta.url).pathname
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? dflt : process.argv[i + 1]
}
const RUNS = Number(arg('runs', '1000'))
const WORKERS = arg('workers', '1,2,4').split(',').map(Number)
const SLEEPS = arg('sleep', '0,20').split(',').map(Number)
const SLOTS = Number(arg('slots', '50'))
const REPEAT = Number(arg('repeat', '3'))
const SCALING = process.argv.includes('--scaling')
const STEPS = 5
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function w4(seed) {
  const tasks = [{ id: 't0', agent: 'step', input: { seed } }]
  for (let k = 1; k < STEPS; k++)
    tasks.push({ id: `t${k}`, agent: 'step', input: { xs: [{ $ref: `tasks.t${k - 1}.output.v` }], seed: 1 } })
  return { name: 'w4-bench', tasks }
}

function startWorker(url, id, sleepMs) {
  const child = spawn(
    process.execPath,
    [CLI, 'worker', '--store', url, '--agents', AGENTS, '--id', id, '--concurrency', String(SLOTS)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FLOTILLA_BENCH_SLEEP_MS: String(sleepMs), FLOTILLA_BENCH_SCALING: SCALING ? '1' : '0' },
    },
  )
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d.toString()
      if (out.includes(' ready on ')) resolve(child)
    })
    child.stderr.on('data', (d) => {
      out += d.toString()
      if (process.env.FLOTILLA_BENCH_DEBUG) process.stderr.write(d)
    })
    child.on('exit', (code) => reject(new Error(`worker ${id} exited (${code}): ${out}`)))
  })
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.on('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

async function dropSchema(schema) {
  const c = new pg.Client({ connectionString: URL })
  await c.connect()
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await c.end()
}

async function round(workers, sleepMs) {
  const schema = `flotilla_wbench_${randomBytes(5).toString('hex')}`
  const url = `${URL}${URL.includes('?') ? '&' : '?'}schema=${schema}`
  const store = await openStoreAsync(url)
  const client = await Client.connect(store)
  const children = []
  try {
    // Submit every run first (16 at a time), then start the workers together: the clock starts when the first is ready.
    const s0 = performance.now()
    for (let k = 0; k < RUNS; k += 16)
      await Promise.all(Array.from({ length: Math.min(16, RUNS - k) }, (_, j) => client.start(w4(k + j))))
    const submitMs = performance.now() - s0
    let t0
    const ready = Array.from({ length: workers }, (_, k) =>
      startWorker(url, `bench-w${k}`, sleepMs).then((child) => {
        t0 ??= performance.now()
        children.push(child)
      }),
    )
    await Promise.all(ready)
    for (;;) {
      const open = await store.listRuns({ state: ['PENDING', 'RUNNING'], limit: 1 })
      if (open.length === 0) break
      await new Promise((r) => setTimeout(r, 10))
    }
    const ms = performance.now() - t0
    const failed = await store.listRuns({ state: ['FAILED', 'CANCELLED'], limit: 1 })
    if (failed.length > 0)
      throw new Error(`run ${failed[0].id} ended ${failed[0].state}: ${JSON.stringify(failed[0].error)}`)
    return { tasksPerSec: (RUNS * STEPS) / (ms / 1000), submitMs }
  } finally {
    await Promise.all(children.map(stop))
    await client.close()
    await store.close()
    await dropSchema(schema)
  }
}

console.log(
  `W4 through the PostgreSQL queue: ${RUNS} runs × ${STEPS} tasks, ${SLOTS} slots per worker, median of ${REPEAT}${SCALING ? ', agent with scaling' : ''}`,
)
console.log('| task | workers | tasks/s | × one worker | submit ms |')
console.log('|---|---:|---:|---:|---:|')
for (const sleepMs of SLEEPS) {
  let one
  for (const n of WORKERS) {
    const rounds = []
    for (let r = 0; r < REPEAT; r++) rounds.push(await round(n, sleepMs))
    const rate = median(rounds.map((x) => x.tasksPerSec))
    one ??= rate
    const label = sleepMs === 0 ? 'no-op' : `sleep ${sleepMs} ms`
    console.log(
      `| ${label} | ${n} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / one).toFixed(2)} | ${Math.round(median(rounds.map((x) => x.submitMs)))} |`,
    )
  }
}
