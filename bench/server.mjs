// The HTTP API: the cost of authentication + rate limit + audit per request,
// measured in-process on the memory backend, and requests per second and p99
// latency on loopback (autocannon). Runs on dist/ (`npm run bench:server`
// builds first); prints one JSON line per case on stdout, a summary on stderr.
//
//   node bench/server.mjs [--quick] [--only security|http|loopback]
//
// In-process, memory backend, the parts of a started server (`server.deps`), µs per
// request, medians of rounds (each round: N requests of each part in turn):
//   security      what the middleware runs for an audited (state-changing) request:
//                 address limit → key check → key limit → authorization → audit append
//                 (`authLimitAuditUs`, the figure with the ≤ 20 µs goal), and its parts:
//                 `authLimitUs` (all but the audit), `auditAppendUs` (one hash-chained entry);
//                 each also as CPU time of the process (`…CpuUs`), steadier on a shared machine
//   http          app.fetch (no sockets): GET /health (routing, request id; no key, no limit)
//                 and GET /security/whoami with a key (+ limit, key check, authorization,
//                 query validation); `whoamiMinusHealthUs` is the security middleware in situ
// Loopback, 10 connections, on the memory and the SQLite backend:
//   get-run       GET /api/v1/runs/:id with an API key (authenticated read)
//   start-run     POST /api/v1/workflows/one/runs (store a one-task run; no worker runs it)
//
// Every line has machine_busy_cores: the CPU the whole machine used during the case
// (from /proc/stat); on a shared machine read the figures next to it.

import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { openBackend, workflow } from '../dist/index.js'
import { createApiApp, startServer, WorkflowCatalog } from '../dist/server.js'

const quick = process.argv.includes('--quick')
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined
const DURATION = quick ? 3 : 10
const N = quick ? 5_000 : 20_000
const ROUNDS = quick ? 5 : 9
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d
const lines = []
const out = (row) => {
  lines.push(row)
  console.log(JSON.stringify(row))
  console.error(`${row.case.padEnd(10)} ${row.backend.padEnd(7)} ${JSON.stringify(row.result)}`)
}

function busyJiffies() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)
  } catch {
    return undefined
  }
}

/** Runs `fn` and returns its result with the CPU the whole machine used meanwhile. */
async function measured(fn) {
  const j0 = busyJiffies()
  const t0 = performance.now()
  const result = await fn()
  const j1 = busyJiffies()
  const s = (performance.now() - t0) / 1000
  return { ...result, machine_busy_cores: j0 === undefined || j1 === undefined ? null : round((j1 - j0) / 100 / s, 2) }
}

async function serverOn(url) {
  const backend = await openBackend(url)
  const workflows = new WorkflowCatalog()
  workflows.add(workflow('one').task('a', { agent: 'echo', input: 1 }).build())
  let admin = ''
  const server = await startServer({
    backend,
    port: 0,
    workflows,
    guard: { requests: 1e9, failures: 1e9 },
    onAdminKey: (k) => (admin = k),
  })
  return { backend, server, admin }
}

/**
 * µs per call of each of `parts` (async functions of i), medians of ROUNDS rounds, the parts
 * interleaved: `wall` (elapsed time) and `cpu` (CPU time of this process, GC threads included,
 * which other processes on a shared machine disturb far less than elapsed time).
 */
async function perCall(parts) {
  const wall = Object.fromEntries(Object.keys(parts).map((k) => [k, []]))
  const cpu = Object.fromEntries(Object.keys(parts).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(parts)) {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      for (let i = 0; i < N; i++) await fn(i)
      wall[name].push(((performance.now() - t0) * 1000) / N)
      const c = process.cpuUsage(c0)
      cpu[name].push((c.user + c.system) / N)
    }
  }
  const medians = (x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, median(v)]))
  return { wall: medians(wall), cpu: medians(cpu) }
}

