import { describe, expect, it } from 'vitest'
import { FlotillaError, nonRetryable } from '../../src/core/errors.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { agent, deferred, flush, Gates, within, type AgentContext, type Deferred } from './helpers.js'

function setup(options: ConstructorParameters<typeof Orchestrator>[0] = {}): {
  clock: FakeClock
  o: Orchestrator
  events: FlotillaEvent[]
} {
  const clock = new FakeClock()
  const o = new Orchestrator({ clock, random: () => 0.5, ...options })
  const events: FlotillaEvent[] = []
  o.on('*', (e) => events.push(e))
  return { clock, o, events }
}

describe('retries', () => {
  it('retries a flaky handler until it succeeds on attempt 3, with the same idempotency key', async () => {
    const { clock, o, events } = setup()
    const seen: { attempt: number; key: string; at: number }[] = []
    await o.register(
      agent('flaky', (_x, ctx) => {
        seen.push({ attempt: ctx.attempt, key: ctx.idempotencyKey, at: clock.now() })
        if (ctx.attempt < 3) throw new Error(`flake ${ctx.attempt}`)
        return 'finally'
      }),
    )
    const h = o.start(
      workflow('retry')
        .task('t', { agent: 'flaky', retry: { maxAttempts: 3, initialDelayMs: 100, multiplier: 2 } })
        .build(),
    )
    await flush()
    expect(seen.map((s) => s.attempt)).toEqual([1])
    // Backoff with full jitter and random 0.5: 0.5 × 100 = 50 ms, then 0.5 × 200 = 100 ms.
    await clock.advance(49)
    expect(seen).toHaveLength(1)
    await clock.advance(1)
    expect(seen).toHaveLength(2)
    await clock.advance(99)
    expect(seen).toHaveLength(2)
    await clock.advance(1)
    const result = await within(h.result)
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3])
    expect(seen.map((s) => s.at)).toEqual([0, 50, 150])
    expect(new Set(seen.map((s) => s.key))).toEqual(new Set([`${h.id}:t`]))
    expect(result.ok).toBe(true)
    expect(result.tasks.t).toMatchObject({ state: 'SUCCEEDED', attempts: 3, output: 'finally' })
    const stored = (await o.getTasks(h.id))[0]
    expect(stored).toMatchObject({
      state: 'SUCCEEDED',
      attempt: 3,
      output: 'finally',
      error: undefined,
      idempotencyKey: `${h.id}:t`,
    })
    const retrying = events.filter((e) => e.type === 'task.retrying')
    expect(retrying.map((e) => [e.attempt, e.delayMs, e.error.message])).toEqual([
      [1, 50, 'flake 1'],
      [2, 100, 'flake 2'],
    ])
  })

  it('caps the backoff at maxDelayMs', async () => {
    const { clock, o, events } = setup()
    let calls = 0
    await o.register(
      agent('flaky', () => {
        if (++calls < 4) throw new Error('again')
        return calls
      }),
    )
    const h = o.start(
      workflow('cap')
        .task('t', { agent: 'flaky', retry: { maxAttempts: 5, initialDelayMs: 100, multiplier: 10, maxDelayMs: 300 } })
        .build(),
    )
    await clock.advance(1000)
    await within(h.result)
    expect(events.filter((e) => e.type === 'task.retrying').map((e) => e.delayMs)).toEqual([50, 150, 150])
  })

  it('fails after maxAttempts with the last error', async () => {
    const { clock, o } = setup()
    let calls = 0
    await o.register(
      agent('broken', () => {
        throw new Error(`broken ${++calls}`)
      }),
    )
    const h = o.start(
      workflow('exhaust')
        .task('t', { agent: 'broken', retry: { maxAttempts: 3, initialDelayMs: 10 } })
        .build(),
    )
    await clock.advance(100)
    const result = await within(h.result)
    expect(calls).toBe(3)
    expect(result.state).toBe('FAILED')
    expect(result.tasks.t).toMatchObject({ state: 'FAILED', attempts: 3 })
    expect(result.tasks.t.error).toMatchObject({ code: 'TASK_FAILED', message: 'broken 3' })
    expect((await o.getTasks(h.id))[0]).toMatchObject({
      state: 'FAILED',
      attempt: 3,
      error: { code: 'TASK_FAILED', message: 'broken 3' },
    })
  })

  it('does not retry an error marked nonRetryable', async () => {
    const { clock, o } = setup()
    let calls = 0
    await o.register(
      agent('strict', () => {
        calls++
        throw nonRetryable(new Error('the document is not UTF-8'))
      }),
    )
    const h = o.start(
      workflow('nr')
        .task('t', { agent: 'strict', retry: { maxAttempts: 5, initialDelayMs: 1 } })
        .build(),
    )
    await clock.advance(100)
    const result = await within(h.result)
    expect(calls).toBe(1)
    expect(result.tasks.t.error).toMatchObject({
      code: 'TASK_NON_RETRYABLE',
      message: 'the document is not UTF-8',
      retryable: false,
    })
    expect(result.error?.code).toBe('TASK_NON_RETRYABLE')
    expect((await o.getTasks(h.id))[0]).toMatchObject({ state: 'FAILED', attempt: 1 })
  })

  it('does not retry codes listed in nonRetryableCodes', async () => {
    const { clock, o } = setup()
    let calls = 0
    await o.register(
      agent('plain', () => {
        calls++
        throw new Error('plain failure')
      }),
    )
    await o.register(
      agent('busy', () => {
        calls++
        throw new FlotillaError('AGENT_UNAVAILABLE', 'upstream is down')
      }),
    )
    const h = o.start(
      workflow('codes')
        .task('t', { agent: 'plain', retry: { maxAttempts: 4, initialDelayMs: 1, nonRetryableCodes: ['TASK_FAILED'] } })
        .build(),
    )
    await clock.advance(100)
    expect((await within(h.result)).tasks.t).toMatchObject({ state: 'FAILED', attempts: 1 })
    expect(calls).toBe(1)
    calls = 0
    const h2 = o.start(
      workflow('codes2')
        .task('t', {
          agent: 'busy',
          retry: { maxAttempts: 4, initialDelayMs: 1, nonRetryableCodes: ['AGENT_UNAVAILABLE'] },
        })
        .build(),
    )
    await clock.advance(100)
    expect((await within(h2.result)).tasks.t.error?.code).toBe('AGENT_UNAVAILABLE')
    expect(calls).toBe(1)
    calls = 0
    const h3 = o.start(
      workflow('codes3')
        .task('t', { agent: 'busy', retry: { maxAttempts: 4, initialDelayMs: 1 } })
        .build(),
    )
    await clock.advance(100)
    expect((await within(h3.result)).tasks.t.attempts).toBe(4)
    expect(calls).toBe(4)
  })

  it('turns a thrown string into TASK_FAILED with a message saying what to do', async () => {
    const { o } = setup()
    await o.register(
      agent('stringy', () => {
        throw 'disk full'
      }),
    )
    await o.register(
      agent('nully', async () => {
        throw null
      }),
    )
    const result = await within(o.run(workflow('str').task('t', { agent: 'stringy' }).build()))
    const err = result.tasks.t.error!
    expect(err.code).toBe('TASK_FAILED')
    expect(err.message).toContain('disk full')
    expect(err.message).toContain('Throw an Error')
    expect(result.error?.message).toContain('Task "t" failed')
    expect(result.error?.message).toContain('disk full')
    const nully = await within(o.run(workflow('null').task('t', { agent: 'nully' }).build()))
    expect(nully.tasks.t.error?.code).toBe('TASK_FAILED')
    expect(nully.tasks.t.error?.message).toContain('null')
  })
})

