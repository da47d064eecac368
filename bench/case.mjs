// Runs ONE benchmark case in this process and prints one JSON line.
//
//   node --expose-gc bench/case.mjs <framework> <workload> <n> [--min-runs k]
//
// framework: baseline | baseline-dag | flotilla | flotilla+sqlite | flotilla+postgres
//   flotilla+sqlite: a fresh SQLite file in a temp dir, deleted at the end;
//   flotilla+postgres: a fresh schema bench_<random> on BENCH_POSTGRES_URL
//   (default postgres://postgres@127.0.0.1:5432/test), dropped at the end. If
//   PostgreSQL is unreachable the JSON line has `error` and `unavailable: true`.
//   The CPU of the local `postgres` processes during the measured runs is
//   reported as `server_cores` and left out of `others_cores`.
//   Every flotilla* line has tasks_per_s = tasks x 1000 / median_ms.
// Environment (set by run.mjs --quick for smoke checks):
//   BENCH_BUDGET_MS   measured-run budget, default 20000
//   BENCH_WARMUP_MS   least warm-up time, default 1000
//   BENCH_MIN_RUNS    least measured runs, default 5 (at least 3; for N = 100000)
//   BENCH_FLOTILLA_ORCH  shared (default) | fresh, see flotilla.mjs
//   BENCH_POSTGRES_URL   the server of flotilla+postgres (without ?schema=)
//   FLOTILLA_BENCH_STORE the store of the in-memory `flotilla` case (default memory)
//   BENCH_GC=0        diagnostic only, NOT the protocol: no global.gc() before
//                     runs (shows the cost of re-optimising after each full GC)
//
// Protocol (WORKLOADS.md): build once (build_ms); warm-up >= 3 runs and
// >= BENCH_WARMUP_MS, at most 200 runs; then R = clamp(floor(budget / last
// warm-up ms), minRuns, 51) measured runs; global.gc() before every run,
// outside the timing; performance.now() around each run; every run verified.

import { readFileSync, readdirSync } from 'node:fs'
import { performance, PerformanceObserver } from 'node:perf_hooks'
import { tasksOf, reportedN, WORKLOADS } from './workloads.mjs'

const MiB = 1024 * 1024
const CLK_TCK = 100

function parseArgs(argv) {
  const pos = []
  const opt = {}
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--min-runs') opt.minRuns = Number(argv[++i])
    else pos.push(argv[i])
  }
  return { pos, opt }
}

/** Busy jiffies of the whole machine (all CPUs) from /proc/stat, or undefined. */
function machineBusyJiffies() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)
  } catch {
    return undefined
  }
}

/** utime + stime of this process in jiffies, from /proc/self/stat, or undefined. */
function selfJiffies() {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
    return Number(f[11]) + Number(f[12]) // fields 14 (utime) and 15 (stime)
  } catch {
    return undefined
  }
}

const FLOTILLA_FRAMEWORKS = ['flotilla', 'flotilla+sqlite', 'flotilla+postgres']

/** The implementation under test, for its `dispose()` (delete the case's store) on success and failure. */
let impl

/**
 * utime + stime, in jiffies, of every process named `postgres` on this
 * machine (the server and its backends), by pid; undefined without /proc.
 * The flotilla+postgres cases report that CPU as `server_cores` and leave it
 * out of `others_cores`, which would otherwise flag every such case as disturbed.
 */
function postgresJiffies() {
  try {
    const byPid = new Map()
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue
        const st = readFileSync(`/proc/${pid}/stat`, 'utf8')
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
        byPid.set(pid, Number(f[11]) + Number(f[12]))
      } catch {
        /* the process ended meanwhile */
      }
    }
    return byPid
  } catch {
    return undefined
  }
}

/** CPU jiffies the postgres processes used between two postgresJiffies() snapshots (new processes count from 0). */
function postgresDelta(a, b) {
  if (a === undefined || b === undefined) return undefined
  let sum = 0
  for (const [pid, j] of b) sum += j - (a.get(pid) ?? 0)
  return Math.max(0, sum)
}

const round = (x, d = 4) =>
  x === undefined || x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d

