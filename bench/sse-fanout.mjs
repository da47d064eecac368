// SSE fan-out: N dashboard clients follow the live events of one run
// (`GET /api/v1/runs/{id}/live`) on one server while a worker runs it. Runs on
// dist/ (`npm run bench:sse` builds first); prints one JSON line per case on stdout.
//
//   node bench/sse-fanout.mjs [--clients 100] [--client-procs 4] [--tasks 1000] [--rounds 3]
//                             [--dist DIR] [--base DIR]
//
// The server (startServer on the memory backend, with an in-process worker running
// the run) is this process; the clients are `--client-procs` child processes (the
// clients split between them), so that the server's CPU is this process's alone and
// one client process's event loop does not delay 100 streams. Every client connects
// before the worker starts; the run:
// `tasks` tasks in layers of 50, each sleeping 5 ms. Figures, per case (1 client, then
// `clients` clients), medians of `rounds` rounds:
//   latencyP50Ms, latencyP95Ms  event committed (its `at`) → received by a client, over
//                               every event of every client
//   serverCpuS, serverCores     CPU time of the server process during the run, and the same
//                               ÷ the run's wall time (it runs the run too: compare with
//                               the 1-client case)
//   runS                        the run's wall time (worker start → every client's stream ended)
//   clientCpuS                  CPU time of the client processes (from their start: connecting
//                               included), on the same cores as the server
//   complete                    every client received every stored event of the run
//                               exactly once, in the same order, and its stream ended
//   loadavg                     the 1-minute load average as the case ended
// `--dist DIR` benchmarks another build (e.g. the main checkout's dist/, before a change).
// `--base DIR` compares two builds: each round runs DIR (before) then --dist (after), one
// process each, alternating, so that both see the same load; one line per build and case.
import { execFileSync, fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback)

if (process.argv[2] === '--serve-clients') {
  // The child: `count` streams of one run; reports what each received.
  let seen = 0
  const [, , , url, key, runId, count] = process.argv
  const one = async () => {
    const res = await fetch(`${url}/api/v1/runs/${runId}/live`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    })
    if (!res.ok) throw new Error(`live: ${res.status} ${await res.text()}`)
    process.send({ connected: true })
    const ids = []
    const lat = []
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      const now = Date.now()
      buffer += value
      let cut
      let start = 0
      while ((cut = buffer.indexOf('\n\n', start)) >= 0) {
        const block = buffer.slice(start, cut)
        start = cut + 2
        let id
        let data
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4)
          else if (line.startsWith('data: ')) data = line.slice(6)
        }
        if (data === undefined) continue
        ids.push(id)
        seen++
        lat.push(now - JSON.parse(data).at)
      }
      buffer = buffer.slice(start)
    }
    return { ids: ids.join(','), count: ids.length, lat }
  }
  let total = 0
  let done = 0
  const progress = process.env.SSE_DEBUG
    ? setInterval(() => console.error('received', seen, 'finished', done), 2000)
    : undefined
  const counted = async () => {
    const r = await one()
    total += r.count
    done++
    return r
  }
  const results = await Promise.all(Array.from({ length: Number(count) }, counted))
  clearInterval(progress)
  // Exit once the (large) message is sent: exiting at once can lose it.
  const cpu = process.cpuUsage()
  process.send({ results, cpuS: (cpu.user + cpu.system) / 1e6 }, () => process.exit(0))
  await new Promise(() => undefined) // the rest of this file is the parent's
}

const CLIENTS = Number(arg('--clients', 100))
const TASKS = Number(arg('--tasks', 1000))
const ROUNDS = Number(arg('--rounds', 3))
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length === 0 ? 0 : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const pct = (v, p) => (v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))])
const CLIENT_PROCS = Number(arg('--client-procs', 4))
const DIST = resolve(arg('--dist', new URL('../dist', import.meta.url).pathname))
const BASE = process.argv.includes('--base') ? resolve(arg('--base')) : undefined
const ONE = process.argv.includes('--one-round')

if (BASE !== undefined && !ONE) {
  // Alternate: each round is a process on BASE then one on DIST, so both see the same load.
  const own = new URL(import.meta.url).pathname
  const cases = process.env.SSE_ONLY ? [CLIENTS] : [1, CLIENTS]
  for (const n of cases) {
    const rows = { before: [], after: [] }
    for (let r = 0; r < ROUNDS; r++) {
      for (const [label, dist] of [
        ['before', BASE],
        ['after', DIST],
      ]) {
        const out = execFileSync(
          process.execPath,
          [
            own,
            '--one-round',
            '--dist',
            dist,
            '--clients',
            String(n),
            '--tasks',
            String(TASKS),
            '--client-procs',
            String(CLIENT_PROCS),
          ],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
        )
        const row = JSON.parse(out.trim().split('\n').at(-1))
        console.error(`${label} ${n} clients, round ${r + 1}: ${JSON.stringify(row)}`)
        rows[label].push(row)
      }
    }
    for (const label of ['before', 'after'])
      console.log(JSON.stringify(summary(rows[label], n, label === 'before' ? BASE : DIST, label)))
  }
  process.exit(0)
}