describe('timeouts', () => {
  it('fails a handler that never settles with TASK_TIMEOUT and aborts its signal', async () => {
    const { clock, o } = setup()
    let signal: AbortSignal | undefined
    await o.register(
      agent('hang', (_x, ctx) => {
        signal = ctx.signal
        return new Promise(() => undefined)
      }),
    )
    const h = o.start(workflow('to').task('t', { agent: 'hang', timeoutMs: 1000 }).build())
    await flush()
    expect(signal?.aborted).toBe(false)
    await clock.advance(999)
    expect(signal?.aborted).toBe(false)
    expect((await o.getTasks(h.id))[0].state).toBe('RUNNING')
    await clock.advance(1)
    const result = await within(h.result)
    expect(signal?.aborted).toBe(true)
    expect(signal?.reason).toMatchObject({ code: 'TASK_TIMEOUT' })
    expect(result.state).toBe('FAILED')
    expect(result.tasks.t.error).toMatchObject({
      code: 'TASK_TIMEOUT',
      details: { taskId: 't', timeoutMs: 1000, attempt: 1 },
    })
    expect(result.tasks.t.error?.message).toContain('1000 ms')
    expect(result.error?.code).toBe('TASK_TIMEOUT')
    expect((await o.getTasks(h.id))[0]).toMatchObject({ state: 'FAILED', error: { code: 'TASK_TIMEOUT' } })
  })

  it('ignores a late result after a timeout: the stored result stays the timeout', async () => {
    const { clock, o } = setup()
    const late = deferred<string>()
    await o.register(agent('slow', () => late.promise))
    const h = o.start(workflow('late').task('t', { agent: 'slow', timeoutMs: 50 }).build())
    await clock.advance(50)
    const result = await within(h.result)
    expect(result.tasks.t.state).toBe('FAILED')
    late.resolve('too late')
    await flush()
    expect((await o.getTasks(h.id))[0]).toMatchObject({
      state: 'FAILED',
      output: undefined,
      error: { code: 'TASK_TIMEOUT' },
    })
    expect(result.output('t')).toBeUndefined()
    expect((await o.listEvents(h.id)).some((e) => e.event.type === 'task.succeeded')).toBe(false)
  })

  it('retries a timed-out attempt and discards the first attempt when it resolves late', async () => {
    const { clock, o } = setup()
    const attempts: Deferred<string>[] = []
    const signals: AbortSignal[] = []
    await o.register(
      agent('slow', (_x, ctx: AgentContext) => {
        signals.push(ctx.signal)
        const d = deferred<string>()
        attempts.push(d)
        return d.promise
      }),
    )
    const h = o.start(
      workflow('late2')
        .task('t', { agent: 'slow', timeoutMs: 100, retry: { maxAttempts: 2, initialDelayMs: 0 } })
        .build(),
    )
    await clock.advance(100)
    await flush()
    expect(attempts).toHaveLength(2)
    expect(signals[0].aborted).toBe(true)
    expect(signals[1].aborted).toBe(false)
    attempts[0].resolve('stale')
    await flush()
    expect((await o.getTasks(h.id))[0]).toMatchObject({ state: 'RUNNING', attempt: 2, output: undefined })
    attempts[1].resolve('fresh')
    const result = await within(h.result)
    expect(result.output('t')).toBe('fresh')
    expect((await o.getTasks(h.id))[0]).toMatchObject({ state: 'SUCCEEDED', attempt: 2, output: 'fresh' })
  })

  it('takes timeoutMs from the workflow defaults', async () => {
    const { clock, o } = setup()
    await o.register(agent('hang', () => new Promise(() => undefined)))
    const h = o.start({ name: 'dflt', defaults: { timeoutMs: 30 }, tasks: [{ id: 't', agent: 'hang' }] })
    await clock.advance(30)
    expect((await within(h.result)).tasks.t.error?.code).toBe('TASK_TIMEOUT')
  })
})

