// Bus benchmarks: the in-process MemoryBus and the PostgreSQL bus between
// processes. Runs on dist/ (`npm run bench:bus` builds first) and prints one
// JSON line per case on stdout, then a readable summary on stderr.
//
//   node --expose-gc bench/bus.mjs [--quick] [--only memory|postgres]
//
// Cases (medians over repeated samples, after a warm-up):
//   memory-publish          events/s published (each publish awaited) to ONE subscriber, without and with a `where` filter
//   memory-request          request/reply round trip in one process, median and p99 in µs
//   postgres-event          one-way latency of an event between two processes (the publisher stamps the
//                           wall time, the subscriber process, woken by NOTIFY, measures), ping-pong paced
//   postgres-request        request/reply round trip between two processes (responder in the other one)
//   postgres-mail           one-way latency of a durable message between two processes: send → the
//                           receiver's waitForMail wakes (NOTIFY) → receive returns it
//   postgres-throughput     durable messages/s: 8 senders and 4 receivers at once (send + receive + ack),
//                           per receive batch size (max = 1, 10, 100), and at batch 10 with
//                           synchronousCommit: false (commits do not wait for the WAL flush)
//
// BENCH_POSTGRES_URL: the server of the postgres cases (default postgres://postgres@127.0.0.1:5432/test),
// each run in a fresh schema bench_bus_<random>, dropped at the end. When it is unreachable the
// postgres lines carry `error` and `unavailable: true` and the session does not fail.
// Every line has machine_busy_cores: the CPU the whole machine used during the case (this
// process, the other one, the server and anything else), to spot disturbed runs.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
// Only the bus modules are loaded (not the whole package), so nothing else warms up or allocates.
import { MemoryBus } from '../dist/messaging/memory-bus.js'

const SELF = fileURLToPath(import.meta.url)
const URL_ = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const wallNow = () => performance.timeOrigin + performance.now() // sub-ms wall clock, comparable between processes of one host

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const quantile = (xs, q) => {
  const v = [...xs].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.floor(q * v.length))]
}
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d

function busyJiffies() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)
  } catch {
    return undefined
  }
}

/** Runs `fn`, adding machine_busy_cores to the line it returns. */
async function measured(fn) {
  const j0 = busyJiffies()
  const t0 = performance.now()
  const line = await fn()
  const j1 = busyJiffies()
  const s = (performance.now() - t0) / 1000
  return { ...line, machine_busy_cores: j0 === undefined || j1 === undefined ? null : round((j1 - j0) / 100 / s, 2) }
}

// ---------------------------------------------------------------- memory

async function memoryPublish(quick) {
  const n = quick ? 50_000 : 200_000
  const samples = quick ? 5 : 15
  const out = {}
  for (const [label, filter] of [
    ['no_filter', undefined],
    ['where_filter', { where: { 'step.kind': 'tick' } }],
  ]) {
    const bus = new MemoryBus()
    let received = 0
    await bus.subscribe('progress', filter, () => {
      received++
    })
    const event = { i: 0, step: { kind: 'tick' }, pct: 0.5 }
    const run = async () => {
      global.gc?.()
      const t0 = performance.now()
      for (let i = 0; i < n; i++) {
        event.i = i
        await bus.publish('progress', event, { from: 'worker' })
      }
      return performance.now() - t0
    }
    for (let w = 0; w < 3; w++) await run()
    const rates = []
    received = 0
    for (let s = 0; s < samples; s++) rates.push((n * 1000) / (await run()))
    if (received !== n * samples) throw new Error(`memory-publish: ${received} of ${n * samples} events delivered`)
    out[`${label}_events_per_s`] = Math.round(median(rates))
    await bus.close()
  }
  return {
    case: 'memory-publish',
    n,
    samples,
    ...out,
    events_per_s: out.no_filter_events_per_s,
    target_events_per_s: 500_000,
  }
}

async function memoryRequest(quick) {
  const n = quick ? 5_000 : 20_000
  const samples = quick ? 3 : 7
  const bus = new MemoryBus()
  await bus.onRequest('specialist', (req) => ({ answer: req.body.q * 2 }))
  const run = async () => {
    const lat = new Array(n)
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const r = await bus.request('specialist', { q: i }, { timeoutMs: 10_000, from: 'analyst' })
      lat[i] = performance.now() - t0
      if (r.answer !== i * 2) throw new Error('wrong reply')
    }
    return lat
  }
  await run()
  const medians = []
  const p99s = []
  for (let s = 0; s < samples; s++) {
    global.gc?.()
    const lat = await run()
    medians.push(median(lat) * 1000)
    p99s.push(quantile(lat, 0.99) * 1000)
  }
  await bus.close()
  return {
    case: 'memory-request',
    n,
    samples,
    median_us: round(median(medians), 2),
    p99_us: round(median(p99s), 2),
    target_median_us: 20,
  }
}

// ---------------------------------------------------------------- postgres

