// Language-model agent overhead: what a model call made by a defineLlmAgent
// agent costs over the same call made with the bare AI SDK, on the scripted
// model (no network, so only our side is measured). Runs on dist/
// (`npm run bench:models` builds first); prints one JSON line per case on
// stdout, a summary on stderr.
//
//   node bench/models.mjs [--quick]
//
// Two shapes of task, each measured bare and as agent tasks:
//   one call    one model call per task (the answer): a task = a model call
//   tool loop   LOOP tool calls, then the answer: LOOP + 1 model calls and LOOP tool calls per task
// Cases (N tasks, agent tasks fanned out CONCURRENCY (64) at a time; each measurement in a process of its own:
// WARMUP (5) warm-up runs, then the mean of MEASURED (3) runs; medians of rounds, the cases taking turns):
//   bare            generateText on the scripted model (with the same tool for the loop), N in a row
//   bare64          the same N calls, CONCURRENCY at a time, as the agent tasks run: the like-for-like
//                   baseline, and the goal's. Calls in flight together keep each other's objects alive
//                   across scavenges, so the SDK alone costs more a call 64 at a time than one at a time;
//                   that is not Flotilla's overhead. The overhead over `bare` is reported too
//   memory          N tasks of an LLM agent on new Orchestrator({ store: 'memory' }) (journal in memory)
//   sqlite          the same on Orchestrator.open(<file>) (run store and journal in one SQLite file)
//   plain-*         (one call only) a defineAgent whose handler makes the bare generateText call itself: the
//                   engine's task without the LLM layer, so agent − plain is what defineLlmAgent adds (the
//                   journal, metering, the event) and plain − bare64 what any agent task costs
// Reported per model call: wall time and CPU time (process.cpuUsage: user + system, all threads) per call,
// and the overhead = agent − bare64 per model call, i.e. the engine, the journal (model and tool steps),
// budgets and usage, the event, the tool box. On a shared machine wall time includes waiting for a core;
// CPU time does not, so it is the steadier of the two there.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateText, stepCountIs, tool } from 'ai'
import { z } from 'zod'
import { Orchestrator, defineAgent, defineLlmAgent, defineTool } from '../dist/index.js'
import { scriptedModel } from '../dist/testing.js'

const quick = process.argv.includes('--quick')
const N = quick ? 300 : 1000
const ROUNDS = quick ? 3 : 7
const LOOP = 3
const WARMUP = Number(process.env.WARMUP ?? 5)
const MEASURED = Number(process.env.MEASURED ?? 3)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64)

