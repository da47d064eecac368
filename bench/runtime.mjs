// Runtime benchmarks: agents as processes. Runs on dist/ (`npm run bench:runtime`
// builds first) and prints one JSON line per case on stdout, then a readable
// summary on stderr.
//
//   node bench/runtime.mjs [--quick]
//
// Cases:
//   process-deploy        deploy + first command of a process agent (fork, load, initialize, one round trip), median of ≥ 20
//   process-sequential    execute round trip to one process agent, one at a time: median and p99 in µs
//   process-pipelined     commands/s to one process agent with 64 in flight
//   inprocess-deploy      the same three for the inprocess runtime
//   inprocess-sequential
//   inprocess-pipelined
//   ipc-raw-json          a bare fork() echo child, json vs advanced serialization: the floor under the
//   ipc-raw-advanced      process runtime's round trip (protocol validation, bookkeeping and the runner on top);
//                         measured in blocks alternating with process-sequential, so all three see the same load
//   permission-check      PermissionSet.allows with 10 grants, ns per check (hits and misses mixed)

import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ProcessRuntime } from '../dist/runtimes/process/process-runtime.js'
import { InProcessRuntime } from '../dist/runtimes/inprocess/inprocess-runtime.js'
import { PermissionSet } from '../dist/security/permissions.js'

const quick = process.argv.includes('--quick')
const SELF = fileURLToPath(import.meta.url)
const root = fileURLToPath(new URL('..', import.meta.url))

