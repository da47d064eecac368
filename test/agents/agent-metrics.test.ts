import { describe, expect, it } from 'vitest'
import { AgentMetrics } from '../../src/agents/agent-metrics.js'

describe('AgentMetrics', () => {
  it('reports neutral values before any call', () => {
    const snap = new AgentMetrics().snapshot()
    expect(snap).toEqual({
      calls: 0,
      errors: 0,
      successRate: 1,
      meanLatencyMs: 0,
      p95LatencyMs: 0,
      ewmaLatencyMs: 0,
      ewmaErrorRate: 0,
    })
    expect('lastError' in snap).toBe(false)
  })

  it('computes calls, errors, success rate, mean and nearest-rank p95', () => {
    const m = new AgentMetrics()
    // Recorded out of order, so the percentile must sort.
    for (let i = 100; i >= 1; i--) m.record(i, i % 10 !== 0)
    const snap = m.snapshot()
    expect(snap.calls).toBe(100)
    expect(snap.errors).toBe(10)
    expect(snap.successRate).toBeCloseTo(0.9)
    expect(snap.meanLatencyMs).toBeCloseTo(50.5)
    expect(snap.p95LatencyMs).toBe(95)
  })

  it('seeds the latency average with the first call and moves both averages with alpha 0.2', () => {
    const m = new AgentMetrics()
    m.record(100, true)
    expect(m.ewmaLatencyMs).toBe(100)
    expect(m.ewmaErrorRate).toBe(0)
    m.record(200, false)
    expect(m.ewmaLatencyMs).toBeCloseTo(120)
    expect(m.ewmaErrorRate).toBeCloseTo(0.2)
    m.record(200, false)
    expect(m.ewmaLatencyMs).toBeCloseTo(136)
    expect(m.ewmaErrorRate).toBeCloseTo(0.36)
    m.record(120, true)
    expect(m.ewmaErrorRate).toBeCloseTo(0.288)
  })

  it('keeps the p95 over the last 1024 calls and the mean over all of them', () => {
    const m = new AgentMetrics()
    for (let i = 1; i <= 2000; i++) m.record(i, true)
    const snap = m.snapshot()
    expect(snap.calls).toBe(2000)
    expect(snap.meanLatencyMs).toBeCloseTo(1000.5)
    // Window = 977..2000; rank ceil(0.95 × 1024) = 973 → 977 + 972.
    expect(snap.p95LatencyMs).toBe(1949)
  })

  it('counts a negative or non-finite latency as 0 ms', () => {
    const m = new AgentMetrics()
    m.record(-5, true)
    m.record(Number.NaN, true)
    m.record(Infinity, true)
    const snap = m.snapshot()
    expect(snap.meanLatencyMs).toBe(0)
    expect(snap.p95LatencyMs).toBe(0)
    expect(snap.ewmaLatencyMs).toBe(0)
  })

  it('remembers the last error text and stays JSON-safe', () => {
    const m = new AgentMetrics()
    m.record(5, false)
    m.recordError('first')
    m.recordError('upstream returned 503')
    const snap = m.snapshot()
    expect(snap.lastError).toBe('upstream returned 503')
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap)
  })
})
