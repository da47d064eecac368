// The HTTP API: requests per second and p99 latency on loopback (autocannon),
// and the cost of authentication + rate limit (+ audit) per request measured
// in-process. Runs on dist/ (`npm run bench:server` builds first); prints one
// JSON line per case on stdout, a summary on stderr.
//
//   node bench/server.mjs [--quick]
//
// Cases, on the memory and the SQLite backend:
//   get-run        GET /api/v1/runs/:id with an API key (authenticated read)
//   start-run      POST /api/v1/workflows/one/runs (store a one-task run; no worker runs it)
// In-process (app.fetch, no sockets, memory backend), µs per request, medians of rounds:
//   health         GET /health: routing and the request-id middleware only (no key, no limit)
//   whoami         GET /security/whoami with a key: + rate limit + key check + authorization
//   auth+limit     whoami − health
//   audit-append   one audit entry (hash-chained) appended in memory

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { openBackend, workflow } from '../dist/index.js'
import { startServer, WorkflowCatalog } from '../dist/server.js'
import { AuditLog } from '../dist/security/audit.js'
import { MemoryAuditLogStore } from '../dist/testing.js'

const quick = process.argv.includes('--quick')
const DURATION = quick ? 3 : 10
const N = quick ? 5_000 : 20_000
const ROUNDS = quick ? 3 : 7
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d
const out = (row) => {
  console.log(JSON.stringify(row))
  console.error(`${row.case.padEnd(14)} ${row.backend.padEnd(7)} ${JSON.stringify(row.result)}`)
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
    const r = await autocannon({ ...opts, connections: 10, duration: DURATION })
    out({
      case: label,
      backend: name,
      result: {
        requestsPerSecond: round(r.requests.average, 0),
        p99ms: r.latency.p99,
        errors: r.errors,
        non2xx: r.non2xx,
      },
    })
  }
  await server.close()
  await backend.close()
  rmSync(dir, { recursive: true, force: true })
}

async function inProcess() {
  const { backend, server, admin } = await serverOn('memory')
  const fetchOf = server.deps && (await import('../dist/server/app.js')).createApiApp(server.deps).fetch
  const headers = { authorization: `Bearer ${admin}` }
  const time = async (path, init) => {
    const rounds = []
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now()
      for (let i = 0; i < N; i++) await fetchOf(new Request(`http://x/api/v1${path}`, init))
      rounds.push(((performance.now() - t0) * 1000) / N)
    }
    return median(rounds)
  }
  const health = await time('/health', {})
  const whoami = await time('/security/whoami', { headers })
  const audit = new AuditLog(new MemoryAuditLogStore())
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++)
      await audit.record({ actor: 'key:x', action: 'run.start', resource: `run:${i}`, outcome: 'succeeded' })
    rounds.push(((performance.now() - t0) * 1000) / N)
  }
  out({
    case: 'in-process',
    backend: 'memory',
    result: {
      healthUs: round(health),
      whoamiUs: round(whoami),
      authAndLimitUs: round(whoami - health),
      auditAppendUs: round(median(rounds)),
    },
  })
  await server.close()
  await backend.close()
}

await inProcess()
await loopback('memory', 'memory')
await loopback('sqlite', 'sqlite:$DIR/bench.db')
