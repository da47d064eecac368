// Runs the benchmark cases of /work/shared/WORKLOADS.md one after another,
// each in its own `node --expose-gc bench/case.mjs ...` process, never in
// parallel, and prints one JSON line per case on stdout (with us_per_task
// against the `baseline` case of the same workload and n of this session).
// The durable cases flotilla+sqlite and flotilla+postgres (W1/W2 at n = 1000,
// W4) follow the in-memory flotilla case of their workload; a PostgreSQL that
// is not reachable gives a line with `error` and `unavailable: true`, which
// does not make the session fail.
//
//   node bench/run.mjs [--quick] [--only <substring>] [--out <file>]
//
// --quick         n <= 1000 only, 3 s budget and 300 ms warm-up per case (smoke check)
// --only <text>   only cases whose "framework workload n" contains <text>; the
//                 baseline of each selected workload/n is run too, for us_per_task
// --out <file>    also write the JSON lines to <file>
// --retries <k>   re-run a case up to k times (after a 5 s pause) while other
//                 processes used > 0.3 core during its measured runs; the least
//                 disturbed attempt is kept (default 2; 0 with --quick)

import { spawn, execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const root = fileURLToPath(new URL('..', import.meta.url))

function parseArgs(argv) {
  const o = { quick: false, only: undefined, out: undefined, retries: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') o.quick = true
    else if (a === '--only') o.only = argv[++i]
    else if (a === '--out') o.out = argv[++i]
    else if (a === '--retries') o.retries = Number(argv[++i])
    else if (a === '--help' || a === '-h') {
      process.stderr.write('usage: node bench/run.mjs [--quick] [--only <substring>] [--out <file>]\n')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  return o
}

/**
 * The cases, in order: per workload and n, baseline first, then baseline-dag
 * (W1-W3), then flotilla (in-memory store), then the durable flotilla+sqlite
 * and flotilla+postgres (W1 and W2 at N = 1000, W4).
 */
function allCases() {
  const cases = []
  const group = (workload, n, { dag = false, durable = false } = {}) => {
    cases.push({ framework: 'baseline', workload, n })
    if (dag) cases.push({ framework: 'baseline-dag', workload, n })
    cases.push({ framework: 'flotilla', workload, n })
    if (durable)
      for (const framework of ['flotilla+sqlite', 'flotilla+postgres']) cases.push({ framework, workload, n })
  }
  for (const n of [100, 1000]) group('W1-fanout', n, { dag: true, durable: n === 1000 })
  for (const n of [100, 1000]) group('W2-chain', n, { dag: true, durable: n === 1000 })
  group('W3-layered-dense', 1000, { dag: true })
  group('W3-layered-sparse3', 1000, { dag: true })
  group('W4-many-small', 1000, { durable: true })
  // Growth: baseline and flotilla only.
  for (const workload of ['W1-fanout', 'W2-chain']) for (const n of [10000, 100000]) group(workload, n)
  return cases
}

const label = (c) => `${c.framework} ${c.workload} ${c.n}`
const key = (c) => `${c.workload}/${c.n}`

function header() {
  let cpu = 'unknown'
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu
  } catch {
    cpu = os.cpus()[0]?.model ?? cpu
  }
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    if (dirty) commit += ' (src modified)'
  } catch {
    /* not a git checkout */
  }
  return `# flotilla bench: node ${process.version}, ${cpu}, ${os.cpus().length} cores, flotilla ${version} @ ${commit}, ${new Date().toISOString()}`
}

function runCase(c, env) {
  return new Promise((resolve) => {
    const args = ['--expose-gc', `${here}case.mjs`, c.framework, c.workload, String(c.n)]
    if (c.n >= 100000) args.push('--min-runs', '3')
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => (out += d))
    child.on('close', (code, signal) => {
      const lines = out.trim().split('\n').filter(Boolean)
      let line
      try {
        line = JSON.parse(lines[lines.length - 1])
      } catch {
        line = {
          framework: c.framework,
          workload: c.workload,
          n: c.n,
          error: `no JSON from case (exit ${code ?? signal}): ${out.slice(-500)}`,
        }
      }
      if (code !== 0 && !line.error) line.error = `exit ${code ?? signal}`
      resolve(line)
    })
  })
}

