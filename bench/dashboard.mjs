// The run page of the web dashboard with a 10,000-task run, in Debian's chromium
// (playwright-core): how long the page takes to show the run once its data arrived,
// how long the replay of its events over the live stream takes, and the main-thread
// long tasks (> 50 ms: dropped frames) meanwhile. Runs on dist/ (`npm run bench:dashboard`
// builds first); prints one JSON line on stdout.
//
//   node bench/dashboard.mjs [--tasks 10000] [--width 100]
//
// The run: `tasks` echo tasks in layers of `width`, each waiting for one task of the layer
// before, run to completion by an in-process worker on the memory backend, then served by
// startServer. Figures (ms):
//   dataMs       navigation → the run, its graph and its tasks answered (test's clock)
//   listMs       data → the run's figures and its task list in the page (the < 2 s goal)
//   graphMs      data → the graph (one node per layer) in the page
//   replayMs     data → the live stream replayed every stored event of the run and ended
// (the last three from the page's own clock: resource timing and a MutationObserver)
//   longTasks    main-thread tasks over 50 ms during load and replay, and the longest
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { Client, compileWorkflow, defineAgent, openBackend, Worker } from '../dist/index.js'
import { startServer } from '../dist/server.js'

const arg = (name, fallback) =>
  process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback
const TASKS = arg('--tasks', 10_000)
const WIDTH = arg('--width', 100)
const CHROMIUM = process.env.FLOTILLA_CHROMIUM ?? '/usr/bin/chromium'
if (!existsSync(CHROMIUM)) {
  console.error(`bench/dashboard.mjs needs ${CHROMIUM} (apt-get install -y chromium)`)
  process.exit(2)
}

const tasks = []
for (let i = 0; i < TASKS; i++) {
  const layer = Math.floor(i / WIDTH)
  tasks.push({
    id: `t${i}`,
    agent: 'echo',
    input: i,
    ...(layer === 0 ? {} : { dependsOn: [`t${(layer - 1) * WIDTH + (i % WIDTH)}`] }),
  })
}
const wf = compileWorkflow({ name: 'wide', tasks })
const backend = await openBackend('memory')
const worker = new Worker({ backend, concurrency: 64 })
await worker.register(defineAgent({ name: 'echo', handler: (x) => ({ x }) }))
await worker.start()
let admin = ''
const server = await startServer({ backend, port: 0, onAdminKey: (k) => (admin = k) })
const t0 = Date.now()
const client = await Client.connect(backend.store)
const runId = await client.start(wf)
for (;;) {
  const r = await (
    await fetch(`${server.url}/api/v1/runs/${runId}`, { headers: { authorization: `Bearer ${admin}` } })
  ).json()
  if (r.state === 'SUCCEEDED') break
  if (r.state === 'FAILED') throw new Error(JSON.stringify(r.error))
  await new Promise((res) => setTimeout(res, 500))
}
console.error(`${TASKS} tasks ran in ${Date.now() - t0} ms`)

const profile = mkdtempSync(join(tmpdir(), 'flotilla-bench-ui-'))
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1280, height: 900 },
})
const page = await browser.newPage()
await page.goto(server.url)
await page.getByLabel('API key').fill(admin)
await page.getByRole('button', { name: 'Sign in' }).click()
await page.getByTestId('who').waitFor()
await page.addInitScript(() => {
  window.__seen = {}
  new MutationObserver(() => {
    const now = performance.now()
    for (const [name, sel] of [
      ['run', '[data-testid="run"]'],
      ['row', '[data-task]'],
      ['layer', '.flow-layer'],
      ['ended', '[data-stream="ended"]'],
    ])
      if (window.__seen[name] === undefined && document.querySelector(sel) !== null) window.__seen[name] = now
  }).observe(document, { subtree: true, childList: true, attributes: true })
  window.__long = []
  new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({
    type: 'longtask',
    buffered: true,
  })
})
const answered = (path) =>
  page
    .waitForResponse((r) => r.url().endsWith(`/runs/${runId}${path}`))
    .then((r) => r.finished().then(() => Date.now()))
const tasksAnswered = Promise.all([answered(''), answered('/graph'), answered('/tasks')])
const navigated = Date.now()
await page.goto(`${server.url}/runs/${runId}`)
const data = Math.max(...(await tasksAnswered))
await page.locator('[data-testid="tasks"] [data-task]').first().waitFor({ timeout: 60_000 })
await page.locator('.react-flow__node.flow-layer').first().waitFor({ timeout: 60_000 })
await page.locator('[data-testid="run"][data-stream="ended"]').waitFor({ timeout: 600_000 })
const long = await page.evaluate(() => window.__long)
// In the page's own clock: when the last of the three answers ended, and when each part appeared.
const inPage = await page.evaluate((id) => {
  const ends = performance
    .getEntriesByType('resource')
    .filter((e) => /\/runs\/[^/]+(\/graph|\/tasks)?$/.test(e.name) && e.name.includes(id))
  const first = new Map()
  for (const e of ends) if (!first.has(e.name)) first.set(e.name, e.responseEnd)
  const data = Math.max(...first.values())
  const s = window.__seen
  return {
    data: Math.round(data),
    run: Math.round(s.run - data),
    row: Math.round(s.row - data),
    layer: Math.round(s.layer - data),
    ended: Math.round(s.ended - data),
  }
}, runId)
const events = (
  await (
    await fetch(`${server.url}/api/v1/runs/${runId}/events?limit=1&afterSeq=0`, {
      headers: { authorization: `Bearer ${admin}` },
    })
  ).json()
).events.length
console.log(
  JSON.stringify({
    case: 'run-page',
    tasks: TASKS,
    dataMs: data - navigated,
    listMs: inPage.row,
    graphMs: inPage.layer,
    replayMs: inPage.ended,
    longTasks: long.length,
    longestTaskMs: Math.round(Math.max(0, ...long)),
    eventsReadable: events > 0,
    loadavg: (await import('node:os')).loadavg()[0],
  }),
)
await browser.close()
await server.close()
await worker.stop()
await backend.close()
rmSync(profile, { recursive: true, force: true })
