import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentImports, ensureBuilt, tempDir, writeFiles, type BackgroundCli } from '../cli/run-cli.js'
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
 * Debug mode and replay with changes on the run page, in Debian's chromium
 * (playwright-core) against a real `flotilla serve` on a SQLite file: a run
 * started with `breakOnError` pauses at its failing task, which the page
 * highlights with Resume and Replay-with-changes controls; resuming retries
 * the task; a replay with an edited task input, started from the page, runs
 * and succeeds, keeping the results of the tasks before it. One browser for
 * the file.
 */
const missing = browserMissing('run page debug browser tests')

const tmp = tempDir('flotilla-ui-debug-')
let server: BackgroundCli
let url = ''
let admin = ''
let browser: BrowserContext

interface ApiRun {
  id: string
  state: string
  parentRunId: string | null
}
interface ApiTask {
  taskId: string
  state: string
  attempt: number
  output: unknown
  startedAt: number | null
}

const api = <T>(path: string, key: string, init?: ApiInit): Promise<T> => callApi<T>(url, path, key, init)

async function signIn(key: string): Promise<Page> {
  const page = await browser.newPage()
  page.on('dialog', (d) => void d.accept())
  await page.goto(url)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('who').waitFor()
  return page
}

/** Starts a run of `checked` through the API with break on error (and debug). */
async function startBreaking(ok: boolean): Promise<string> {
  const run = await api<ApiRun>('/workflows/checked/runs', admin, {
    method: 'POST',
    json: { input: { ok }, debug: true, breakOnError: true },
  })
  return run.id
}

async function waitState(id: string, state: string): Promise<void> {
  await expect.poll(async () => (await api<ApiRun>(`/runs/${id}`, admin)).state, { timeout: 30_000 }).toBe(state)
}

beforeAll(async () => {
  if (missing !== undefined) return
  ensureBuilt()
  mkdirSync(ARTIFACTS, { recursive: true })
  mkdirSync(join(tmp.dir, 'workflows'))
  writeFiles(tmp.dir, {
    'agents.mjs': `${agentImports()}
export const prep = defineAgent({ name: 'prep', handler: async (input) => ({ prepared: input }) })
export const picky = defineAgent({
  name: 'picky',
  handler: async (input) => {
    if (input.ok !== true) throw new Error('picky wants ok: true, got ' + JSON.stringify(input))
    return { checked: true }
  },
})
`,
    'workflows/checked.yaml': `name: checked
agents: ../agents.mjs
inputs:
  ok: { type: boolean, default: false }
tasks:
  - id: prep
    agent: prep
    input: 1
  - id: check
    agent: picky
    dependsOn: [prep]
    retry: { maxAttempts: 1 }
    input: { ok: { $ref: input.ok } }
  - id: after
    agent: prep
    dependsOn: [check]
    input: 2
`,
  })
  ;({ server, url, admin } = await startDashboard(tmp.dir, 'ui.db'))
  browser = await launchBrowser(tmp.dir)
}, 90_000)

afterAll(() => stopDashboard(browser, server, tmp), 30_000)