async function main() {
  const { pos, opt } = parseArgs(process.argv.slice(2))
  const [framework, workload, nText] = pos
  const n = Number(nText)
  if (!framework || !WORKLOADS.includes(workload) || !(n >= 1)) {
    throw new Error(
      'usage: node --expose-gc bench/case.mjs <baseline|baseline-dag|flotilla|flotilla+sqlite|flotilla+postgres> <workload> <n> [--min-runs k]',
    )
  }
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc')
  const budgetMs = Number(process.env.BENCH_BUDGET_MS || 20000)
  const warmupMs = Number(process.env.BENCH_WARMUP_MS || 1000)
  const minRuns = Math.max(3, Math.min(5, Number(opt.minRuns ?? process.env.BENCH_MIN_RUNS ?? 5)))

  const warnings = []
  process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`))
  const consoleWarn = console.warn
  console.warn = (...args) => {
    warnings.push(args.map(String).join(' '))
    consoleWarn(...args)
  }

  // Imports: only the implementation under test is loaded into this process.
  let build
  if (framework === 'baseline') build = (await import('./baseline.mjs')).buildBaseline
  else if (framework === 'baseline-dag') build = (await import('./baseline.mjs')).buildBaselineDag
  else if (FLOTILLA_FRAMEWORKS.includes(framework)) {
    const { buildFlotilla } = await import('./flotilla.mjs')
    build = (workload, n) => buildFlotilla(workload, n, { framework })
  } else throw new Error(`unknown framework ${framework}`)
  global.gc()
  const rssBase = process.memoryUsage().rss / MiB

  // 1. Build once.
  const b0 = performance.now()
  impl = await build(workload, n)
  const buildMs = performance.now() - b0

  const gcBeforeRuns = process.env.BENCH_GC !== '0'
  let windows // [start, end] of every measured run, to find the GC pauses inside the timing
  const once = async () => {
    if (gcBeforeRuns) global.gc()
    const t0 = performance.now()
    const result = await impl.run()
    const t1 = performance.now()
    const ms = t1 - t0
    windows?.push([t0, t1])
    impl.verify(result)
    if (impl.after) await impl.after()
    return ms
  }

  // 2. Warm-up.
  let warmup = 0
  let last = 0
  const w0 = performance.now()
  while (warmup < 200 && (warmup < 3 || performance.now() - w0 < warmupMs)) {
    last = await once()
    warmup++
  }

  // 3. Measured runs.
  const runs = Math.min(51, Math.max(minRuns, Math.floor(budgetMs / last)))
  const times = []
  windows = []
  const gcEntries = []
  const gcObserver = new PerformanceObserver((list) => gcEntries.push(...list.getEntries()))
  gcObserver.observe({ entryTypes: ['gc'] })
  const cpu0 = process.cpuUsage()
  const busy0 = machineBusyJiffies()
  const self0 = selfJiffies()
  const measureServer = framework === 'flotilla+postgres'
  const pg0 = measureServer ? postgresJiffies() : undefined
  const m0 = performance.now()
  for (let r = 0; r < runs; r++) times.push(await once())
  const wallMs = performance.now() - m0
  const busy1 = machineBusyJiffies()
  const self1 = selfJiffies()
  const pg1 = measureServer ? postgresJiffies() : undefined
  const cpu = process.cpuUsage(cpu0)

  await new Promise((r) => setTimeout(r, 20)) // let the GC observer deliver
  gcObserver.disconnect()
  const gcPerRun = windows.map(([a, b]) => {
    let sum = 0
    for (const e of gcEntries) if (e.startTime >= a && e.startTime < b) sum += e.duration
    return sum
  })

  const medianOf = (xs) => {
    const v = [...xs].sort((a, b) => a - b)
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  }
  const median = medianOf(times)
  times.sort((a, b) => a - b)
  const server = measureServer ? postgresDelta(pg0, pg1) : undefined
  const others =
    busy0 !== undefined && self0 !== undefined && busy1 !== undefined && self1 !== undefined
      ? Math.max(0, busy1 - busy0 - (self1 - self0) - (server ?? 0)) / CLK_TCK / (wallMs / 1000)
      : undefined
  let notes = impl.notes
  if (warnings.length > 0) notes += `; warnings: ${[...new Set(warnings)].join(' | ')}`
  if (!gcBeforeRuns) notes += '; DIAGNOSTIC, NOT THE PROTOCOL: no global.gc() before runs (BENCH_GC=0)'
  if (budgetMs !== 20000 || warmupMs !== 1000)
    notes += `; shortened protocol (budget ${budgetMs} ms, warm-up ${warmupMs} ms)`

  const line = {
    framework,
    workload,
    n: reportedN(workload, n),
    tasks: tasksOf(workload, n),
    median_ms: round(median),
    min_ms: round(times[0]),
    max_ms: round(times[times.length - 1]),
    ...(FLOTILLA_FRAMEWORKS.includes(framework)
      ? { tasks_per_s: round((tasksOf(workload, n) * 1000) / median, 1) }
      : {}),
    rss_mb: round(process.resourceUsage().maxRSS / 1024, 1),
    rss_base_mb: round(rssBase, 1),
    build_ms: round(buildMs, 3),
    runs,
    warmup,
    cpu_per_wall: round((cpu.user + cpu.system) / 1000 / wallMs, 3),
    others_cores: round(others, 3),
    ...(measureServer
      ? { server_cores: round(server === undefined ? undefined : server / CLK_TCK / (wallMs / 1000), 3) }
      : {}),
    gc_in_runs_ms: round(medianOf(gcPerRun), 3),
    notes,
  }
  try {
    await disposeImpl()
  } catch (e) {
    line.notes += `; cleanup after the runs failed: ${e?.message ?? e}`
  }
  process.stdout.write(JSON.stringify(line) + '\n')
}

/** Closes the implementation and deletes its store (once). */
async function disposeImpl() {
  const d = impl?.dispose
  impl = undefined
  if (d) await d()
}

main().catch(async (e) => {
  const [framework, workload, n] = process.argv.slice(2)
  // A PostgreSQL server (or pg package) that is not there is reported, not a failure of the engine.
  const unavailable = e?.constructor?.name === 'StoreUnavailable'
  let error = unavailable ? e.message : String(e?.stack ?? e)
  try {
    await disposeImpl()
  } catch (d) {
    error += `; cleanup failed too: ${d?.message ?? d}`
  }
  process.stdout.write(
    JSON.stringify({ framework, workload, n: Number(n), error, ...(unavailable ? { unavailable: true } : {}) }) + '\n',
  )
  process.exitCode = 1
  setTimeout(() => process.exit(1), 10000).unref() // in case an open connection keeps the process alive
})
