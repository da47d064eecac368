import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import type { AlertRaisedEvent, AlertResolvedEvent } from '../../src/core/events.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { AlertMonitor, type AlertMonitorOptions } from '../../src/telemetry/alerts/monitor.js'
import { workflow } from '../../src/workflows/builder.js'

// Each rule kind raises and resolves an alert on real runs of an
// Orchestrator, through its `alerts` option: the alert events reach the
// orchestrator's listeners, and the monitor lists them.

type AlertEvent = AlertRaisedEvent | AlertResolvedEvent

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})

async function setup(
  options: AlertMonitorOptions,
  extra: ConstructorParameters<typeof Orchestrator>[0] = {},
): Promise<{ o: Orchestrator; monitor: AlertMonitor; events: AlertEvent[] }> {
  const monitor = new AlertMonitor({ tickMs: 20, ...options })
  const o = new Orchestrator({ store: 'memory', alerts: monitor, ...extra })
  open.push(monitor, o)
  const events: AlertEvent[] = []
  o.on('alert.raised', (e) => events.push(e))
  o.on('alert.resolved', (e) => events.push(e))
  return { o, monitor, events }
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const one = (agent: string, input: unknown = null) => workflow('one').task('t', { agent, input }).build()

describe('AlertMonitor on an Orchestrator', () => {
  it('errorRate: raised when an agent fails often, resolved (with hysteresis) once it succeeds again', async () => {
    const { o, monitor, events } = await setup({
      rules: [{ kind: 'errorRate', threshold: 0.5, window: 4, minSamples: 4, severity: 'critical' }],
    })
    await o.register(
      defineAgent({
        name: 'flaky',
        handler: (fail: boolean) => {
          if (fail) throw new Error('boom')
          return 'ok'
        },
      }),
    )
    for (const fail of [false, true, false]) await o.run(one('flaky', fail))
    expect(events).toEqual([]) // 3 samples: under minSamples
    await o.run(one('flaky', true)) // 2 of 4 failed: 0.5
    expect(events.map((e) => e.type)).toEqual(['alert.raised'])
    const raised = events[0].alert
    expect(raised).toMatchObject({
      rule: 'errorRate',
      severity: 'critical',
      state: 'raised',
      subject: { agent: 'flaky' },
      value: 0.5,
      threshold: 0.5,
    })
    expect(monitor.alerts()).toEqual([raised])
    // 2 of 4 failed again, then 1 of 4: 0.25 < 0.45 resolves; on the way it does not raise twice.
    await o.run(one('flaky', false))
    await o.run(one('flaky', true))
    expect(events).toHaveLength(1)
    await o.run(one('flaky', false))
    await o.run(one('flaky', false))
    expect(events.map((e) => e.type)).toEqual(['alert.raised', 'alert.resolved'])
    expect(events[1].alert).toMatchObject({ id: raised.id, state: 'resolved', value: 0.25 })
    expect(monitor.alerts({ state: 'raised' })).toEqual([])
    expect(monitor.alerts({ state: 'resolved' })[0].resolvedAt).toBeGreaterThanOrEqual(raised.raisedAt)
  })

  it('taskDurationP95: raised on slow tasks of an agent, resolved when its window is fast again', async () => {
    const { o, events } = await setup({ rules: [{ kind: 'taskDurationP95', threshold: 40, window: 3, minSamples: 3 }] })
    await o.register(defineAgent({ name: 'slow', handler: (ms: number) => new Promise((r) => setTimeout(r, ms)) }))
    for (let i = 0; i < 3; i++) await o.run(one('slow', 60))
    expect(events.map((e) => [e.type, e.alert.subject.agent])).toEqual([['alert.raised', 'slow']])
    expect(events[0].alert.value).toBeGreaterThanOrEqual(40)
    for (let i = 0; i < 3; i++) await o.run(one('slow', 0))
    expect(events.map((e) => e.type)).toEqual(['alert.raised', 'alert.resolved'])
  })

  const priced = (name: string, usage = { inputTokens: 1000, outputTokens: 100 }) =>
    defineLlmAgent({
      name,
      model: scriptedModel([{ text: 'an answer', usage }], { repeatLast: true, modelId: 'm' }),
      prices: { 'scripted:m': { input: 2, output: 10 } }, // $0.003 a call
    })

  it('runCost: raised when a run passes its cost, resolved when the run ends', async () => {
    const { o, events } = await setup({ rules: [{ kind: 'runCost', threshold: 0.005 }] })
    await o.register(priced('asker'))
    const cheap = await o.run(one('asker', 'q'))
    expect(cheap.ok).toBe(true)
    expect(events).toEqual([])
    const r = await o.run(
      workflow('two').task('a', { agent: 'asker', input: 'q1' }).task('b', { agent: 'asker', input: 'q2' }).build(),
    )
    expect(events.map((e) => [e.type, e.alert.subject.run])).toEqual([
      ['alert.raised', r.runId],
      ['alert.resolved', r.runId],
    ])
    expect(events[0].alert.value).toBeCloseTo(0.006, 6)
    expect(events[1].alert.message).toMatch(/the run ended/)
  })

  it('hourlyCost: raised when the spend of the window passes the threshold, resolved as the window slides', async () => {
    const { o, events } = await setup({ rules: [{ kind: 'hourlyCost', threshold: 0.005, windowMs: 1000 }] })
    await o.register(priced('asker'))
    await o.run(one('asker', 'q1'))
    await o.run(one('asker', 'q2'))
    expect(events.map((e) => [e.type, e.alert.subject])).toEqual([['alert.raised', {}]])
    await until(() => events.length === 2, 'the hourly cost alert to resolve')
    // The first call leaves the window first: $0.003 (or $0) is under 0.005 × 0.9.
    expect(events[1].alert.state).toBe('resolved')
    expect(events[1].alert.value).toBeLessThan(0.0045)
  })

  it('budget: raised by a budget warning of a language-model agent, resolved when its run ends', async () => {
    const { o, events } = await setup({ rules: [{ kind: 'budget', threshold: 0.8, severity: 'critical' }] })
    const model = scriptedModel([{ text: 'ok', usage: { inputTokens: 500, outputTokens: 350 } }])
    await o.register(defineLlmAgent({ name: 'warned', model, maxTokens: 100, budget: { task: { tokens: 1000 } } }))
    const r = await o.run(one('warned', 'q'))
    expect(events.map((e) => [e.type, e.alert.subject])).toEqual([
      ['alert.raised', { agent: 'warned', run: r.runId }],
      ['alert.resolved', { agent: 'warned', run: r.runId }],
    ])
    expect(events[0].alert.value).toBeCloseTo(0.85, 6)
  })

  it('anomaly: raised by an agent.anomaly, resolved after a quiet period', async () => {
    const { o, events } = await setup(
      { rules: [{ kind: 'anomaly', threshold: 0, clearAfterMs: 300 }] },
      { anomalies: { warmup: 5 } },
    )
    await o.register(defineAgent({ name: 'steady', handler: (ms: number) => new Promise((r) => setTimeout(r, ms)) }))
    for (let i = 0; i < 6; i++) await o.run(one('steady', 1))
    expect(events).toEqual([])
    await o.run(one('steady', 300))
    expect(events.map((e) => [e.type, e.alert.subject])).toEqual([['alert.raised', { agent: 'steady' }]])
    await until(() => events.length === 2, 'the anomaly alert to clear')
    expect(events[1].alert.message).toMatch(/no new anomaly/)
  })

  it("deadLetters: raised when a registered agent's mailbox holds dead letters, resolved once they are replayed", async () => {
    const { o, events } = await setup({ rules: [{ kind: 'deadLetters', threshold: 1 }] })
    await o.register(defineAgent({ name: 'inbox', handler: () => 'ok' }))
    const id = await o.bus.send('inbox', { hello: 1 })
    for (let i = 0; i < 5; i++) {
      await until(() => true, 'nothing')
      const got = await o.bus.receive('inbox', { visibilityTimeoutMs: 1 })
      if (got.length === 0) i--
      await new Promise((r) => setTimeout(r, 5))
    }
    await until(() => events.length === 1, 'the dead-letter alert')
    expect(events[0].alert).toMatchObject({ rule: 'deadLetters', subject: { agent: 'inbox' }, value: 1 })
    expect(await o.bus.replayDeadLetter('inbox', id)).toBe(true)
    await until(() => events.length === 2, 'the dead-letter alert to resolve')
    expect(events[1].type).toBe('alert.resolved')
  })

  it('resolves the alerts of a rule that changed, and refuses bad rules naming the field', async () => {
    const { o, monitor, events } = await setup({ rules: [{ kind: 'errorRate', threshold: 0.5, minSamples: 1 }] })
    await o.register(defineAgent({ name: 'bad', handler: () => Promise.reject(new Error('no')) }))
    await o.run(one('bad'))
    expect(events.map((e) => e.type)).toEqual(['alert.raised'])
    expect(() => monitor.setRules({ rules: [{ kind: 'errorRate', threshold: 2 }] })).toThrow(
      expect.objectContaining({
        code: 'ALERTS_CONFIG_INVALID',
        details: { field: 'rules.0.threshold', source: 'alerts configuration' },
      }),
    )
    expect(monitor.rules().rules[0].threshold).toBe(0.5)
    monitor.setRules({ rules: [{ kind: 'errorRate', threshold: 0.9, minSamples: 1 }] })
    expect(events.map((e) => e.type)).toEqual(['alert.raised', 'alert.resolved'])
    expect(events[1].alert.message).toMatch(/its rule changed/)
  })
})
