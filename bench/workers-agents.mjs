// The agent of bench/workers-pg.mjs: `step` sums its inputs; it sleeps
// FLOTILLA_BENCH_SLEEP_MS first (0: a no-op task; 20: like a model call).
import { defineAgent } from '../dist/index.js'

const sleepMs = Number(process.env.FLOTILLA_BENCH_SLEEP_MS ?? '0')

export const step = defineAgent({
  name: 'step',
  maxConcurrency: 1000,
  handler: async (input) => {
    if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs))
    return { v: (input?.xs ?? []).reduce((a, b) => a + b, 0) + (input?.seed ?? 1) }
  },
})
