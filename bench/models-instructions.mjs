// Instruction counts of one case of bench/models.mjs, for callgrind: steady on a loaded machine, where wall
// and CPU times are not. Runs WARM runs of the case, then MEASURED runs between two calls of
// v8.setFlagsFromString, which callgrind is told to dump before; the second dump is the measured phase.
//
//   valgrind --tool=callgrind --callgrind-out-file=cg.llm --dump-before='node::v8_utils::SetFlagsFromString*' \
//     node --single-threaded bench/models-instructions.mjs llm      # then: cg.llm.2 is the measured phase
//   node bench/models-instructions.mjs --summary cg.llm.2 400        # per task: net, GC, non-GC, JIT compile
//
// Cases (N tasks a run, 64 at a time; the scripted model answers at once):
//   bare      generateText, N in a row            bare64   generateText, 64 at a time
//   noop      an agent task whose handler returns its input (the engine alone)
//   plain     a defineAgent whose handler makes the bare generateText call
//   llm       a defineLlmAgent on new Orchestrator({ store: 'memory' })
//   llm-sqlite  the same on Orchestrator.open(<file>)
// N (200), WARM (3) and MEASURED (2) come from the environment. --single-threaded keeps the JIT and the GC on the
// main thread, so every instruction is counted; the optimising compiler still runs during the measured runs,
// which is why --summary reports it apart ("JIT compile") and leaves it out of "net".

import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'

if (process.argv[2] === '--summary') {
  const [file, tasks] = [process.argv[3], Number(process.argv[4])]
  const text = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  const of = (needle) => {
    const line = text.split('\n').find((l) => l.includes(needle))
    return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0].replaceAll(',', ''))
  }
  const k = (x) => Math.round(x / tasks / 1000)
  const total = of('PROGRAM TOTALS')
  const jit = of('Runtime_CompileOptimized(')
  const scavenge = of('v8::internal::Heap::Scavenge()')
  const marking = of('IncrementalMarking::Observer::Step(')
  const gc =
    of('v8::internal::Heap::CollectGarbage(') + marking + of('StartIncrementalMarkingIfAllocationLimitIsReached(')
  process.stdout.write(
    `${JSON.stringify({ file, tasks, netK: k(total - jit), gcK: k(gc), scavengeK: k(scavenge), incrementalMarkingK: k(marking), nonGcK: k(total - jit - gc), jitCompileK: k(jit) })}\n`,
  )
  process.exit(0)
}

const { generateText } = await import('ai')
const { Orchestrator, defineAgent, defineLlmAgent } = await import('../dist/index.js')
const { scriptedModel } = await import('../dist/testing.js')

const kind = process.argv[2] ?? 'llm'
const N = Number(process.env.N ?? 200)
const WARM = Number(process.env.WARM ?? 3)
const MEASURED = Number(process.env.MEASURED ?? 2)
globalThis.AI_SDK_LOG_WARNINGS = false
const answer = { text: 'ok', usage: { inputTokens: 10, outputTokens: 2 } }
const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-instr-'))
let files = 0

async function bare(concurrency) {
  const model = scriptedModel([answer], { repeatLast: true })
  let next = 0
  const worker = async () => {
    while (next < N) await generateText({ model, prompt: `task ${next++}`, maxRetries: 0 })
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

async function agentRun() {
  const model = scriptedModel([answer], { repeatLast: true })
  const orchestrator =
    kind === 'llm-sqlite'
      ? await Orchestrator.open(join(dir, `run-${files++}.db`))
      : new Orchestrator({ store: 'memory' })
  const handler =
    kind === 'noop'
      ? async (input) => input
      : async (input) => (await generateText({ model, prompt: input, maxRetries: 0 })).text
  await orchestrator.register(
    kind.startsWith('llm')
      ? defineLlmAgent({ name: 'llm', model, maxSteps: 1, maxRetries: 0 })
      : defineAgent({ name: 'llm', handler }),
  )
  const tasks = Array.from({ length: N }, (_, i) => ({ id: `t${i}`, agent: 'llm', input: `task ${i}` }))
  const result = await orchestrator.run({ name: 'llm-fan', tasks }, undefined, { concurrency: 64 })
  if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
  await orchestrator.close()
}

const cases = { bare: () => bare(1), bare64: () => bare(64), noop: agentRun, plain: agentRun, llm: agentRun }
cases['llm-sqlite'] = agentRun
if (cases[kind] === undefined) throw new Error(`unknown case "${kind}" (${Object.keys(cases).join(', ')})`)
try {
  for (let i = 0; i < WARM; i++) await cases[kind]()
  v8.setFlagsFromString('--stack-size=984') // marker: the measured phase starts
  for (let i = 0; i < MEASURED; i++) await cases[kind]()
  v8.setFlagsFromString('--stack-size=984') // marker: it ends
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.stdout.write(`${kind}: ${WARM} warm-up and ${MEASURED} measured runs of ${N} tasks\n`)
