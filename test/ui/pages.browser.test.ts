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
 * The dashboard's Agents, Artifacts and Alerts pages in a real browser
 * (Debian's chromium driven by playwright-core, one launch for the file)
 * against a real `flotilla serve` child process on a SQLite file that
 * governs deployed agents (so it reads their mailboxes): a dead letter is
 * listed and replayed from the Agents page; the lineage of a run's
 * artifacts is drawn as a graph; an alert raised shows a banner without a
 * reload (the live stream, not polling) and goes when resolved; a GUEST or
 * ANALYST key sees no Replay button. Screenshots go to test-artifacts/.
 */
const missing = browserMissing('dashboard page browser tests')

const tmp = tempDir('flotilla-ui-pages-')
let server: BackgroundCli
let url = ''
let admin = ''
let browser: BrowserContext
let inboxId = ''

const api = <T>(path: string, key: string, init?: ApiInit): Promise<T> => callApi<T>(url, path, key, init)

/** Sends a message to the deployed inbox and leaves it unacknowledged for 5 deliveries: the bus dead-letters it. */
async function deadLetter(body: unknown): Promise<string> {
  const { id } = await api<{ id: string }>(`/deployed-agents/${inboxId}/messages`, admin, {
    method: 'POST',
    json: { message: body },
  })
  for (let i = 0; i < 5; i++) {
    await api(`/deployed-agents/${inboxId}/messages/receive`, admin, {
      method: 'POST',
      json: { ack: false, visibilityTimeoutMs: 1 },
    })
    await new Promise((r) => setTimeout(r, 20))
  }
  return id
}

async function signIn(key: string): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(url)
  await page.getByLabel('API key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('who').waitFor()
  return page
}

const issue = async (role: string): Promise<string> =>
  (await api<{ key: string }>('/security/keys', admin, { method: 'POST', json: { name: `pages-${role}`, role } })).key

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}

beforeAll(async () => {
  if (missing !== undefined) return
  ensureBuilt()
  mkdirSync(ARTIFACTS, { recursive: true })
  mkdirSync(join(tmp.dir, 'workflows'))
  mkdirSync(join(tmp.dir, 'modules'))
  writeFiles(tmp.dir, {
    'agents.mjs': `${agentImports()}
export const writer = defineAgent({
  name: 'writer',
  permissions: [{ resource: 'artifact:**', actions: ['read', 'write'] }],
  handler: async (input, ctx) => (await ctx.artifacts.put(input.id, { text: input.text })).version,
})
export const thinker = defineAgent({ name: 'thinker', handler: (n) => n + 1 })
`,
    'modules/inbox.mjs': `${agentImports()}
export default defineAgent({ name: 'inbox', handler: (input) => ({ echo: input }) })
`,
    'workflows/lineage.yaml': `name: lineage
agents: ../agents.mjs
tasks:
  - id: gather
    agent: writer
    input: { id: notes, text: raw }
  - id: think
    agent: thinker
    dependsOn: [gather]
    input: 1
  - id: write
    agent: writer
    dependsOn: [think]
    input: { id: report, text: draft }
  - id: polish
    agent: writer
    dependsOn: [write]
    input: { id: report, text: final }
`,
  })
  ;({ server, url, admin } = await startDashboard(tmp.dir, 'pages.db', ['--agent-modules', 'modules']))
  const deployed = await api<{ id: string }>('/deployed-agents', admin, {
    method: 'POST',
    json: { spec: { name: 'inbox', module: 'inbox.mjs' }, runtime: 'inprocess' },
  })
  inboxId = deployed.id
  await api('/alerts/rules', admin, {
    method: 'PUT',
    json: { rules: [{ id: 'dead', kind: 'deadLetters', threshold: 1, severity: 'critical' }] },
  })
  browser = await launchBrowser(tmp.dir)
}, 90_000)

afterAll(() => stopDashboard(browser, server, tmp), 30_000)

