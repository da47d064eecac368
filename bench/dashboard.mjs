// The run page of the web dashboard with a 10,000-task run, in Debian's chromium
// (playwright-core): how long the page takes to show the run once its data arrived,
// how long the replay of its events over the live stream takes, and the main-thread
// long tasks (> 50 ms: dropped frames) meanwhile. Runs on dist/ (`npm run bench:dashboard`
// builds first); prints one JSON line on stdout.
//
//   node bench/dashboard.mjs [--tasks 10000] [--width 100] [--repeat 3] [--live 1] [--task-ms 0] [--ui DIR]
//
// --task-ms makes each task take that long (64 run at once), so that the live run lasts long enough to watch.
//
// --ui serves the dashboard built in DIR instead of dist/ui (e.g. another branch's build,
// `npx vite build --config ui/vite.config.ts --outDir DIR`), to compare two builds.
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
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { Client, compileWorkflow, defineAgent, openBackend, Worker } from '../dist/index.js'
import { startServer } from '../dist/server.js'

const arg = (name, fallback) =>
  process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback
const TASKS = arg('--tasks', 10_000)
const WIDTH = arg('--width', 100)
const REPEAT = arg('--repeat', 3)
const LIVE = arg('--live', 1)
const TASK_MS = arg('--task-ms', 0)
const UI = process.argv.includes('--ui') ? process.argv[process.argv.indexOf('--ui') + 1] : undefined
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
await worker.register(
  defineAgent({
    name: 'echo',
    handler: async (x) => (TASK_MS > 0 && (await new Promise((r) => setTimeout(r, TASK_MS))), { x }),
  }),
)
await worker.start()
let admin = ''
const server = await startServer({
  backend,
  port: 0,
  onAdminKey: (k) => (admin = k),
  ...(UI === undefined ? {} : { dashboard: UI }),
})
const client = await Client.connect(backend.store)
const api = async (path) =>
  (await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${admin}` } })).json()
async function runToEnd(runId) {
  for (;;) {
    const r = await api(`/runs/${runId}`)
    if (r.state === 'SUCCEEDED') return
    if (r.state === 'FAILED') throw new Error(JSON.stringify(r.error))
    await new Promise((res) => setTimeout(res, 500))
  }
}
const t0 = Date.now()
const finished = await client.start(wf)
await runToEnd(finished)
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
const signIn = await browser.newPage()
await signIn.goto(server.url)
await signIn.getByLabel('API key').fill(admin)
await signIn.getByRole('button', { name: 'Sign in' }).click()
await signIn.getByTestId('who').waitFor()
const key = await signIn.evaluate(() => JSON.stringify(sessionStorage))
await signIn.close()

/** Opens a new page (signed in) with the page's own probes: when parts appear, long tasks, frame times. */
async function probedPage() {
  const page = await browser.newPage()
  await page.addInitScript((stored) => {
    for (const [k, v] of Object.entries(JSON.parse(stored))) sessionStorage.setItem(k, v)
    window.__seen = {}
    new MutationObserver(() => {
      const now = performance.now()
      for (const [name, sel] of [
        ['run', '[data-testid="run"]'],
        ['row', '[data-task]'],
        ['layer', '.flow-layer'],
        ['ended', '[data-stream="ended"]'],
        ['final', '[data-testid="run"][data-state="SUCCEEDED"]'],
      ])
        if (window.__seen[name] === undefined && document.querySelector(sel) !== null) window.__seen[name] = now
    }).observe(document, { subtree: true, childList: true, attributes: true })
    window.__long = []
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => [e.startTime, e.duration]))).observe(
      {
        type: 'longtask',
        buffered: true,
      },
    )
    // Frame times: the gap between animation frames (16.7 ms at 60 Hz; a long one is a dropped frame).
    window.__frames = []
    let last
    const tick = (t) => {
      if (last !== undefined && window.__seen.ended === undefined) window.__frames.push([t, t - last])
      last = t
      requestAnimationFrame(tick)
    }
    requestAnimationFrame(tick)
  }, key)
  return page
}
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length === 0 ? 0 : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]
}
/**
 * What the page measured: long tasks and frame times until the stream ended,
 * and the same from the first drawing of the run on (its figures and task
 * list in the page): what the live updates cost, apart from loading the page.
 */
async function framesOf(page) {
  const { long, frames, drawn } = await page.evaluate(() => ({
    long: window.__long,
    frames: window.__frames,
    drawn: window.__seen.row,
  }))
  const gaps = frames.map(([, gap]) => gap)
  const after = frames.filter(([t, gap]) => t - gap >= drawn).map(([, gap]) => gap)
  return {
    longTasks: long.length,
    longestTaskMs: Math.round(Math.max(0, ...long.map(([, d]) => d))),
    longTasksAfterDrawn: long.filter(([start]) => start >= drawn).length,
    frames: gaps.length,
    frameMedianMs: Math.round(median(gaps) * 10) / 10,
    frameP95Ms: Math.round(pct(gaps, 95) * 10) / 10,
    framesOver50Ms: gaps.filter((f) => f > 50).length,
    framesAfterDrawn: after.length,
    framesAfterDrawnOver50Ms: after.filter((f) => f > 50).length,
  }
}

// 1. A finished run: load, then the replay of its events.
const rows = []
for (let i = 0; i < REPEAT; i++) {
  const page = await probedPage()
  await page.goto(`${server.url}/runs/${finished}`)
  await page.locator('[data-testid="tasks"] [data-task]').first().waitFor({ timeout: 60_000 })
  await page.locator('.react-flow__node.flow-layer').first().waitFor({ state: 'attached', timeout: 60_000 })
  await page.locator('[data-testid="run"][data-stream="ended"]').waitFor({ timeout: 600_000 })
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
      dataMs: Math.round(data),
      listMs: Math.round(s.row - data),
      graphMs: Math.round(s.layer - data),
      replayMs: Math.round(s.ended - data),
    }
  }, finished)
  const row = { ...inPage, ...(await framesOf(page)) }
  console.error(`finished run, load ${i + 1}: ${JSON.stringify(row)}`)
  rows.push(row)
  await page.close()
}
const med = (list, k) => median(list.map((r) => r[k]))
const summary = (list) => Object.fromEntries(Object.keys(list[0] ?? {}).map((k) => [k, med(list, k)]))
console.log(
  JSON.stringify({
    case: 'run-page-finished',
    tasks: TASKS,
    loads: rows.length,
    medians: summary(rows),
    loadavg: loadavg()[0],
  }),
)

// 2. A live run: the page is open when the run starts and follows it to the end.
const live = []
for (let i = 0; i < LIVE; i++) {
  const runId = `run_live_${i}_${Date.now()}`
  const page = await probedPage()
  await client.start(wf, undefined, { runId })
  await page.goto(`${server.url}/runs/${runId}`)
  await page.locator('[data-testid="run"]').waitFor({ timeout: 60_000 })
  const t1 = Date.now()
  await page.locator('[data-testid="run"][data-stream="ended"]').waitFor({ timeout: 900_000 })
  const row = { runMs: Date.now() - t1, ...(await framesOf(page)) }
  console.error(`live run ${i + 1}: ${JSON.stringify(row)}`)
  live.push(row)
  await page.close()
}
if (live.length > 0)
  console.log(
    JSON.stringify({
      case: 'run-page-live',
      tasks: TASKS,
      runs: live.length,
      medians: summary(live),
      loadavg: loadavg()[0],
    }),
  )
await browser.close()
await server.close()
await worker.stop()
await backend.close()
rmSync(profile, { recursive: true, force: true })
