import { prng as rng } from '../../helpers/prng.js'
import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../src/core/fake-clock.js'
import { AnomalyDetector, type Anomaly } from '../../../src/registry/health/anomaly.js'
import { codeOf } from '../helpers.js'

/** `base` ± 10 %, uniformly. */
function jitter(random: () => number, base: number): number {
  return base * (0.9 + 0.2 * random())
}

function detector(): { d: AnomalyDetector; seen: Anomaly[] } {
  const d = new AnomalyDetector({ clock: new FakeClock() })
  const seen: Anomaly[] = []
  d.onAnomaly((a) => seen.push(a))
  return { d, seen }
}

describe('AnomalyDetector', () => {
  it('flags nothing on steady noisy latency and no errors', () => {
    const { d, seen } = detector()
    const random = rng(1)
    for (let i = 0; i < 2_000; i++) d.observe('steady', jitter(random, 100), true)
    expect(seen).toEqual([])
    const b = d.baseline('steady')!
    expect(b.observations).toBe(2_000)
    expect(b.latency.mean).toBeGreaterThan(95)
    expect(b.latency.mean).toBeLessThan(105)
    expect(b.latency.stdDev).toBeGreaterThan(3)
    expect(b.latency.stdDev).toBeLessThan(9)
  })

  it('flags a sudden 10× latency spike, with its statistic', () => {
    const { d, seen } = detector()
    const random = rng(2)
    for (let i = 0; i < 200; i++) d.observe('api', jitter(random, 100), true)
    const found = d.observe('api', 1_000, true)
    expect(found).toHaveLength(1)
    expect(seen).toEqual(found)
    const [a] = found
    expect(a).toMatchObject({ agent: 'api', metric: 'latency', value: 1_000, at: Date.UTC(2026, 0, 1) })
    expect(a.mean).toBeGreaterThan(90)
    expect(a.mean).toBeLessThan(110)
    expect(a.z).toBeCloseTo((a.value - a.mean) / a.stdDev, 10)
    expect(a.z).toBeGreaterThan(20)
  })

  it('adapts its baseline to a slow drift (100 → 400 ms over 2000 calls) without flagging', () => {
    const { d, seen } = detector()
    const random = rng(3)
    for (let i = 0; i < 2_000; i++) d.observe('drifting', jitter(random, 100 + (300 * i) / 2_000), true)
    expect(seen).toEqual([])
    expect(d.baseline('drifting')!.latency.mean).toBeGreaterThan(370)
  })

  it('flags the same rise when it comes at once', () => {
    const { d, seen } = detector()
    const random = rng(3)
    for (let i = 0; i < 200; i++) d.observe('jump', jitter(random, 100), true)
    d.observe('jump', jitter(random, 400), true)
    expect(seen.map((a) => a.metric)).toEqual(['latency'])
  })

  it('flags an error burst, but not isolated failures at a low steady rate', () => {
    const { d, seen } = detector()
    const random = rng(4)
    for (let i = 0; i < 1_000; i++) d.observe('svc', jitter(random, 50), i % 50 !== 49) // 2 % errors, isolated
    expect(seen).toEqual([])
    for (let i = 0; i < 5; i++) d.observe('svc', jitter(random, 50), false)
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.every((a) => a.metric === 'errorRate' && a.agent === 'svc')).toBe(true)
    expect(seen[0].value).toBeGreaterThan(0.15)
  })

  it('flags nothing during the warm-up, and keeps agents apart', () => {
    const d = new AnomalyDetector({ warmup: 10 })
    for (let i = 0; i < 9; i++) d.observe('a', 100, true)
    expect(d.observe('a', 5_000, false)).toEqual([]) // 10th observation: still warming up
    for (let i = 0; i < 50; i++) d.observe('b', 100, true)
    expect(d.baseline('b')!.latency.mean).toBe(100)
    expect(d.observe('b', 1_000, true).map((a) => a.metric)).toEqual(['latency'])
    expect(d.baseline('a')!.observations).toBe(10)
  })

  it('does not flag a faster call, and resets an agent on demand', () => {
    const d = new AnomalyDetector({ warmup: 5 })
    for (let i = 0; i < 20; i++) d.observe('a', 100, true)
    expect(d.observe('a', 1, true)).toEqual([])
    d.reset('a')
    expect(d.baseline('a')).toBeUndefined()
    expect(d.observe('a', 10_000, true)).toEqual([])
  })

  it('ignores a listener that throws and allows unsubscribing', () => {
    const d = new AnomalyDetector({ warmup: 5 })
    d.onAnomaly(() => {
      throw new Error('bad listener')
    })
    const seen: Anomaly[] = []
    const off = d.onAnomaly((a) => seen.push(a))
    for (let i = 0; i < 10; i++) d.observe('a', 100, true)
    d.observe('a', 1_000, true)
    off()
    d.observe('a', 100_000, true)
    expect(seen).toHaveLength(1)
  })

  describe('stays quiet under ordinary timer jitter (5 ms calls taking 8–12 ms) with the defaults', () => {
    const shapes: Record<string, (random: () => number) => number> = {
      'uniform 8–12 ms': (r) => 8 + 4 * r(),
      'mostly 8–9.5 ms, sometimes up to 12 ms': (r) => (r() < 0.85 ? 8 + 1.5 * r() : 9.5 + 2.5 * r()),
      'steady 8–8.5 ms with a 12 ms call one time in 20': (r) => (r() < 0.95 ? 8 + 0.5 * r() : 12),
      'whole milliseconds, 8–9 ms and now and then up to 12 ms': (r) => Math.round(r() < 0.9 ? 8 + r() : 8 + 4 * r()),
    }
    for (const [shape, latency] of Object.entries(shapes)) {
      it(`flags none of 339 calls, over 100 seeds: ${shape}`, () => {
        let flagged = 0
        for (let seed = 1; seed <= 100; seed++) {
          const random = rng(seed)
          const d = new AnomalyDetector({ clock: new FakeClock() })
          for (let i = 0; i < 339; i++) flagged += d.observe('timer', latency(random), true).length
        }
        expect(flagged).toBe(0)
      })
    }

    it('still flags a fast agent that becomes several times slower', () => {
      const random = rng(9)
      const d = new AnomalyDetector({ clock: new FakeClock() })
      for (let i = 0; i < 339; i++) d.observe('timer', 8 + 4 * random(), true)
      expect(d.observe('timer', 20, true)).toEqual([]) // twice as slow, +10 ms: jitter-sized
      expect(d.observe('timer', 40, true).map((a) => a.metric)).toEqual(['latency'])
    })

    it('lets a caller who wants finer detection lower the floors', () => {
      const random = rng(9)
      const d = new AnomalyDetector({ clock: new FakeClock(), minLatencyStdDevMs: 0.5, minRelativeStdDev: 0.05 })
      for (let i = 0; i < 339; i++) d.observe('timer', 8 + 4 * random(), true)
      expect(d.observe('timer', 20, true).map((a) => a.metric)).toEqual(['latency'])
    })
  })

  it('refuses bad options with VALIDATION_FAILED', async () => {
    expect(await codeOf(() => new AnomalyDetector({ threshold: 0 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new AnomalyDetector({ warmup: 0 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new AnomalyDetector({ alpha: 1.5 }))).toBe('VALIDATION_FAILED')
  })
})