function median(xs) {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
function quantile(xs, q) {
  const v = [...xs].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d

function emit(line, out) {
  out.push(line)
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/** A bare child that echoes every message, for the floor of an IPC round trip. */
function rawEcho(serialization) {
  const child = fork(SELF, ['--echo-child'], { serialization, execArgv: [] })
  return {
    serialization,
    child,
    ask: (m) =>
      new Promise((resolve) => {
        child.once('message', resolve)
        child.send(m)
      }),
  }
}

const hooks = {
  onExit: (e) => process.stderr.write(`unexpected exit: ${e.reason}\n`),
  onEvent: () => {},
  call: async () => null,
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-rt-'))
  const agent = join(dir, 'echo.mjs')
  writeFileSync(
    agent,
    `import { defineAgent } from ${JSON.stringify(pathToFileURL(join(root, 'dist/agents/define-agent.js')).href)}\nexport default defineAgent({ name: 'echo', handler: (input) => input })\n`,
  )
  let seq = 0
  const request = (kind) => {
    const instanceId = `agt_bench_${kind}_${++seq}`
    return {
      instanceId,
      name: 'echo',
      module: agent,
      exportName: 'default',
      tools: [],
      permissions: [],
      limits: {},
      env: {},
      workspace: join(dir, instanceId),
    }
  }
  const out = []
  try {
    for (const [kind, make] of [
      ['process', () => new ProcessRuntime()],
      ['inprocess', () => new InProcessRuntime()],
    ]) {
      const runtime = make()
      // deploy + first command
      const deploys = []
      const samples = quick ? 20 : 30
      for (let i = 0; i < samples + 2; i++) {
        const t0 = performance.now()
        const handle = await runtime.deploy(request(kind), hooks)
        await handle.execute({ n: 1 })
        const ms = performance.now() - t0
        if (i >= 2) deploys.push(ms) // the first two warm up the module cache and the JIT
        await handle.terminate()
      }
      emit(
        {
          case: `${kind}-deploy`,
          samples: deploys.length,
          median_ms: round(median(deploys), 2),
          p90_ms: round(quantile(deploys, 0.9), 2),
        },
        out,
      )

      const handle = await runtime.deploy(request(kind), hooks)
      const input = { text: 'hello', n: 42, tags: ['a', 'b'] }
      // The sequential round trip; for the process runtime, in blocks alternating with bare echo
      // children (json and advanced serialization), so that all three see the same machine load.
      const raws = kind === 'process' ? ['json', 'advanced'].map((serialization) => rawEcho(serialization)) : []
      const send = [() => handle.execute(input), ...raws.map((r) => () => r.ask({ type: 'execute', id: 1, input }))]
      const warm = quick ? 500 : 2_000
      for (const f of send) for (let i = 0; i < warm; i++) await f()
      const blocks = quick ? 4 : 10
      const per = 1_000
      const rtts = send.map(() => [])
      for (let b = 0; b < blocks; b++) {
        for (let k = 0; k < send.length; k++) {
          for (let i = 0; i < per; i++) {
            const t0 = performance.now()
            await send[k]()
            rtts[k].push((performance.now() - t0) * 1000)
          }
        }
      }
      emit(
        {
          case: `${kind}-sequential`,
          commands: rtts[0].length,
          median_us: round(median(rtts[0])),
          p99_us: round(quantile(rtts[0], 0.99)),
          per_s: Math.round(1e6 / median(rtts[0])),
        },
        out,
      )
      raws.forEach((r, i) => {
        emit(
          {
            case: `ipc-raw-${r.serialization}`,
            commands: rtts[i + 1].length,
            median_us: round(median(rtts[i + 1])),
            p99_us: round(quantile(rtts[i + 1], 0.99)),
          },
          out,
        )
        r.child.kill()
      })

      const total = quick ? 10_000 : 50_000
      const inFlight = 64
      let started = 0
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (started < total) {
            started++
            await handle.execute(input)
          }
        }),
      )
      const s = (performance.now() - t0) / 1000
      emit({ case: `${kind}-pipelined`, commands: total, in_flight: inFlight, per_s: Math.round(total / s) }, out)
      await runtime.close()
    }

    const set = new PermissionSet([
      { resource: 'file:data/**', actions: ['read'] },
      { resource: 'file:results/*', actions: ['write', 'delete'] },
      { resource: 'file:.', actions: ['list'] },
      { resource: 'tool:search', actions: ['call'] },
      { resource: 'tool:{summarise,translate}', actions: ['call'] },
      { resource: 'artifact:report-*', actions: ['read', 'write'] },
      { resource: 'agent:analyst', actions: ['send'] },
      { resource: 'event:finding.*', actions: ['publish', 'subscribe'] },
      { resource: 'cache:**', actions: ['read'] },
      { resource: 'file:logs/**/*.log', actions: ['write'] },
    ])
    const probes = [
      ['file:data/in/a.txt', 'read'],
      ['file:results/b.json', 'write'],
      ['tool:translate', 'call'],
      ['agent:analyst', 'send'],
      ['file:logs/2024/01/x.log', 'write'],
      ['file:secret.txt', 'read'],
      ['tool:delete-all', 'call'],
      ['artifact:other', 'write'],
    ]
    const iterations = quick ? 1_000_000 : 4_000_000
    let hits = 0
    for (let i = 0; i < 200_000; i++) if (set.allows(probes[i & 7][0], probes[i & 7][1])) hits++
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) if (set.allows(probes[i & 7][0], probes[i & 7][1])) hits++
    const ns = Number(process.hrtime.bigint() - t0) / iterations
    emit(
      {
        case: 'permission-check',
        grants: 10,
        checks: iterations,
        ns_per_check: round(ns),
        hit_rate: round(hits / (iterations + 200_000), 3),
      },
      out,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  process.stderr.write('\nsummary\n')
  for (const l of out)
    process.stderr.write(
      `  ${l.case.padEnd(22)} ${Object.entries(l)
        .filter(([k]) => k !== 'case')
        .map(([k, v]) => `${k}=${v}`)
        .join('  ')}\n`,
    )
}

// A bare echo child for the ipc-raw cases, or the benchmark itself.
if (process.argv[2] === '--echo-child') {
  process.on('message', (m) => process.send(m))
  process.on('disconnect', () => process.exit(0))
} else {
  await main()
}