/** The other process: a bus on the same schema that answers pings, requests and mail. */
async function child(url, schema) {
  const { openPostgresBus } = await import('../dist/postgres.js')
  const bus = await openPostgresBus({ connectionString: url, schema, poolSize: 4 })
  const eventLat = []
  const mailLat = []
  await bus.subscribe('ping', undefined, (e) => {
    eventLat.push(wallNow() - e.data.t)
    return bus.publish('pong', { i: e.data.i, t: wallNow() }, { from: 'child' }).then(() => undefined)
  })
  await bus.onRequest('echo', (req) => req.body)
  let stopping = false
  await bus.subscribe('done', undefined, async () => {
    stopping = true
    process.stdout.write(JSON.stringify({ eventLat, mailLat }) + '\n')
    await bus.close()
    process.exit(0)
  })
  const mailLoop = async () => {
    for (;;) {
      const got = await bus.receive('child', { max: 1 })
      for (const m of got) {
        mailLat.push(wallNow() - m.body.t)
        await bus.ack('child', m.id)
        await bus.send('lead', { i: m.body.i, t: wallNow() }, { from: 'child' })
      }
      if (got.length === 0) await bus.waitForMail('child', { timeoutMs: 60_000 })
    }
  }
  mailLoop().catch((err) => {
    if (stopping) return // the bus closed under the loop: done
    process.stderr.write(`child mail loop: ${err?.stack ?? err}\n`)
    process.exit(1)
  })
  process.stdout.write('ready\n')
}

async function postgresCases(quick) {
  let openPostgresBus
  try {
    ;({ openPostgresBus } = await import('../dist/postgres.js'))
  } catch (err) {
    return [{ case: 'postgres', error: `cannot load dist/postgres.js: ${err.message}`, unavailable: true }]
  }
  const schema = `bench_bus_${randomBytes(5).toString('hex')}`
  let lead
  try {
    lead = await openPostgresBus({ connectionString: URL_, schema, poolSize: 12, connectTimeoutMs: 3_000 })
  } catch (err) {
    return [{ case: 'postgres', error: err.message, unavailable: err.code === 'STORE_UNAVAILABLE' }]
  }
  const kid = spawn(process.execPath, [SELF, '--child', URL_, schema], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = []
  let buffer = ''
  const waiting = []
  kid.stdout.on('data', (d) => {
    buffer += d
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      const w = waiting.shift()
      if (w) w(line)
      else lines.push(line)
    }
  })
  const nextLine = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r)))
  const results = []
  try {
    if ((await nextLine()) !== 'ready') throw new Error('child did not start')
    const rounds = quick ? 200 : 1000
    const warm = quick ? 50 : 200

    // Events: ping (lead → child) and pong (child → lead), each one way, measured by its receiver.
    const pongLat = []
    let pongWaiter
    await lead.subscribe('pong', undefined, (e) => {
      pongLat.push(wallNow() - e.data.t)
      pongWaiter?.()
    })
    results.push(
      await measured(async () => {
        for (let i = 0; i < warm + rounds; i++) {
          const got = new Promise((r) => (pongWaiter = r))
          await lead.publish('ping', { i, t: wallNow() }, { from: 'lead' })
          await got
        }
        return { case: 'postgres-event', rounds }
      }),
    )

    // Request/reply between the processes.
    results.push(
      await measured(async () => {
        const rtt = []
        for (let i = 0; i < warm + rounds; i++) {
          const t0 = performance.now()
          const r = await lead.request('echo', { i }, { timeoutMs: 10_000 })
          if (r.i !== i) throw new Error('wrong reply')
          if (i >= warm) rtt.push(performance.now() - t0)
        }
        return {
          case: 'postgres-request',
          rounds,
          median_ms: round(median(rtt)),
          p99_ms: round(quantile(rtt, 0.99)),
          one_way_estimate_ms: round(median(rtt) / 2),
        }
      }),
    )

    // Durable mail ping-pong: lead → child mailbox → lead mailbox.
    const back = []
    results.push(
      await measured(async () => {
        for (let i = 0; i < warm + rounds; i++) {
          await lead.send('child', { i, t: wallNow() }, { from: 'lead' })
          for (;;) {
            const [m] = await lead.receive('lead', { max: 1 })
            if (m !== undefined) {
              if (i >= warm) back.push(wallNow() - m.body.t)
              await lead.ack('lead', m.id)
              break
            }
            await lead.waitForMail('lead', { timeoutMs: 10_000 })
          }
        }
        return { case: 'postgres-mail', rounds }
      }),
    )

    await lead.publish('done', {}, { from: 'lead' })
    const report = JSON.parse(await nextLine())
    const ev = [...report.eventLat.slice(warm), ...pongLat.slice(warm)]
    Object.assign(results[0], { samples: ev.length, median_ms: round(median(ev)), p99_ms: round(quantile(ev, 0.99)) })
    const mail = [...report.mailLat.slice(warm), ...back]
    Object.assign(results[2], {
      samples: mail.length,
      median_ms: round(median(mail)),
      p99_ms: round(quantile(mail, 0.99)),
    })

    // Throughput: 8 senders and 4 receivers at once, per receive batch size.
    const n = quick ? 1_000 : 4_000
    const samples = quick ? 1 : 3
    const fast = await openPostgresBus({ connectionString: URL_, schema, poolSize: 12, synchronousCommit: false })
    const throughputCases = [
      [lead, 1, true],
      [lead, 10, true],
      [lead, 100, true],
      [fast, 10, false],
    ]
    for (const [bus, batch, synchronousCommit] of throughputCases) {
      results.push(
        await measured(async () => {
          const rates = []
          for (let s = 0; s < samples + 1; s++) {
            const box = `tp_${batch}_${synchronousCommit}_${s}`
            let sent = 0
            let done = 0
            const stop = new AbortController()
            const t0 = performance.now()
            const sender = async (k) => {
              while (sent < n) {
                const i = sent++
                await bus.send(box, { i, pad: 'x'.repeat(100) }, { from: `sender${k}` })
              }
            }
            const receiver = async () => {
              while (done < n) {
                const got = await bus.receive(box, { max: batch, visibilityTimeoutMs: 60_000 })
                await Promise.all(got.map((m) => bus.ack(box, m.id)))
                done += got.length
                if (done >= n) stop.abort()
                else if (got.length === 0) await bus.waitForMail(box, { signal: stop.signal, timeoutMs: 1_000 })
              }
            }
            await Promise.all([
              ...Array.from({ length: 8 }, (_, k) => sender(k)),
              ...Array.from({ length: 4 }, receiver),
            ])
            const ms = performance.now() - t0
            if (s > 0) rates.push((n * 1000) / ms) // the first is the warm-up
          }
          return {
            case: 'postgres-throughput',
            batch,
            synchronous_commit: synchronousCommit,
            n,
            samples,
            messages_per_s: Math.round(median(rates)),
          }
        }),
      )
    }
    await fast.close()
  } catch (err) {
    results.push({ case: 'postgres', error: String(err?.stack ?? err) })
  } finally {
    kid.kill('SIGKILL')
    await lead.close()
    const pg = (await import('pg')).default
    const c = new pg.Client({ connectionString: URL_ })
    await c.connect()
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await c.end()
  }
  return results
}

