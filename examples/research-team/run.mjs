#!/usr/bin/env node
// A team of three agents talking over the bus: the researcher publishes
// findings, the analyst (subscribed to them) consults the specialist about
// each by request/reply, and both add to one versioned shared artifact.
//
//   node examples/research-team/run.mjs [folder] [--json]
//
// The folder of notes defaults to sources/ beside this file; a folder given
// on the command line is resolved against the current folder.
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Orchestrator, openContextStore, workflow } from 'flotilla'
import { REPORT, analyst, researcher, specialist } from './agents.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const TOPIC = 'urban beekeeping'
const args = process.argv.slice(2)
const json = args.includes('--json')
const rest = args.filter((a) => a !== '--json')
if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) {
  console.error('usage: node run.mjs [folder] [--json]')
  process.exit(2)
}
const folder = rest.length === 1 ? resolve(rest[0]) : join(HERE, 'sources')

// Everything in memory: the example leaves no database behind and needs no
// setup, and nothing here has to outlive the process. Every write of the
// report is one version (1 + a finding and an assessment per note), more
// than the context store keeps by default (10), so it keeps 100: the whole
// lineage stays readable.
const context = await openContextStore({ url: 'memory', keepVersions: 100 })
const orchestrator = new Orchestrator({ store: 'memory', context })
await orchestrator.registerAll([researcher, analyst, specialist])

// Events are not durable: the researcher may start only once the analyst is
// subscribed. Subscribe to its `analyst.ready` first, then start it.
let ready
const analystReady = new Promise((resolve) => (ready = resolve))
const readiness = await orchestrator.bus.subscribe('analyst.ready', { from: 'analyst', where: { topic: TOPIC } }, () =>
  ready(),
)
const analystRun = orchestrator.start(
  // One attempt (the default, spelled out): a second one would have missed the events of the first.
  workflow('research-team-analyst')
    .task('analyse', { agent: 'analyst', input: { topic: TOPIC }, retry: { maxAttempts: 1 }, timeoutMs: 30_000 })
    .build(),
)
const first = await Promise.race([analystReady.then(() => 'ready'), analystRun.result.then(() => 'ended')])
await readiness.unsubscribe()

let researcherResult
if (first === 'ready') {
  researcherResult = await orchestrator.run(
    workflow('research-team-researcher')
      .task('research', { agent: 'researcher', input: { topic: TOPIC, folder }, timeoutMs: 30_000 })
      .build(),
  )
  // Without its findings the analyst would wait for its timeout: stop it now.
  if (!researcherResult.ok) analystRun.cancel('the researcher failed')
}
const analystResult = await analystRun.result

const operator = orchestrator.context.as('operator')
const report = await operator.get(REPORT).then(
  (a) => ({ version: a.version, ...a.content }),
  () => undefined,
)
const history = report === undefined ? [] : await operator.history(REPORT)
await orchestrator.close()
await context.close() // given to the orchestrator, so not closed by it

const runOf = (result, task) =>
  result === undefined
    ? { state: 'NOT_STARTED' }
    : {
        runId: result.runId,
        state: result.state,
        output: result.ok ? result.output(task) : undefined,
        error: result.error?.toJSON(),
      }
const runs = { analyst: runOf(analystResult, 'analyse'), researcher: runOf(researcherResult, 'research') }
const ok = analystResult.ok && researcherResult?.ok === true
const findings = (report?.findings ?? []).map((f) => {
  const a = report.assessments.find((x) => x.source === f.source)
  return { ...f, verdict: a?.verdict ?? null, reason: a?.reason ?? null }
})
const versions = history.map((v) => ({
  version: v.version,
  createdBy: v.createdBy,
  basedOn: v.basedOn,
  runId: v.runId,
  taskId: v.taskId,
  change: v.metadata.change,
  source: v.metadata.source ?? null,
  conflicts: v.metadata.conflicts,
}))
const conflicts = { researcher: runs.researcher.output?.conflicts ?? 0, analyst: runs.analyst.output?.conflicts ?? 0 }
conflicts.total = conflicts.researcher + conflicts.analyst

if (json) {
  console.log(
    JSON.stringify(
      {
        topic: TOPIC,
        folder,
        state: ok ? 'SUCCEEDED' : 'FAILED',
        runs,
        findings,
        report: report ?? null,
        versions,
        conflicts,
      },
      null,
      2,
    ),
  )
} else if (!ok) {
  for (const [who, r] of Object.entries(runs)) {
    console.error(
      `The ${who} run ${r.runId ?? '(not started)'}: ${r.state}${r.error ? ` [${r.error.code}] ${r.error.message}` : ''}`,
    )
  }
} else {
  const pad = (s, n) => String(s).padEnd(n)
  const changeOf = (v) => `${v.change}${v.source ? ` ${v.source}` : ''}`
  const sourceWidth = Math.max(...findings.map((f) => f.source.length))
  const changeWidth = Math.max(...versions.map((v) => changeOf(v).length))
  const lines = [
    `Research team on "${TOPIC}": ${findings.length} findings from ${folder}, ${report.assessments.length} assessed`,
    `  researcher run ${runs.researcher.runId ?? '-'} ${runs.researcher.state} · analyst run ${runs.analyst.runId} ${runs.analyst.state}`,
    '',
    ...findings.flatMap((f) => [
      `${pad(f.verdict ?? '(none)', 15)} ${pad(f.source, sourceWidth)}  confidence ${f.confidence}`,
      `    ${f.claim}`,
      `    specialist: ${f.reason ?? '-'}`,
    ]),
    '',
    `Versions of "${REPORT}" (${versions.length}, oldest first):`,
    `  ${pad('version', 8)} ${pad('by', 11)} ${pad('based on', 9)} ${pad('change', changeWidth)} ${pad('conflicts', 10)} run / task`,
    ...versions.map(
      (v) =>
        `  ${pad(`v${v.version}`, 8)} ${pad(v.createdBy, 11)} ${pad(v.basedOn === null ? '-' : `v${v.basedOn}`, 9)} ${pad(changeOf(v), changeWidth)} ${pad(v.conflicts || '-', 10)} ${v.runId} / ${v.taskId}`,
    ),
    '',
    `Optimistic-concurrency conflicts resolved: ${conflicts.total} (researcher ${conflicts.researcher}, analyst ${conflicts.analyst}); no write was lost.`,
  ]
  console.log(lines.join('\n'))
}
process.exitCode = ok ? 0 : 1