describe.skipIf(missing !== undefined)('debug mode and replay with changes on the run page', () => {
  let paused = ''

  it('highlights the task a break on error stopped at; Resume retries it (and the run breaks again)', async () => {
    paused = await startBreaking(false)
    await waitState(paused, 'PAUSED')
    const page = await signIn(admin)
    await page.goto(`${url}/runs/${paused}`)
    const banner = page.getByTestId('break')
    await banner.waitFor({ timeout: 20_000 })
    expect(await banner.getAttribute('data-task')).toBe('check')
    expect(await banner.textContent()).toContain('picky wants ok: true')
    expect(await banner.textContent()).toContain('attempt 1')
    expect(await page.locator('h1').textContent()).toContain('break on error')
    // The failing task stands out in the graph and in the list; the rest do not.
    await expect.poll(() => page.locator('.react-flow__node.break').allTextContents()).toEqual(['check'])
    expect(await page.locator('[data-testid="tasks"] .taskrow.break').getAttribute('data-task')).toBe('check')
    await page.screenshot({ path: join(ARTIFACTS, 'run-break-on-error.png'), fullPage: true })
    await banner.getByRole('button', { name: 'Show check' }).click()
    await expect.poll(() => page.getByTestId('drawer').textContent()).toContain('picky wants ok: true')
    await page.keyboard.press('Escape')

    await banner.getByRole('button', { name: 'Resume: retry check' }).click()
    // The retry fails too: the run breaks again, at attempt 2, and the page follows.
    await expect.poll(() => page.getByTestId('break').textContent(), { timeout: 30_000 }).toContain('attempt 2')
    await page.locator('[data-testid="run"][data-state="PAUSED"]').waitFor()
    const tasks = await api<{ tasks: ApiTask[] }>(`/runs/${paused}/tasks`, admin)
    // Not failed: held for its next attempt (RETRYING, or READY once offered again), after two.
    const check = tasks.tasks.find((t) => t.taskId === 'check')
    expect(check?.attempt).toBe(2)
    expect(['RETRYING', 'READY']).toContain(check?.state)
    await page.close()
  }, 90_000)

  it('replays from the failing task with an edited input: the new run succeeds and keeps what ran before', async () => {
    expect(paused).not.toBe('')
    const before = await api<{ tasks: ApiTask[] }>(`/runs/${paused}/tasks`, admin)
    const page = await signIn(admin)
    await page.goto(`${url}/runs/${paused}`)
    await page.getByTestId('break').getByRole('button', { name: 'Replay from check with changes…' }).click()
    const dialog = page.getByTestId('replay-dialog')
    await dialog.waitFor()
    expect(await dialog.getByLabel('From task').inputValue()).toBe('check')
    const input = dialog.getByLabel('Task input')
    expect(JSON.parse(await input.inputValue())).toEqual({ ok: { $ref: 'input.ok' } })
    // A typo is caught in the page, before anything is sent.
    await input.fill('{ "ok": tru }')
    await dialog.getByRole('button', { name: 'Start replay' }).click()
    await expect.poll(() => dialog.getByRole('alert').textContent()).toContain('The input of check is not JSON')
    await input.fill('{ "ok": true }')
    expect(await dialog.getByLabel('Cancel this paused run').isChecked()).toBe(true)
    await page.screenshot({ path: join(ARTIFACTS, 'run-replay-dialog.png'), fullPage: true })
    await dialog.getByRole('button', { name: 'Start replay' }).click()
    // The page moves to the new run, which replays the paused one and succeeds.
    await page.waitForURL((u) => u.pathname.startsWith('/runs/') && !u.pathname.endsWith(paused), { timeout: 15_000 })
    const replayId = decodeURIComponent(new URL(page.url()).pathname.split('/')[2] ?? '')
    await page.locator('[data-testid="run"][data-state="SUCCEEDED"]').waitFor({ timeout: 30_000 })
    expect(await page.getByText(`Replays ${paused}`).count()).toBe(1)
    const replay = await api<ApiRun>(`/runs/${replayId}`, admin)
    expect(replay).toMatchObject({ state: 'SUCCEEDED', parentRunId: paused })
    const tasks = await api<{ tasks: ApiTask[] }>(`/runs/${replayId}/tasks`, admin)
    const byId = new Map(tasks.tasks.map((t) => [t.taskId, t]))
    expect(byId.get('check')?.output).toEqual({ checked: true })
    // prep was kept from the paused run (same start), not run again.
    expect(byId.get('prep')?.startedAt).toBe(before.tasks.find((t) => t.taskId === 'prep')?.startedAt)
    // The paused run was cancelled with it; the audit log has the replay and the cancel, by the admin key.
    await waitState(paused, 'CANCELLED')
    const audit = await api<{ entries: { action: string }[] }>(
      `/security/audit?resource=${encodeURIComponent(`run:${paused}`)}`,
      admin,
    )
    expect(audit.entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(['run.resume', 'run.replay', 'run.cancel']),
    )
    await page.close()
  }, 90_000)

  it('replays a finished run with a changed run input, child runs re-run, from the Replay-with-changes button', async () => {
    const id = await startBreaking(true)
    await waitState(id, 'SUCCEEDED')
    const page = await signIn(admin)
    await page.goto(`${url}/runs/${id}`)
    await page.locator('[data-testid="run"][data-state="SUCCEEDED"]').waitFor({ timeout: 20_000 })
    expect(await page.getByTestId('break').count()).toBe(0)
    await page.getByTestId('controls').getByRole('button', { name: 'Replay with changes…' }).click()
    const dialog = page.getByTestId('replay-dialog')
    await dialog.waitFor()
    await dialog.getByLabel('From task').selectOption('')
    await dialog.getByLabel('Run input').fill('{ "ok": false }')
    await dialog.getByLabel('Child runs').selectOption('rerun')
    const sent = page.waitForRequest((r) => r.url().endsWith(`/runs/${id}/replay`))
    await dialog.getByRole('button', { name: 'Start replay' }).click()
    expect((await sent).postDataJSON()).toEqual({ input: { ok: false }, children: 'rerun' })
    // The new input fails check; this run has no break on error, so the replay fails.
    await page.locator('[data-testid="run"][data-state="FAILED"]').waitFor({ timeout: 30_000 })
    await page.close()
  }, 90_000)

  it('shows the break to an ANALYST without Resume or Replay buttons', async () => {
    const id = await startBreaking(false)
    await waitState(id, 'PAUSED')
    const key = (
      await api<{ key: string }>('/security/keys', admin, {
        method: 'POST',
        json: { name: 'ui-debug-analyst', role: 'ANALYST' },
      })
    ).key
    const page = await signIn(key)
    await page.goto(`${url}/runs/${id}`)
    const banner = page.getByTestId('break')
    await banner.waitFor({ timeout: 20_000 })
    await banner.getByRole('button', { name: 'Show check' }).waitFor()
    expect(await page.getByRole('button', { name: /Resume|Replay|Cancel/ }).count()).toBe(0)
    await page.close()
  }, 90_000)
})