function median(xs) {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d
globalThis.AI_SDK_LOG_WARNINGS = false

const usage = { inputTokens: 10, outputTokens: 2 }
const answer = { text: 'ok', usage }
const oneCall = () => scriptedModel([answer], { repeatLast: true })
// Calls the tool until the prompt holds LOOP tool results, then answers (tasks run at once share the model).
const looping = () =>
  scriptedModel(
    [
      (call, i) =>
        call.prompt.filter((m) => m.role === 'tool').length >= LOOP
          ? answer
          : { toolCalls: [{ name: 'lookup', input: { q: `q${i}` } }], usage },
    ],
    { repeatLast: true },
  )
const lookupInput = z.object({ q: z.string() })
const lookup = async ({ q }) => ({ hits: [q] })

const shapes = {
  one: { calls: 1, model: oneCall, tools: undefined, sdkTools: undefined },
  loop: {
    calls: LOOP + 1,
    model: looping,
    tools: [defineTool({ name: 'lookup', description: 'Looks a term up.', input: lookupInput, run: lookup })],
    sdkTools: { lookup: tool({ description: 'Looks a term up.', inputSchema: lookupInput, execute: lookup }) },
  },
}

function cpu() {
  const c = process.cpuUsage()
  return c.user + c.system
}

async function bare(shape, width = 1) {
  const m = shape.model()
  const t0 = performance.now()
  const c0 = cpu()
  let next = 0
  const worker = async () => {
    while (next < N) {
      const i = next++
      const r = await generateText({
        model: m,
        prompt: `task ${i}`,
        maxRetries: 0,
        ...(shape.sdkTools ? { tools: shape.sdkTools, stopWhen: stepCountIs(LOOP + 1) } : {}),
      })
      if (r.steps.length !== shape.calls) throw new Error(`bare: ${r.steps.length} steps`)
    }
  }
  await Promise.all(Array.from({ length: width }, worker))
  return { wall: ((performance.now() - t0) * 1000) / N / shape.calls, cpu: (cpu() - c0) / N / shape.calls }
}

async function agentRun(orchestrator, shape, plain = false) {
  const model = shape.model()
  await orchestrator.register(
    plain
      ? defineAgent({
          name: 'llm',
          handler: async (input) => (await generateText({ model, prompt: input, maxRetries: 0 })).text,
        })
      : defineLlmAgent({
          name: 'llm',
          model,
          maxSteps: shape.calls,
          maxRetries: 0,
          ...(shape.tools ? { tools: shape.tools } : {}),
        }),
  )
  const spec = {
    name: 'llm-fan',
    tasks: Array.from({ length: N }, (_, i) => ({ id: `t${i}`, agent: 'llm', input: `task ${i}` })),
  }
  const t0 = performance.now()
  const c0 = cpu()
  const result = await orchestrator.run(spec, undefined, { concurrency: CONCURRENCY })
  const out = { wall: ((performance.now() - t0) * 1000) / N / shape.calls, cpu: (cpu() - c0) / N / shape.calls }
  if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
  await orchestrator.close()
  return out
}

// Each measurement runs in a process of its own (warm-up run, then the measured run), so one case's
// garbage and JIT state never weigh on another's; cases alternate within each round.
const child = process.argv.indexOf('--child')
if (child >= 0) {
  const [name, store] = process.argv.slice(child + 1, child + 3)
  const shape = shapes[name]
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-models-'))
  try {
    const once = async (i) => {
      if (store === 'bare') return bare(shape)
      if (store === 'bare64') return bare(shape, CONCURRENCY)
      const plain = store.startsWith('plain-')
      const orchestrator = store.endsWith('memory')
        ? new Orchestrator({ store: 'memory' })
        : await Orchestrator.open(join(dir, `${i}.db`))
      return agentRun(orchestrator, shape, plain)
    }
    for (let w = 0; w < WARMUP; w++) await once(-1 - w)
    // The mean of MEASURED runs: one run (0.2 s) catches a mark-compact or not, by luck; several carry their share of it.
    let wall = 0
    let cpuTime = 0
    for (let m = 0; m < MEASURED; m++) {
      const r = await once(m)
      wall += r.wall / MEASURED
      cpuTime += r.cpu / MEASURED
    }
    process.stdout.write(`${JSON.stringify({ wall, cpu: cpuTime })}\n`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  process.exit(0)
}

function measure(name, store) {
  const args = [fileURLToPath(import.meta.url), ...(quick ? ['--quick'] : []), '--child', name, store]
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) throw new Error(`case ${name}/${store} exited with ${r.status}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1))
}

const samples = {}
const add = (key, s) => (samples[key] ??= []).push(s)
for (let r = 0; r < ROUNDS; r++) {
  for (const name of Object.keys(shapes)) {
    const stores = ['bare', 'bare64', 'memory', 'sqlite', ...(name === 'one' ? ['plain-memory', 'plain-sqlite'] : [])]
    for (const store of stores) add(`${name}/${store}`, measure(name, store))
  }
  process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`)
}

const of = (key, field) => median(samples[key].map((s) => s[field]))
const lines = []
for (const [name, shape] of Object.entries(shapes)) {
  for (const store of ['bare', 'bare64', 'plain-memory', 'plain-sqlite', 'memory', 'sqlite']) {
    const key = `${name}/${store}`
    if (samples[key] === undefined) continue
    const line = {
      case: `${name === 'one' ? 'one-call' : `tool-loop-${LOOP}`}-${store}`,
      n: N,
      modelCallsPerTask: shape.calls,
      usPerCall: round(of(key, 'wall')),
      cpuUsPerCall: round(of(key, 'cpu')),
      ...(store.startsWith('bare')
        ? {}
        : {
            // The goal's: over the bare calls made as many at a time as the agent's tasks (like for like).
            goalOverheadUs: round(of(key, 'wall') - of(`${name}/bare64`, 'wall')),
            overheadUs: round(of(key, 'wall') - of(`${name}/bare`, 'wall')),
            cpuOverheadUs: round(of(key, 'cpu') - of(`${name}/bare`, 'cpu')),
            overheadVsBare64Us: round(of(key, 'wall') - of(`${name}/bare64`, 'wall')),
            cpuOverheadVsBare64Us: round(of(key, 'cpu') - of(`${name}/bare64`, 'cpu')),
          }),
    }
    lines.push(line)
  }
}
for (const l of lines) process.stdout.write(`${JSON.stringify(l)}\n`)
process.stderr.write(
  `\nLLM agent overhead per model call (scripted model, N=${N} tasks, ${CONCURRENCY} at a time; medians of ${ROUNDS} rounds,\n` +
    `each the mean of ${MEASURED} runs after ${WARMUP} warm-up runs; wall / CPU µs): over the bare calls made ${CONCURRENCY} at a time\n` +
    `(bare64, like for like: the goal's), then over bare calls one after another:\n`,
)
for (const l of lines) {
  const llm = !l.case.includes('plain')
  const goal = !llm ? '' : l.case.endsWith('memory') ? ' (goal ≤ 50)' : l.case.endsWith('sqlite') ? ' (goal ≤ 150)' : ''
  process.stderr.write(
    `  ${l.case.padEnd(24)} ${String(l.usPerCall).padStart(7)} / ${String(l.cpuUsPerCall).padStart(7)} µs per call` +
      (l.overheadUs === undefined
        ? '\n'
        : ` → overhead ${l.overheadVsBare64Us} / ${l.cpuOverheadVsBare64Us} µs${goal}; over one at a time ${l.overheadUs} / ${l.cpuOverheadUs} µs\n`),
  )
}
