import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentImports, ensureBuilt, ROOT, runCli, tempDir, writeFiles, type BackgroundCli } from '../cli/run-cli.js'
import {
  ARTIFACTS,
  browserMissing,
  callApi,
  type ApiInit,
  launchBrowser,
  startDashboard,
  stopDashboard,
} from './harness.js'

/**
 * The web dashboard in a real browser (Debian's chromium driven by
 * playwright-core) against a real `flotilla serve` child process on a
 * SQLite file: a run started from the CLI appears and completes on the page
 * with its DAG; pause, resume and cancel from the page; keys that may not
 * control runs see no control buttons. Screenshots go to test-artifacts/;
 * UPDATE_SCREENSHOT=1 also refreshes docs/dashboard.png.
 */
const missing = browserMissing('dashboard browser tests')

const tmp = tempDir('flotilla-ui-')
let server: BackgroundCli
let url = ''
let admin = ''
let browser: BrowserContext

const api = <T>(path: string, key: string, init?: ApiInit): Promise<T> => callApi<T>(url, path, key, init)

/** Starts a run of `pipeline` with `flotilla run --server … --detach` and returns its id. */
async function startFromCli(ms: number): Promise<string> {
  const r = await runCli(['run', 'pipeline', '--server', url, '--detach', '--input', `ms=${ms}`], {
    cwd: tmp.dir,
    env: { FLOTILLA_API_KEY: admin },
  })
  expect(r.code, r.stderr).toBe(0)
  const id = /run_[A-Za-z0-9_-]+/.exec(r.stdout)?.[0]
  if (id === undefined) throw new Error(`no run id in: ${r.stdout}`)
  return id
}

async function signIn(key: string): Promise<Page> {
  const page = await browser.newPage()
  page.on('dialog', (d) => void d.accept())
  await page.goto(url)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('who').waitFor()
  return page
}

async function shot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

beforeAll(async () => {
  if (missing !== undefined) return
  ensureBuilt()
  mkdirSync(ARTIFACTS, { recursive: true })
  mkdirSync(join(tmp.dir, 'workflows'))
  writeFiles(tmp.dir, {
    'agents.mjs': `${agentImports()}
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms)
  signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason) }, { once: true })
})
export const sleeper = defineAgent({
  name: 'sleeper',
  handler: async (input, ctx) => {
    ctx.log.info('sleeping ' + input.ms + ' ms')
    await sleep(input.ms, ctx.signal)
    return { slept: input.ms }
  },
})
export const flaky = defineAgent({
  name: 'flaky',
  handler: async (input, ctx) => {
    await sleep(input.ms, ctx.signal)
    if (ctx.attempt === 1) throw new Error('the first attempt fails on purpose')
    return { ok: true, confidence: 0.9 }
  },
})
`,
    'workflows/pipeline.yaml': `name: pipeline
agents: ../agents.mjs
inputs:
  ms: { type: number, default: 200 }
tasks:
  - id: fetch
    agent: sleeper
    input: { ms: { $ref: input.ms } }
  - id: parse-a
    agent: sleeper
    dependsOn: [fetch]
    input: { ms: { $ref: input.ms } }
  - id: parse-b
    agent: sleeper
    dependsOn: [fetch]
    input: { ms: { $ref: input.ms } }
  - id: parse-c
    agent: flaky
    dependsOn: [fetch]
    retry: { maxAttempts: 2, initialDelayMs: 50 }
    input: { ms: { $ref: input.ms } }
  - id: report
    agent: sleeper
    dependsOn: [parse-a, parse-b, parse-c]
    input: { ms: { $ref: input.ms } }
`,
  })
  ;({ server, url, admin } = await startDashboard(tmp.dir, 'ui.db'))
  expect(server.stdout()).toContain(`dashboard  ${url}/`)
  browser = await launchBrowser(tmp.dir)
}, 90_000)

afterAll(() => stopDashboard(browser, server, tmp), 30_000)

