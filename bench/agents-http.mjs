// Deployed agents over the HTTP API, on loopback: how long a deploy takes,
// and the round trip of a command (POST /deployed-agents/{id}/execute) to an
// inprocess and to a process agent, sequential requests with an API key.
// Runs on dist/ (build first); prints one JSON line per case on stdout, a
// summary on stderr.
//
//   npm run build && node bench/agents-http.mjs [--quick]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { openBackend } from '../dist/index.js'
import { startServer } from '../dist/server.js'

const quick = process.argv.includes('--quick')
const DEPLOYS = quick ? 5 : 20
const CALLS = quick ? 300 : 2_000
const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)]
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d
const out = (row) => {
  console.log(JSON.stringify(row))
  console.error(`${row.case.padEnd(20)} ${JSON.stringify(row.result)}`)
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-agents-'))
const modules = join(dir, 'modules')
writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
await import('node:fs/promises').then((fs) => fs.mkdir(modules))
writeFileSync(
  join(modules, 'echo.mjs'),
  `import { defineAgent } from ${JSON.stringify(resolve('dist/agents/define-agent.js'))}\nexport default defineAgent({ name: 'echo', handler: (x) => x })\n`,
)
const backend = await openBackend('memory')
let admin = ''
const server = await startServer({
  backend,
  port: 0,
  guard: { requests: 1e9, failures: 1e9 },
  onAdminKey: (k) => (admin = k),
  agents: { modules, workspaceRoot: join(dir, 'ws') },
})
const call = async (method, path, body) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = await res.json()
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

try {
  for (const runtime of ['inprocess', 'process']) {
    const deployMs = []
    let id = ''
    for (let i = 0; i < DEPLOYS; i++) {
      const t = performance.now()
      const agent = await call('POST', '/deployed-agents', {
        spec: { name: `echo-${runtime}-${i}`, module: 'echo.mjs', runtime },
      })
      deployMs.push(performance.now() - t)
      if (i === 0) id = agent.id
      else await call('POST', `/deployed-agents/${agent.id}/terminate`, {})
    }
    out({
      case: `deploy ${runtime}`,
      result: { n: DEPLOYS, medianMs: round(pct(deployMs, 50)), p99Ms: round(pct(deployMs, 99)) },
    })
    for (let i = 0; i < 50; i++) await call('POST', `/deployed-agents/${id}/execute`, { input: i }) // warm-up
    const ms = []
    for (let i = 0; i < CALLS; i++) {
      const t = performance.now()
      await call('POST', `/deployed-agents/${id}/execute`, { input: { i } })
      ms.push(performance.now() - t)
    }
    out({ case: `execute ${runtime}`, result: { n: CALLS, medianMs: round(pct(ms, 50)), p99Ms: round(pct(ms, 99)) } })
    await call('POST', `/deployed-agents/${id}/terminate`, {})
  }
} finally {
  await server.close()
  await backend.close()
  rmSync(dir, { recursive: true, force: true })
}
