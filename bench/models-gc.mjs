// Bytes allocated and promoted to the old generation per model call, from a plain agent to the LLM agent one piece
// at a time (docs/benchmarks.md, "Third pass"). Sizes from V8's --trace-gc-nvp, summed over every collection: they
// do not depend on the machine's load, unlike times. Runs on dist/ (build first).
//
//   node bench/models-gc.mjs [case ...]        # default: all cases; C=<concurrency> (64), RUNS (5), N (1000)
//
// Cases (each RUNS runs of N tasks, C at a time, on new Orchestrator({ store: 'memory' })):
//   bare     generateText from C concurrent loops, no agent
//   plain    a defineAgent whose handler makes the bare call
//   signal   the same with abortSignal: ctx.signal
//   run      runModel (the layer's call of the SDK) instead of generateText
//   metered  + meteredModel without the journal
//   step     + the durable step (the journal)
//   llm      defineLlmAgent (+ the model.called event, budgets, tools)
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const C = Number(process.env.C ?? 64)
const RUNS = Number(process.env.RUNS ?? 5)
const N = Number(process.env.N ?? 1000)
const CASES = ['bare', 'plain', 'signal', 'run', 'metered', 'step', 'llm']

if (process.argv[2] === '--child') {
  const kind = process.argv[3]
  const { generateText } = await import('ai')
  const { Orchestrator, defineAgent, defineLlmAgent } = await import('../dist/index.js')
  const { scriptedModel } = await import('../dist/testing.js')
  const { runModel } = await import('../dist/models/run-model.js')
  const { meteredModel } = await import('../dist/models/metered-model.js')
  globalThis.AI_SDK_LOG_WARNINGS = false
  const answer = { text: 'ok', usage: { inputTokens: 10, outputTokens: 2 } }
  const ask = (model, input, ctx) =>
    runModel({ agent: 'llm', model, prompt: input, tools: [], maxSteps: 1, maxRetries: 0, signal: ctx.signal })
  const quiet = { beforeCall() {}, afterCall() {} }
  for (let r = 0; r < RUNS; r++) {
    const model = scriptedModel([answer], { repeatLast: true })
    if (kind === 'bare') {
      let next = 0
      const loop = async () => {
        while (next < N) await generateText({ model, prompt: `task ${next++}`, maxRetries: 0 })
      }
      await Promise.all(Array.from({ length: C }, loop))
      continue
    }
    const handlers = {
      plain: async (input) => (await generateText({ model, prompt: input, maxRetries: 0 })).text,
      signal: async (input, ctx) =>
        (await generateText({ model, prompt: input, maxRetries: 0, abortSignal: ctx.signal })).text,
      run: async (input, ctx) => (await ask(model, input, ctx)).text,
      metered: async (input, ctx) =>
        (await ask(meteredModel(model, { ...quiet, step: (n, fn) => fn() }), input, ctx)).text,
      step: async (input, ctx) =>
        (await ask(meteredModel(model, { ...quiet, step: (n, fn) => ctx.step(n, fn) }), input, ctx)).text,
    }
    const o = new Orchestrator({ store: 'memory' })
    await o.register(
      kind === 'llm'
        ? defineLlmAgent({ name: 'llm', model, maxSteps: 1, maxRetries: 0 })
        : defineAgent({ name: 'llm', handler: handlers[kind] }),
    )
    const tasks = Array.from({ length: N }, (_, i) => ({ id: `t${i}`, agent: 'llm', input: `task ${i}` }))
    const result = await o.run({ name: 'gc', tasks }, undefined, { concurrency: C })
    if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
    await o.close()
  }
  process.exit(0)
}

const self = fileURLToPath(import.meta.url)
for (const kind of process.argv.length > 2 ? process.argv.slice(2) : CASES) {
  const child = spawnSync(process.execPath, ['--trace-gc-nvp', self, '--child', kind], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  if (child.status !== 0) throw new Error(`${kind}: ${child.stderr}`)
  let allocated = 0
  let promoted = 0
  const gcs = {}
  for (const line of child.stdout.split('\n')) {
    const gc = / gc=(\w+)/.exec(line)
    if (gc === null) continue
    gcs[gc[1]] = (gcs[gc[1]] ?? 0) + 1
    allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0)
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0)
  }
  const calls = RUNS * N
  process.stdout.write(
    `${JSON.stringify({ case: kind, concurrency: C, calls, allocatedKB: Math.round(allocated / calls / 100) / 10, promotedKB: Math.round(promoted / calls / 100) / 10, collections: gcs })}\n`,
  )
}