// ---------------------------------------------------------------- main

function summary(lines) {
  const out = []
  for (const l of lines) {
    if (l.error) out.push(`${l.case}: ${l.unavailable ? 'UNAVAILABLE' : 'ERROR'} ${l.error.split('\n')[0]}`)
    else if (l.case === 'memory-publish')
      out.push(
        `MemoryBus publish → 1 subscriber: ${l.no_filter_events_per_s.toLocaleString('en')} events/s (with a where filter ${l.where_filter_events_per_s.toLocaleString('en')}/s; target ≥ 500,000)`,
      )
    else if (l.case === 'memory-request')
      out.push(`MemoryBus request/reply: median ${l.median_us} µs, p99 ${l.p99_us} µs (target median ≤ 20 µs)`)
    else if (l.case === 'postgres-event')
      out.push(`PostgresBus event between processes (one way): median ${l.median_ms} ms, p99 ${l.p99_ms} ms`)
    else if (l.case === 'postgres-request')
      out.push(`PostgresBus request/reply between processes: median ${l.median_ms} ms, p99 ${l.p99_ms} ms round trip`)
    else if (l.case === 'postgres-mail')
      out.push(
        `PostgresBus durable message between processes (send → wake → receive): median ${l.median_ms} ms, p99 ${l.p99_ms} ms`,
      )
    else if (l.case === 'postgres-throughput') {
      const sync = l.synchronous_commit ? '' : ', synchronousCommit: false'
      out.push(
        `PostgresBus durable throughput, receive batch ${String(l.batch).padStart(3)}${sync}: ${l.messages_per_s.toLocaleString('en')} messages/s (send + receive + ack)`,
      )
    }
    if (!l.error && l.machine_busy_cores !== null)
      out[out.length - 1] += `  [machine busy ${l.machine_busy_cores} cores]`
  }
  return out.join('\n')
}

async function main() {
  const argv = process.argv.slice(2)
  if (argv[0] === '--child') return child(argv[1], argv[2])
  const quick = argv.includes('--quick')
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined
  const cpu = os.cpus()[0]?.model ?? 'unknown'
  process.stderr.write(
    `# flotilla bus bench: node ${process.version}, ${cpu}, ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}${quick ? ' [quick]' : ''}\n`,
  )
  const lines = []
  const emit = (line) => {
    lines.push(line)
    process.stdout.write(JSON.stringify(line) + '\n')
  }
  if (only === undefined || only === 'memory') {
    emit(await measured(() => memoryPublish(quick)))
    emit(await measured(() => memoryRequest(quick)))
  }
  if (only === undefined || only === 'postgres') for (const l of await postgresCases(quick)) emit(l)
  process.stderr.write('\n' + summary(lines) + '\n')
  if (lines.some((l) => l.error && !l.unavailable)) process.exitCode = 1
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n')
  process.exitCode = 1
})