async function security() {
  const { backend, server, admin } = await serverOn('memory')
  const { keys, guard, authorizer, audit } = server.deps
  const ip = '127.0.0.1'
  const authLimit = async () => {
    await guard.admit({ ip })
    const principal = await keys.authenticate(admin)
    await guard.admitKey(principal.keyId)
    if (!authorizer.decide(principal, { kind: 'workflow', name: 'one' }, 'start').allowed) throw new Error('denied')
    return principal
  }
  const append = (principal, i) =>
    audit.record({
      actor: principal.name,
      action: 'run.start',
      resource: 'workflow:one',
      outcome: 'succeeded',
      requestId: `bench-${i}`,
      details: { status: 201 },
    })
  const principal = await authLimit()
  const r = await measured(() =>
    perCall({
      all: async (i) => append(await authLimit(), i),
      authLimit,
      audit: (i) => append(principal, i),
    }),
  )
  out({
    case: 'security',
    backend: 'memory',
    result: {
      authLimitAuditUs: round(r.wall.all, 2),
      authLimitUs: round(r.wall.authLimit, 2),
      auditAppendUs: round(r.wall.audit, 2),
      authLimitAuditCpuUs: round(r.cpu.all, 2),
      authLimitCpuUs: round(r.cpu.authLimit, 2),
      auditAppendCpuUs: round(r.cpu.audit, 2),
      machine_busy_cores: r.machine_busy_cores,
    },
  })
  await server.close()
  await backend.close()
}

async function http() {
  const { backend, server, admin } = await serverOn('memory')
  const { fetch: fetchOf } = createApiApp(server.deps)
  const headers = { authorization: `Bearer ${admin}` }
  const call = (path, init) => async () => {
    const res = await fetchOf(new Request(`http://x/api/v1${path}`, init))
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
    await res.arrayBuffer()
  }
  const r = await measured(() =>
    perCall({ health: call('/health', {}), whoami: call('/security/whoami', { headers }) }),
  )
  out({
    case: 'http',
    backend: 'memory',
    result: {
      healthUs: round(r.wall.health),
      whoamiUs: round(r.wall.whoami),
      whoamiMinusHealthUs: round(r.wall.whoami - r.wall.health),
      healthCpuUs: round(r.cpu.health),
      whoamiCpuUs: round(r.cpu.whoami),
      whoamiMinusHealthCpuUs: round(r.cpu.whoami - r.cpu.health),
      machine_busy_cores: r.machine_busy_cores,
    },
  })
  await server.close()
  await backend.close()
}

async function loopback(name, url) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-server-'))
  const { backend, server, admin } = await serverOn(url.replace('$DIR', dir))
  const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }
  const first = await fetch(`${server.url}/api/v1/workflows/one/runs`, { method: 'POST', headers, body: '{}' })
  const { id } = await first.json()
  for (const [label, opts] of [
    ['get-run', { url: `${server.url}/api/v1/runs/${id}`, headers }],
    ['start-run', { url: `${server.url}/api/v1/workflows/one/runs`, method: 'POST', headers, body: '{}' }],
  ]) {
    const r = await measured(() => autocannon({ ...opts, connections: 10, duration: DURATION }))
    out({
      case: label,
      backend: name,
      result: {
        requestsPerSecond: round(r.requests.average, 0),
        p99ms: r.latency.p99,
        errors: r.errors,
        non2xx: r.non2xx,
        machine_busy_cores: r.machine_busy_cores,
      },
    })
  }
  await server.close()
  await backend.close()
  rmSync(dir, { recursive: true, force: true })
}

if (only === undefined || only === 'security') await security()
if (only === undefined || only === 'http') await http()
if (only === undefined || only === 'loopback') {
  await loopback('memory', 'memory')
  await loopback('sqlite', 'sqlite:$DIR/bench.db')
}

const find = (c, b = 'memory') => lines.find((l) => l.case === c && l.backend === b)?.result
const s = find('security')
console.error('\nSummary')
if (s !== undefined)
  console.error(
    `  auth + rate limit + audit, per request, in memory: ${s.authLimitAuditUs} µs elapsed, ${s.authLimitAuditCpuUs} µs CPU (goal ≤ 20 µs; auth + limit ${s.authLimitUs} / ${s.authLimitCpuUs}, audit append ${s.auditAppendUs} / ${s.auditAppendCpuUs})`,
  )
for (const c of ['get-run', 'start-run'])
  for (const b of ['memory', 'sqlite']) {
    const l = find(c, b)
    if (l !== undefined)
      console.error(`  ${c.padEnd(9)} ${b.padEnd(6)} ${l.requestsPerSecond} requests/s, p99 ${l.p99ms} ms (loopback)`)
  }
