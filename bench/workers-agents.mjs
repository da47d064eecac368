// The agent of bench/workers-pg.mjs: `step` sums its inputs; it sleeps
// FLOTILLA_BENCH_SLEEP_MS first (0: a no-op task; 20: like a model call).
import { defineAgent } from '../dist/index.js'

const sleepMs = Number(process.env.FLOTILLA_BENCH_SLEEP_MS ?? '0')
// FLOTILLA_BENCH_SCALING=1: `step` has `scaling` (its one instance already fills the worker's slots, so it
// stays at one): what the worker's auto-scaling checks cost, next to the same run without them.
const scaling = process.env.FLOTILLA_BENCH_SCALING === '1' ? { scaling: { min: 1, max: 4 } } : {}

export const step = defineAgent({
  name: 'step',
  maxConcurrency: 1000,
  ...scaling,
  handler: async (input) => {
    if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs))
    return { v: (input?.xs ?? []).reduce((a, b) => a + b, 0) + (input?.seed ?? 1) }
  },
})