const { compileWorkflow, defineAgent, openBackend, Worker, Client } = await import(
  pathToFileURL(`${DIST}/index.js`).href
)
const { startServer } = await import(pathToFileURL(`${DIST}/server.js`).href)

/** The medians of a case's rounds. */
function summary(rows, n, dist, build) {
  const med = (k) => median(rows.map((x) => x[k]))
  return {
    case: 'sse-fanout',
    ...(build === undefined ? {} : { build }),
    clients: n,
    clientProcs: Math.max(1, Math.min(n, CLIENT_PROCS)),
    tasks: TASKS,
    rounds: rows.length,
    dist,
    events: med('events'),
    complete: rows.every((x) => x.complete),
    latencyP50Ms: med('latencyP50Ms'),
    latencyP95Ms: med('latencyP95Ms'),
    latencyMaxMs: med('latencyMaxMs'),
    runS: med('runS'),
    serverCpuS: med('serverCpuS'),
    clientCpuS: med('clientCpuS'),
    serverCores: med('serverCores'),
    machineBusyCores: med('machineBusyCores'),
    loadavg: med('loadavg'),
  }
}

function busyJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
  return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)
}

const tasks = []
for (let i = 0; i < TASKS; i++) {
  const layer = Math.floor(i / 50)
  tasks.push({
    id: `t${i}`,
    agent: 'nap',
    input: i,
    ...(layer === 0 ? {} : { dependsOn: [`t${(layer - 1) * 50 + (i % 50)}`] }),
  })
}
const wf = compileWorkflow({ name: 'fanout', tasks })

/** One round: `n` clients follow a new run from before it starts to its end. */
async function round(n) {
  const backend = await openBackend('memory')
  let admin = ''
  const server = await startServer({
    backend,
    port: 0,
    guard: { requests: 1e9, failures: 1e9 },
    onAdminKey: (k) => (admin = k),
  })
  const worker = new Worker({ backend, concurrency: 16 })
  await worker.register(
    defineAgent({ name: 'nap', handler: async (x) => (await new Promise((r) => setTimeout(r, 5)), x) }),
  )
  const client = await Client.connect(backend.store)
  const runId = await client.start(wf)
  const procs = Math.max(1, Math.min(n, CLIENT_PROCS))
  const children = Array.from({ length: procs }, (_, i) => {
    const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0)
    return fork(new URL(import.meta.url).pathname, ['--serve-clients', server.url, admin, runId, String(share)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
  })
  let connected = 0
  const allConnected = new Promise((res, rej) => {
    for (const child of children) {
      child.on('message', (m) => {
        if (m.connected && ++connected === n) res()
      })
      child.on('exit', (code) => rej(new Error(`clients exited with ${code} after ${connected} connected`)))
    }
  })
  const results = Promise.all(
    children.map(
      (child) =>
        new Promise((res, rej) => {
          child.on('message', (m) => m.results && res(m))
          child.on('exit', (code) => code !== 0 && rej(new Error(`clients exited with ${code}`)))
        }),
    ),
  ).then((parts) => ({ all: parts.flatMap((p) => p.results), cpuS: parts.reduce((a, p) => a + p.cpuS, 0) }))
  await allConnected
  const c0 = process.cpuUsage()
  const j0 = busyJiffies()
  const t0 = performance.now()
  await worker.start()
  const { all: received, cpuS: clientCpuS } = await results
  const wallS = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  for (const child of children) child.kill()
  const machine = (busyJiffies() - j0) / 100 / wallS
  const stored = []
  for (let after = 0; ; ) {
    const page = await client.listEvents(runId, { afterSeq: after, limit: 1000 })
    if (page.length === 0) break
    stored.push(...page)
    after = page.at(-1).seq
  }
  const lat = received.flatMap((r) => r.lat).sort((a, b) => a - b)
  const complete = received.every((r) => r.count === stored.length && r.ids === received[0].ids)
  await worker.stop()
  await server.close()
  await backend.close()
  return {
    events: stored.length,
    received: received.reduce((a, r) => a + r.count, 0),
    complete,
    runS: Math.round(wallS * 100) / 100,
    latencyP50Ms: pct(lat, 50),
    latencyP95Ms: pct(lat, 95),
    latencyMaxMs: lat.at(-1) ?? 0,
    serverCpuS: Math.round(((c.user + c.system) / 1e6) * 100) / 100,
    clientCpuS: Math.round(clientCpuS * 100) / 100,
    serverCores: Math.round(((c.user + c.system) / 1e6 / wallS) * 100) / 100,
    machineBusyCores: Math.round(machine * 100) / 100,
    loadavg: Math.round(loadavg()[0] * 100) / 100,
  }
}

if (ONE) {
  console.log(JSON.stringify(await round(CLIENTS)))
  process.exit(0)
}

for (const n of process.env.SSE_ONLY ? [CLIENTS] : [1, CLIENTS]) {
  const rows = []
  for (let r = 0; r < ROUNDS; r++) {
    const row = await round(n)
    console.error(`${n} clients, round ${r + 1}: ${JSON.stringify(row)}`)
    rows.push(row)
  }
  console.log(JSON.stringify(summary(rows, n, DIST)))
}