describe('circuit breaker', () => {
  it('opens after 5 consecutive failures, refuses the next task with CIRCUIT_OPEN, and lets one probe through after the cooldown', async () => {
    const { clock, o } = setup({ circuitBreaker: { cooldownMs: 1000 } })
    let calls = 0
    let healthy = false
    let probing = false
    let startedDuringProbe = 0
    await o.register(
      agent('fragile', async () => {
        calls++
        if (probing) startedDuringProbe++
        const isProbe = healthy && calls === 6
        if (isProbe) probing = true
        try {
          await flush(1)
          if (!healthy) throw new Error('down')
          return 'up'
        } finally {
          if (isProbe) probing = false
        }
      }),
    )
    const b = workflow('cb')
    const ids = ['f1', 'f2', 'f3', 'f4', 'f5'] as const
    for (const id of ids) b.task(id, { agent: 'fragile', continueOnFailure: true })
    const wf = b.task('next', { agent: 'fragile', dependsOn: [...ids] as never[] }).build()
    const result = await within(o.run(wf, undefined, { concurrency: 1 }))
    expect(calls).toBe(5)
    expect(o.metrics()['fragile@1.0.0']).toMatchObject({ circuit: 'OPEN', calls: 5, errors: 5 })
    expect(result.tasks.next).toMatchObject({ state: 'FAILED', attempts: 1 })
    expect(result.tasks.next.error?.code).toBe('CIRCUIT_OPEN')
    expect(result.error?.code).toBe('CIRCUIT_OPEN')
    expect((await o.getTasks(result.runId)).find((t) => t.taskId === 'next')).toMatchObject({
      state: 'FAILED',
      error: { code: 'CIRCUIT_OPEN' },
    })

    // Still open before the cooldown ends.
    await clock.advance(999)
    const early = await within(o.run(workflow('cb2').task('t', { agent: 'fragile' }).build()))
    expect(early.tasks.t.error?.code).toBe('CIRCUIT_OPEN')
    expect(calls).toBe(5)

    // After the cooldown one probe goes through; its success closes the circuit.
    await clock.advance(1)
    healthy = true
    const after = await within(
      o.run(
        workflow('cb3')
          .task('p1', { agent: 'fragile' })
          .task('p2', { agent: 'fragile' })
          .task('p3', { agent: 'fragile' })
          .build(),
      ),
    )
    expect(after.ok).toBe(true)
    expect(calls).toBe(8)
    // Nothing else started while the probe was out.
    expect(startedDuringProbe).toBe(0)
    expect(o.metrics()['fragile@1.0.0'].circuit).toBe('CLOSED')
  })

  it('runs the tasks that waited behind the probe in parallel once it closes the circuit', async () => {
    const { clock, o } = setup({ circuitBreaker: { cooldownMs: 100, failureThreshold: 1 } })
    const gates = new Gates()
    let healthy = false
    await o.register(
      agent('recovering', async (x) => {
        if (!healthy) throw new Error('down')
        return gates.pass(String(x))
      }),
    )
    await within(o.run(workflow('trip').task('a', { agent: 'recovering' }).build()))
    expect(o.metrics()['recovering@1.0.0'].circuit).toBe('OPEN')
    await clock.advance(100)
    healthy = true
    const h = o.start(
      workflow('wave')
        .task('p1', { agent: 'recovering', input: 'p1' })
        .task('p2', { agent: 'recovering', input: 'p2' })
        .task('p3', { agent: 'recovering', input: 'p3' })
        .task('p4', { agent: 'recovering', input: 'p4' })
        .build(),
    )
    await flush()
    expect(gates.open).toEqual(['p1'])
    gates.release('p1')
    await flush()
    expect(o.metrics()['recovering@1.0.0'].circuit).toBe('CLOSED')
    // The instance has no concurrency limit: the three waiting tasks start together.
    expect(gates.open.sort()).toEqual(['p2', 'p3', 'p4'])
    gates.releaseAll()
    await gates.drive(h.result)
    expect((await h.result).ok).toBe(true)
  })

  it('opens again when the probe fails', async () => {
    const { clock, o } = setup({ circuitBreaker: { cooldownMs: 500, failureThreshold: 2 } })
    let calls = 0
    await o.register(
      agent('dead', () => {
        calls++
        throw new Error('still down')
      }),
    )
    await within(
      o.run(
        workflow('o1')
          .task('a', { agent: 'dead', continueOnFailure: true })
          .task('b', { agent: 'dead', continueOnFailure: true, dependsOn: ['a'] })
          .build(),
      ),
    )
    expect(o.metrics()['dead@1.0.0'].circuit).toBe('OPEN')
    await clock.advance(500)
    expect(o.metrics()['dead@1.0.0'].circuit).toBe('HALF_OPEN')
    const probe = await within(o.run(workflow('o2').task('p', { agent: 'dead' }).build()))
    expect(probe.tasks.p.error?.code).toBe('TASK_FAILED')
    expect(calls).toBe(3)
    expect(o.metrics()['dead@1.0.0'].circuit).toBe('OPEN')
  })
})

