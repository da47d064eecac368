import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decideScaling, resolveScaling, type ScalingSignal } from '../../src/agents/scaling.js'
import { defineAgent } from '../../src/agents/define-agent.js'

const quiet: ScalingSignal = { instances: 1, waiting: 0, waitingForMs: 0, idle: 0, idleForMs: 0, sinceAddMs: Infinity }

describe('scaling policy', () => {
  const s = resolveScaling({ min: 1, max: 4, targetQueueDepth: 2, maxWaitMs: 500, cooldownMs: 1000 }, 'a')

  it('fills in the defaults', () => {
    expect(resolveScaling({ max: 3 }, 'a')).toEqual({
      min: 1,
      max: 3,
      targetQueueDepth: 1,
      maxWaitMs: 1000,
      cooldownMs: 30_000,
    })
  })

  it('adds instances for the queue over targetQueueDepth per instance, up to max', () => {
    expect(decideScaling(s, { ...quiet, waiting: 3 })).toMatchObject({ from: 1, to: 2 })
    expect(decideScaling(s, { ...quiet, waiting: 7 })).toMatchObject({ from: 1, to: 4 })
    expect(decideScaling(s, { ...quiet, instances: 4, waiting: 100 })).toBeUndefined()
  })

  it('adds one when work waited longer than maxWaitMs', () => {
    expect(decideScaling(s, { ...quiet, waiting: 1, waitingForMs: 499 })).toBeUndefined()
    expect(decideScaling(s, { ...quiet, waiting: 1, waitingForMs: 500 })).toMatchObject({ from: 1, to: 2 })
  })

  it('removes one idle instance after the cooldown, never below min, not right after an add', () => {
    const idle = { ...quiet, instances: 3, idle: 2, idleForMs: 1000, sinceAddMs: 5000 }
    expect(decideScaling(s, idle)).toMatchObject({ from: 3, to: 2 })
    expect(decideScaling(s, { ...idle, idleForMs: 999 })).toBeUndefined()
    expect(decideScaling(s, { ...idle, sinceAddMs: 10 })).toBeUndefined()
    expect(decideScaling(s, { ...idle, waiting: 1 })).toBeUndefined()
    expect(decideScaling(s, { ...idle, instances: 1 })).toBeUndefined()
  })

  it('never decides a count outside [min, max] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 8 }),
        fc.record({
          instances: fc.integer({ min: 0, max: 20 }),
          waiting: fc.integer({ min: 0, max: 100 }),
          waitingForMs: fc.integer({ min: 0, max: 5000 }),
          idle: fc.integer({ min: 0, max: 20 }),
          idleForMs: fc.integer({ min: 0, max: 5000 }),
          sinceAddMs: fc.integer({ min: 0, max: 5000 }),
        }),
        (min, extra, signal) => {
          const p = resolveScaling({ min, max: min + extra, targetQueueDepth: 2, cooldownMs: 100 }, 'a')
          const d = decideScaling(p, signal)
          if (d === undefined) return
          expect(d.from).toBe(signal.instances)
          expect(d.to).not.toBe(d.from)
          if (signal.instances >= p.min && signal.instances <= p.max) {
            expect(d.to).toBeGreaterThanOrEqual(p.min)
            expect(d.to).toBeLessThanOrEqual(p.max)
          }
        },
      ),
    )
  })

  it('refuses bad options with AGENT_INVALID naming the field', () => {
    expect(() => resolveScaling({ min: 3, max: 2 }, 'ocr')).toThrow(/scaling.min must be at most scaling.max/)
    expect(() => resolveScaling({ max: 0 }, 'ocr')).toThrow(/Agent "ocr": scaling.max:/)
    expect(() => defineAgent({ name: 'ocr', handler: () => 1, scaling: { max: 2, burst: 1 } as never })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID', message: expect.stringMatching(/scaling/) }),
    )
  })
})