describe.skipIf(missing !== undefined)('the dashboard in chromium', () => {
  let finished = ''

  it('serves the page at / and for client routes, with hashed assets cached', async () => {
    const root = await fetch(`${url}/`)
    expect(root.status).toBe(200)
    expect(root.headers.get('content-type')).toContain('text/html')
    expect(root.headers.get('cache-control')).toBe('no-cache')
    const html = await root.text()
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1] ?? ''
    const js = await fetch(`${url}${asset}`)
    expect(js.status).toBe(200)
    expect(js.headers.get('cache-control')).toContain('immutable')
    expect(await (await fetch(`${url}/runs/run_x`)).text()).toBe(html)
    expect((await fetch(`${url}/assets/nope.js`)).status).toBe(404)
    const api = await fetch(`${url}/api/v1/nope`, { headers: { authorization: `Bearer ${admin}` } })
    expect(api.status).toBe(404)
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('ROUTE_NOT_FOUND')
  })

  it('shows a run started from the CLI, live until it completes, with its DAG, timeline and task drawer', async () => {
    const page = await signIn(admin)
    await page.getByTestId('runs').waitFor()
    const id = await startFromCli(400)
    finished = id
    const row = page.locator(`tr[data-run="${id}"]`)
    await row.waitFor({ timeout: 15_000 })
    await row.getByRole('link', { name: id }).click()
    await page.locator('[data-testid="run"]').waitFor()
    await page.locator('[data-testid="run"][data-state="SUCCEEDED"]').waitFor({ timeout: 45_000 })
    const nodes = page.locator('.react-flow__node.flow-task')
    await expect.poll(() => nodes.count()).toBe(5)
    await expect.poll(() => page.locator('.react-flow__node.st-SUCCEEDED').count(), { timeout: 10_000 }).toBe(5)
    // xyflow draws edges once it has measured the nodes: wait for them.
    await expect.poll(() => page.locator('.react-flow__edge').count(), { timeout: 10_000 }).toBe(6)
    // The longest chain goes through the retried task: fetch → parse-c → report.
    await expect
      .poll(() => page.locator('.react-flow__node.critical').allTextContents())
      .toEqual(['fetch', 'parse-c', 'report'])
    await expect.poll(() => page.getByTestId('progress').textContent()).toContain('5/5')
    await page.locator('[data-testid="tasks"] [data-task="parse-c"]').click()
    const drawer = page.getByTestId('drawer')
    await drawer.waitFor()
    await expect.poll(() => drawer.textContent()).toContain('Attempts (2)')
    expect(await drawer.textContent()).toContain('the first attempt fails on purpose')
    await expect.poll(() => drawer.textContent()).toContain('"confidence": 0.9')
    const shotPath = await shot(page, 'run-drawer')
    await page.keyboard.press('Escape')
    await drawer.waitFor({ state: 'detached' })
    const main = await shot(page, 'run-succeeded')
    if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(main, join(ROOT, 'docs/dashboard.png'))
    expect(existsSync(shotPath)).toBe(true)
    await page.emulateMedia({ colorScheme: 'dark' })
    await shot(page, 'run-succeeded-dark')
    await page.close()
  }, 90_000)

  it('pauses, resumes and cancels a run from its page', async () => {
    const id = await startFromCli(4000)
    const page = await signIn(admin)
    await page.goto(`${url}/runs/${id}`)
    await page.locator('[data-testid="run"][data-state="RUNNING"]').waitFor({ timeout: 20_000 })
    await page.getByRole('button', { name: 'Pause' }).click()
    await page.locator('[data-testid="run"][data-state="PAUSED"]').waitFor({ timeout: 15_000 })
    expect((await api<{ state: string }>(`/runs/${id}`, admin)).state).toBe('PAUSED')
    await shot(page, 'run-paused')
    await page.getByRole('button', { name: 'Resume' }).click()
    await page.locator('[data-testid="run"][data-state="RUNNING"]').waitFor({ timeout: 15_000 })
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.locator('[data-testid="run"][data-state="CANCELLED"]').waitFor({ timeout: 15_000 })
    expect((await api<{ state: string }>(`/runs/${id}`, admin)).state).toBe('CANCELLED')
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0)
    const audit = await api<{ entries: { action: string; resource: string }[] }>(
      `/security/audit?resource=${encodeURIComponent(`run:${id}`)}`,
      admin,
    )
    expect(audit.entries.map((e) => e.action)).toEqual(['run.pause', 'run.resume', 'run.cancel'])
    await page.close()
  }, 90_000)

  it('shows no control buttons to keys that may not use them: GUEST, and ANALYST on a run it may read', async () => {
    expect(finished).not.toBe('')
    const issue = async (role: string) =>
      (await api<{ key: string }>('/security/keys', admin, { method: 'POST', json: { name: `ui-${role}`, role } })).key
    const controls = (page: Page) => page.getByTestId('controls').getByRole('button')

    const adminPage = await signIn(admin)
    await adminPage.goto(`${url}/runs/${finished}`)
    await adminPage.getByRole('button', { name: 'Replay', exact: true }).waitFor()
    await adminPage.getByRole('button', { name: 'Replay with changes…' }).waitFor()
    await adminPage.close()

    const analyst = await signIn(await issue('ANALYST'))
    await analyst.goto(`${url}/runs/${finished}`)
    await analyst.locator('[data-testid="run"][data-state="SUCCEEDED"]').waitFor()
    await expect.poll(() => analyst.locator('.react-flow__node.flow-task').count()).toBe(5)
    expect(await controls(analyst).count()).toBe(0)
    await shot(analyst, 'run-analyst')
    await analyst.close()

    const guest = await signIn(await issue('GUEST'))
    expect(await guest.getByTestId('who').textContent()).toContain('GUEST')
    await guest.goto(`${url}/runs/${finished}`)
    await guest.getByRole('alert').waitFor()
    expect(await guest.getByRole('alert').textContent()).toContain('PERMISSION_DENIED')
    expect(await guest.getByRole('button', { name: /Pause|Resume|Cancel|Replay/ }).count()).toBe(0)
    await shot(guest, 'run-guest')
    await guest.close()
  }, 90_000)
})
