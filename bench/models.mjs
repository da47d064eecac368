// Language-model agent overhead: what a task of a defineLlmAgent agent costs
// over the bare AI SDK call it makes, on the scripted model (no network, so
// only our side is measured). Runs on dist/ (`npm run bench:models` builds
// first); prints one JSON line per case on stdout, a summary on stderr.
//
//   node bench/models.mjs [--quick]
//
// Cases (N tasks of one model call each, fan-out, medians of rounds):
//   bare-generateText   generateText on the scripted model, N calls one after another: µs per call
//   llm-agent-memory    N tasks of an LLM agent on new Orchestrator() (memory store, journal in memory)
//   llm-agent-sqlite    the same on Orchestrator.open(<file>) (run store and journal in one SQLite file)
// The overhead reported is (time per task) − (bare call), i.e. the engine, the journal, the budget and
// usage accounting and the event, per model call.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateText } from 'ai'
import { Orchestrator, defineLlmAgent } from '../dist/index.js'
import { scriptedModel } from '../dist/testing.js'

const quick = process.argv.includes('--quick')
const N = quick ? 300 : 1000
const ROUNDS = quick ? 3 : 7

function median(xs) {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d
globalThis.AI_SDK_LOG_WARNINGS = false

const model = () => scriptedModel([{ text: 'ok', usage: { inputTokens: 10, outputTokens: 2 } }], { repeatLast: true })

async function bare() {
  const m = model()
  const t0 = performance.now()
  for (let i = 0; i < N; i++) await generateText({ model: m, prompt: `task ${i}`, maxRetries: 0 })
  return ((performance.now() - t0) * 1000) / N
}

function spec() {
  return {
    name: 'llm-fan',
    tasks: Array.from({ length: N }, (_, i) => ({ id: `t${i}`, agent: 'llm', input: `task ${i}` })),
  }
}

async function agentRun(orchestrator) {
  await orchestrator.register(defineLlmAgent({ name: 'llm', model: model(), maxSteps: 1, maxRetries: 0 }))
  const t0 = performance.now()
  const result = await orchestrator.run(spec(), { concurrency: 64 })
  const us = ((performance.now() - t0) * 1000) / N
  if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
  await orchestrator.close()
  return us
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-models-'))
const samples = { bare: [], memory: [], sqlite: [] }
try {
  await bare()
  await agentRun(new Orchestrator({ store: 'memory' }))
  for (let r = 0; r < ROUNDS; r++) {
    samples.bare.push(await bare())
    samples.memory.push(await agentRun(new Orchestrator({ store: 'memory' })))
    samples.sqlite.push(await agentRun(await Orchestrator.open(join(dir, `r${r}.db`))))
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
const base = median(samples.bare)
const lines = [
  { case: 'bare-generateText', n: N, usPerCall: round(base) },
  {
    case: 'llm-agent-memory',
    n: N,
    usPerTask: round(median(samples.memory)),
    overheadUs: round(median(samples.memory) - base),
  },
  {
    case: 'llm-agent-sqlite',
    n: N,
    usPerTask: round(median(samples.sqlite)),
    overheadUs: round(median(samples.sqlite) - base),
  },
]
for (const l of lines) process.stdout.write(`${JSON.stringify(l)}\n`)
process.stderr.write(`\nLLM agent overhead per model call (scripted model, N=${N}, median of ${ROUNDS}):\n`)
process.stderr.write(`  bare generateText          ${lines[0].usPerCall} µs/call\n`)
process.stderr.write(
  `  LLM agent, memory          ${lines[1].usPerTask} µs/task → overhead ${lines[1].overheadUs} µs (goal ≤ 50)\n`,
)
process.stderr.write(
  `  LLM agent, SQLite journal  ${lines[2].usPerTask} µs/task → overhead ${lines[2].overheadUs} µs (goal ≤ 150)\n`,
)
