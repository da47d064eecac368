import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import type { Logger } from '../../src/telemetry/telemetry.js'
import { loadAlertsFile, parseAlertsConfig } from '../../src/telemetry/alerts/config.js'
import { AlertMonitor } from '../../src/telemetry/alerts/monitor.js'
import { verifyAlertSignature, type WebhookOutcome } from '../../src/telemetry/alerts/webhook.js'
import { workflow } from '../../src/workflows/builder.js'

// The alert webhook against a real local HTTP server: signed bodies, retries
// with backoff, giving up with a logged error, and a run never waiting on it.

const SECRET = 'a shared secret for the tests'

interface Received {
  headers: IncomingMessage['headers']
  body: string
}

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** A webhook receiver answering each request with the status `answer` gives (`hang`: never answers). */
async function receiver(answer: (index: number) => number | 'hang'): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const status = answer(got.length)
      got.push({ headers: req.headers, body })
      if (status !== 'hang') res.writeHead(status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

function memoryLogger(): Logger & { errors: Array<{ data: Record<string, unknown>; message: string }> } {
  const errors: Array<{ data: Record<string, unknown>; message: string }> = []
  const logger = {
    errors,
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (data: Record<string, unknown>, message: string) => void errors.push({ data, message }),
    child: () => logger,
  }
  return logger
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** An orchestrator whose one failing run raises an errorRate alert. */
async function failingRun(monitor: AlertMonitor): Promise<{ took: number }> {
  const o = new Orchestrator({ store: 'memory', alerts: monitor })
  closers.push(() => o.close())
  await o.register(defineAgent({ name: 'bad', handler: () => Promise.reject(new Error('no')) }))
  const start = Date.now()
  const r = await o.run(workflow('w').task('t', { agent: 'bad' }).build())
  expect(r.state).toBe('FAILED')
  return { took: Date.now() - start }
}

const rules = [{ kind: 'errorRate' as const, threshold: 0.5, minSamples: 1 }]

describe('the alert webhook', () => {
  it('POSTs a JSON body signed with HMAC-SHA256 over timestamp and body, retrying a 500', async () => {
    const hook = await receiver((i) => (i === 0 ? 500 : 204))
    const outcomes: WebhookOutcome[] = []
    const monitor = new AlertMonitor({
      rules,
      webhook: { url: hook.url, secret: SECRET, backoffMs: 20 },
      onWebhook: (o) => outcomes.push(o),
    })
    closers.push(() => monitor.close())
    await failingRun(monitor)
    await until(() => outcomes.length === 1, 'the delivery')
    expect(outcomes[0]).toMatchObject({ ok: true, attempts: 2, status: 204 })
    expect(hook.got).toHaveLength(2)
    const [first, second] = hook.got
    expect(second.headers['x-flotilla-delivery']).toBe(first.headers['x-flotilla-delivery'])
    expect(second.headers['content-type']).toBe('application/json')
    const body = JSON.parse(second.body) as { type: string; alert: { rule: string; subject: unknown } }
    expect(body).toMatchObject({ type: 'alert.raised', alert: { rule: 'errorRate', subject: { agent: 'bad' } } })
    const check = (r: Received, secret = SECRET, body = r.body) =>
      verifyAlertSignature({
        secret,
        body,
        timestamp: r.headers['x-flotilla-timestamp'] as string,
        signature: r.headers['x-flotilla-signature'] as string,
      })
    expect(check(second)).toBe(true)
    expect(check(second, 'another secret of 16 chars')).toBe(false)
    expect(check(second, SECRET, second.body.replace('errorRate', 'errorRatf'))).toBe(false)
    // A captured request replayed later is refused by its timestamp.
    expect(
      verifyAlertSignature({
        secret: SECRET,
        body: second.body,
        timestamp: second.headers['x-flotilla-timestamp'] as string,
        signature: second.headers['x-flotilla-signature'] as string,
        now: Date.now() + 600_000,
      }),
    ).toBe(false)
  })

  it('gives up after maxAttempts with a logged error, and a hanging webhook never holds up a run', async () => {
    const failing = await receiver(() => 503)
    const logger = memoryLogger()
    const outcomes: WebhookOutcome[] = []
    const monitor = new AlertMonitor({
      rules,
      logger,
      webhook: { url: failing.url, maxAttempts: 3, backoffMs: 10 },
      onWebhook: (o) => outcomes.push(o),
    })
    closers.push(() => monitor.close())
    await failingRun(monitor)
    await until(() => outcomes.length === 1, 'the delivery to give up')
    expect(failing.got).toHaveLength(3)
    expect(outcomes[0]).toMatchObject({ ok: false, attempts: 3, status: 503 })
    expect(logger.errors).toHaveLength(1)
    expect(logger.errors[0].message).toMatch(/gave up after 3 attempt\(s\) \(HTTP 503\)/)
    expect(failing.got[0].headers['x-flotilla-signature']).toBeUndefined()

    const hanging = await receiver(() => 'hang')
    const slow = new AlertMonitor({ rules, webhook: { url: hanging.url, timeoutMs: 60_000 } })
    closers.push(() => slow.close(10))
    const { took } = await failingRun(slow)
    await until(() => hanging.got.length === 1, 'the hanging request')
    expect(took).toBeLessThan(30_000)
    expect(slow.alerts()).toHaveLength(1)
  })
})

describe('alerts configuration', () => {
  it('names the bad field in a typed error', () => {
    const bad: Array<[unknown, string]> = [
      [{ rules: [{ kind: 'errorRate' }] }, 'rules.0.threshold'],
      [{ rules: [{ kind: 'latency', threshold: 1 }] }, 'rules.0.kind'],
      [{ rules: [{ kind: 'runCost', threshold: 1, severity: 'fatal' }] }, 'rules.0.severity'],
      [{ rules: [{ kind: 'runCost', threshold: 1, colour: 'red' }] }, 'rules.0'],
      [
        {
          rules: [
            { kind: 'runCost', threshold: 1 },
            { kind: 'runCost', threshold: 2 },
          ],
        },
        'rules.1.id',
      ],
      [{ rules: [], webhook: { url: 'ftp://x' } }, 'webhook.url'],
      [{ rules: [], webhook: { url: 'http://x', secret: 'short' } }, 'webhook.secret'],
      [[], '(root)'],
    ]
    for (const [value, field] of bad) {
      let error: unknown
      try {
        parseAlertsConfig(value)
      } catch (e) {
        error = e
      }
      expect(error, field).toMatchObject({ code: 'ALERTS_CONFIG_INVALID', details: { field } })
      expect((error as Error).message).toContain(`"${field}"`)
    }
  })

  it('reads a YAML file, filling in defaults and ${VAR} secrets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alerts-'))
    const path = join(dir, 'alerts.yaml')
    process.env.FLOTILLA_TEST_ALERT_SECRET = SECRET
    await writeFile(
      path,
      [
        'rules:',
        '  - kind: errorRate',
        '    threshold: 0.25',
        '  - id: big-runs',
        '    kind: runCost',
        '    threshold: 2',
        '    severity: critical',
        'webhook:',
        '  url: http://127.0.0.1:9/hook',
        '  secret: ${FLOTILLA_TEST_ALERT_SECRET}',
      ].join('\n'),
    )
    const config = await loadAlertsFile(path)
    expect(config.rules).toEqual([
      { id: 'errorRate', kind: 'errorRate', threshold: 0.25, severity: 'warning', hysteresis: 0.1 },
      { id: 'big-runs', kind: 'runCost', threshold: 2, severity: 'critical', hysteresis: 0.1 },
    ])
    expect(config.webhook).toEqual({ url: 'http://127.0.0.1:9/hook', secret: SECRET })
    await writeFile(path, 'rules:\n  - kind: budget\n    threshold: 80\n')
    await expect(loadAlertsFile(path)).rejects.toMatchObject({
      code: 'ALERTS_CONFIG_INVALID',
      details: { field: 'rules.0.threshold', source: `alerts file ${path}` },
    })
    await expect(loadAlertsFile(join(dir, 'none.yaml'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' })
  })
})