describe('fallback agent', () => {
  it('runs the fallback once the primary attempts are exhausted, and records it as the task agent', async () => {
    const { clock, o, events } = setup()
    const calls: string[] = []
    await o.register(
      agent('primary', (_x, ctx) => {
        calls.push(`primary#${ctx.attempt}`)
        throw new Error('primary down')
      }),
    )
    await o.register(
      agent(
        'backup',
        (x, ctx) => {
          calls.push(`backup#${ctx.attempt}`)
          return { from: 'backup', x }
        },
        { version: '2.1.0' },
      ),
    )
    const h = o.start(
      workflow('fb')
        .task('t', { agent: 'primary', fallback: 'backup', input: 7, retry: { maxAttempts: 2, initialDelayMs: 10 } })
        .build(),
    )
    await clock.advance(100)
    const result = await within(h.result)
    expect(calls).toEqual(['primary#1', 'primary#2', 'backup#3'])
    expect(result.ok).toBe(true)
    expect(result.output('t')).toEqual({ from: 'backup', x: 7 })
    expect(result.tasks.t).toMatchObject({ agent: 'backup@2.1.0', attempts: 3 })
    expect((await o.getTasks(h.id))[0]).toMatchObject({ state: 'SUCCEEDED', agent: 'backup@2.1.0', attempt: 3 })
    expect(events.filter((e) => e.type === 'task.started').map((e) => e.agent)).toEqual([
      'primary@1.0.0',
      'primary@1.0.0',
      'backup@2.1.0',
    ])
  })

  it('fails the task when the fallback fails too, after its own attempts', async () => {
    const { clock, o } = setup()
    let primary = 0
    let backup = 0
    await o.register(
      agent('primary', () => {
        primary++
        throw new Error('primary down')
      }),
    )
    await o.register(
      agent('backup', () => {
        backup++
        throw new Error('backup down')
      }),
    )
    const h = o.start(
      workflow('fb2')
        .task('t', { agent: 'primary', fallback: 'backup', retry: { maxAttempts: 2, initialDelayMs: 10 } })
        .build(),
    )
    await clock.advance(200)
    const result = await within(h.result)
    expect([primary, backup]).toEqual([2, 2])
    expect(result.tasks.t).toMatchObject({ state: 'FAILED', attempts: 4, agent: 'backup@1.0.0' })
    expect(result.tasks.t.error?.message).toBe('backup down')
  })

  it('falls back at once after a non-retryable failure of the primary', async () => {
    const { o } = setup()
    await o.register(
      agent('primary', () => {
        throw nonRetryable(new Error('bad request'))
      }),
    )
    await o.register(agent('backup', () => 'rescued'))
    const result = await within(
      o.run(
        workflow('fb3')
          .task('t', { agent: 'primary', fallback: 'backup', retry: { maxAttempts: 5 } })
          .build(),
      ),
    )
    expect(result.output('t')).toBe('rescued')
    expect(result.tasks.t.attempts).toBe(2)
  })
})
