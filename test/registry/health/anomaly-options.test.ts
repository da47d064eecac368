import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../../src/agents/define-agent.js'
import type { Anomaly } from '../../../src/registry/health/anomaly.js'
import { Orchestrator } from '../../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { workflow } from '../../../src/workflows/builder.js'
import { codeOf } from '../helpers.js'

describe('new Orchestrator({ anomalies })', () => {
  it('configures the detector that watches every attempt, keyed name@version', async () => {
    const o = new Orchestrator({
      store: new MemoryStore(),
      anomalies: { warmup: 3, threshold: 2, minLatencyStdDevMs: 0, minRelativeStdDev: 0, minErrorRateStdDev: 0.01 },
    })
    try {
      let fail = false
      await o.register(
        defineAgent({
          name: 'svc',
          version: '1.4.0',
          handler: () => {
            if (fail) throw new Error('down')
            return 1
          },
        }),
      )
      const seen: Anomaly[] = []
      o.anomalies.onAnomaly((a) => seen.push(a))
      const wf = workflow('one')
        .task('t', { agent: 'svc', retry: { maxAttempts: 1 } })
        .build()
      for (let i = 0; i < 4; i++) expect((await o.run(wf)).state).toBe('SUCCEEDED')
      expect(o.anomalies.baseline('svc@1.4.0')?.observations).toBe(4)
      fail = true
      expect((await o.run(wf)).state).toBe('FAILED')
      // With the default warm-up of 30 nothing could be flagged yet; with warmup 3 the first failure is.
      expect(seen.filter((a) => a.metric === 'errorRate').map((a) => a.agent)).toEqual(['svc@1.4.0'])
    } finally {
      await o.close()
    }
  })

  it('refuses a bad anomaly option with VALIDATION_FAILED', async () => {
    expect(await codeOf(() => new Orchestrator({ store: new MemoryStore(), anomalies: { threshold: -1 } }))).toBe(
      'VALIDATION_FAILED',
    )
  })
})