describe.skipIf(missing !== undefined)('the Agents, Artifacts and Alerts pages in chromium', () => {
  it('draws the lineage of a run’s artifacts as a graph, and lists the versions of one', async () => {
    const run = await api<{ id: string }>('/workflows/lineage/runs', admin, { method: 'POST', json: { input: {} } })
    await expect
      .poll(async () => (await api<{ state: string }>(`/runs/${run.id}`, admin)).state, { timeout: 30_000 })
      .toBe('SUCCEEDED')
    const page = await signIn(admin)
    await page.getByRole('link', { name: 'Artifacts' }).click()
    const graph = page.getByTestId('lineage')
    // 3 versions (notes v1, report v1, report v2) and the 3 tasks that wrote them ("think" wrote none)
    await expect.poll(() => graph.locator('.react-flow__node.flow-lineage').count(), { timeout: 15_000 }).toBe(6)
    expect(await graph.locator('.react-flow__node.flow-lineage.artifact').allTextContents()).toEqual(
      expect.arrayContaining(['notes v1', 'report v1', 'report v2']),
    )
    const tasks = await graph.locator('.react-flow__node.flow-lineage.task').allTextContents()
    expect(tasks.map((t) => t.replace(/^⚙\s*/, '')).sort()).toEqual([
      'gather · writer',
      'polish · writer',
      'write · writer',
    ])
    // wrote ×3, revised ×1 (report v1 → v2), upstream ×2 (gather → write past "think", write → polish)
    await expect.poll(() => graph.locator('.react-flow__edge').count()).toBe(6)
    expect(await graph.locator('.react-flow__edge.lineage-revised').count()).toBe(1)
    expect(await graph.locator('.react-flow__edge.lineage-upstream').count()).toBe(2)
    await graph.locator('.react-flow__node.flow-lineage.artifact', { hasText: 'report v2' }).click()
    const versions = page.getByTestId('versions')
    await expect.poll(() => versions.locator('tbody tr').count()).toBe(2)
    expect(await versions.locator('tr[data-version="2"]').textContent()).toContain('v1') // based on v1
    expect(await versions.locator('tr[data-version="2"]').textContent()).toContain('polish')
    await shot(page, 'artifacts-lineage')
    // a task node leads to its run
    await graph.locator('.react-flow__node.flow-lineage.task', { hasText: 'gather' }).click()
    await page.waitForURL(`**/runs/${run.id}`)
    await page.close()
  }, 90_000)

  it('shows a raised alert as a banner without a reload; lists a dead letter and replays it from the Agents page', async () => {
    const page = await signIn(admin)
    const lists: string[] = []
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/alerts') lists.push(r.url())
    })
    await page.getByRole('link', { name: 'Agents' }).click()
    await page.getByText('No dead letters.').waitFor({ timeout: 15_000 })
    const listsBefore = lists.length
    const id = await deadLetter({ order: 42 })

    // the dead-letter rule raises an alert: the banner comes through the live stream
    const banner = page.getByTestId('alert-banners').locator('.banner', { hasText: 'inbox' })
    await banner.waitFor({ timeout: 20_000 })
    expect(await banner.textContent()).toContain('1 dead letter')
    expect(lists.length).toBe(listsBefore) // not read again: pushed
    const row = page.locator(`tr[data-dead-letter="${id}"]`)
    await row.waitFor({ timeout: 20_000 })
    expect(await row.textContent()).toContain('"order":42')
    expect(await row.textContent()).toContain('inbox')
    await shot(page, 'agents-dead-letter')

    await row.getByRole('button', { name: 'Replay' }).click()
    await row.waitFor({ state: 'detached', timeout: 15_000 })
    await banner.waitFor({ state: 'detached', timeout: 20_000 }) // resolved, live
    const left = await api<{ deadLetters: unknown[] }>('/agents/inbox/dead-letters', admin)
    expect(left.deadLetters).toEqual([])
    const [again] = (
      await api<{ messages: { id: string; attempt: number; body: unknown }[] }>(
        `/deployed-agents/${inboxId}/messages/receive`,
        admin,
        { method: 'POST', json: {} },
      )
    ).messages
    expect(again).toMatchObject({ id, attempt: 1, body: { order: 42 } })
    const audit = await api<{ entries: { actor: string; resource: string; outcome: string }[] }>(
      '/security/audit?action=agent.dead-letter.replay',
      admin,
    )
    expect(audit.entries).toEqual([expect.objectContaining({ resource: 'agent:inbox', outcome: 'succeeded' })])

    await page.getByRole('link', { name: 'Alerts' }).click()
    const alertRow = page.getByTestId('alerts').locator('tr.resolved', { hasText: 'inbox' })
    await alertRow.waitFor()
    await shot(page, 'alerts-resolved')
    await page.close()
  }, 90_000)

  it('shows no Replay button to keys that may not replay: ANALYST reads the dead letter, GUEST not even that', async () => {
    const id = await deadLetter({ order: 7 })
    const adminPage = await signIn(admin)
    await adminPage.getByRole('link', { name: 'Agents' }).click()
    await adminPage
      .locator(`tr[data-dead-letter="${id}"]`)
      .getByRole('button', { name: 'Replay' })
      .waitFor({ timeout: 20_000 })
    await adminPage.close()

    const analyst = await signIn(await issue('ANALYST'))
    const asked = analyst.waitForResponse((r) =>
      r.url().includes('/security/whoami?resource=agent%3Ainbox&action=send'),
    )
    await analyst.getByRole('link', { name: 'Agents' }).click()
    const row = analyst.locator(`tr[data-dead-letter="${id}"]`)
    await row.waitFor({ timeout: 20_000 })
    expect(((await (await asked).json()) as { allowed: boolean }).allowed).toBe(false)
    expect(await analyst.getByRole('button', { name: 'Replay' }).count()).toBe(0)
    await analyst.getByTestId('alert-banners').waitFor({ timeout: 20_000 }) // it may read alerts
    await shot(analyst, 'agents-analyst')
    await analyst.close()

    const guest = await signIn(await issue('GUEST'))
    const deadLetterCalls: string[] = []
    guest.on('request', (r) => {
      if (r.url().includes('/dead-letters')) deadLetterCalls.push(r.url())
    })
    await guest.getByRole('link', { name: 'Agents' }).click()
    await guest.getByText('This key may not read the agents’ mailboxes.').waitFor({ timeout: 15_000 })
    expect(await guest.getByRole('button', { name: 'Replay' }).count()).toBe(0)
    expect(deadLetterCalls).toEqual([]) // not asked, so not refused
    expect(await guest.getByTestId('alert-banners').count()).toBe(0)
    await shot(guest, 'agents-guest')
    await guest.close()
  }, 90_000)
})