/** Puts us_per_task right after max_ms. */
function withUsPerTask(line, baselineMedian) {
  if (line.error) return line
  const us =
    baselineMedian === undefined
      ? null
      : Math.round((((line.median_ms - baselineMedian) * 1000) / line.tasks) * 1000) / 1000
  const out = {}
  for (const [k, v] of Object.entries(line)) {
    out[k] = v
    if (k === 'max_ms') out.us_per_task = us
  }
  return out
}

function table(lines) {
  const rows = [['framework', 'workload', 'n', 'tasks', 'median_ms', 'us/task', 'tasks/s', 'runs', 'rss_mb', 'others']]
  for (const l of lines) {
    if (l.error) {
      rows.push([l.framework, l.workload, String(l.n), '', l.unavailable ? 'UNAVAILABLE' : 'ERROR', '', '', '', '', ''])
      continue
    }
    rows.push([
      l.framework,
      l.workload,
      String(l.n),
      String(l.tasks),
      l.median_ms.toFixed(3),
      l.us_per_task === null ? '' : l.us_per_task.toFixed(3),
      l.tasks_per_s === undefined ? '' : String(Math.round(l.tasks_per_s)),
      String(l.runs),
      String(l.rss_mb),
      (l.others_cores ?? 0).toFixed(2) + ((l.others_cores ?? 0) > 0.3 ? ' *' : ''),
    ])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const fmt = (r) => r.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  let s = fmt(rows[0]) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n'
  for (const r of rows.slice(1)) s += fmt(r) + '\n'
  if (lines.some((l) => (l.others_cores ?? 0) > 0.3))
    s += '* other processes used > 0.3 core during the measured runs: re-run that case\n'
  return s
}

async function main() {
  const o = parseArgs(process.argv.slice(2))
  let cases = allCases()
  if (o.quick) cases = cases.filter((c) => c.n <= 1000)
  if (o.only !== undefined) {
    const picked = new Set(cases.filter((c) => label(c).includes(o.only)).map(key))
    const chosen = new Set(cases.filter((c) => label(c).includes(o.only)).map(label))
    cases = cases.filter((c) => chosen.has(label(c)) || (c.framework === 'baseline' && picked.has(key(c))))
  }
  const env = { ...process.env }
  if (o.quick) {
    env.BENCH_BUDGET_MS ??= '3000'
    env.BENCH_WARMUP_MS ??= '300'
  }
  process.stderr.write(header() + (o.quick ? ' [quick]' : '') + '\n')
  process.stderr.write(`# ${cases.length} cases, one process each, one after another\n`)
  if (o.out) writeFileSync(o.out, '')

  const retries = o.retries ?? (o.quick ? 0 : 2)
  const NOISY = 0.3
  const baselines = new Map()
  const lines = []
  for (const c of cases) {
    const t0 = Date.now()
    process.stderr.write(`# ${label(c)} ... `)
    let raw = await runCase(c, env)
    const seen = [raw.others_cores]
    for (let a = 0; a < retries && !raw.error && raw.others_cores > NOISY; a++) {
      process.stderr.write(`others_cores ${seen[seen.length - 1]}, re-running ... `)
      await new Promise((r) => setTimeout(r, 5000))
      const again = await runCase(c, env)
      seen.push(again.others_cores)
      if (!again.error && again.others_cores < raw.others_cores) raw = again
    }
    if (seen.length > 1 && !raw.error)
      raw.notes += `; ${seen.length} attempts (others_cores ${seen.join(', ')}), least disturbed kept`
    if (c.framework === 'baseline' && !raw.error) baselines.set(key(c), raw.median_ms)
    const line = withUsPerTask(raw, baselines.get(key(c)))
    lines.push(line)
    process.stderr.write(
      line.error
        ? line.unavailable
          ? `UNAVAILABLE: ${line.error}\n`
          : 'ERROR\n'
        : `${line.median_ms} ms, ${line.us_per_task ?? '-'} us/task (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
    )
    const text = JSON.stringify(line) + '\n'
    process.stdout.write(text)
    if (o.out) appendFileSync(o.out, text)
  }
  process.stderr.write('\n' + table(lines))
  // An unreachable PostgreSQL is reported (`unavailable`) but does not fail the session.
  if (lines.some((l) => l.error && !l.unavailable)) process.exitCode = 1
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n')
  process.exitCode = 1
})
