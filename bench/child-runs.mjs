// Child runs: what starting one costs, and a fan-out of 1,000 planned tasks
// (a task returns childWorkflow(...) of 1,000 tasks) against the same 1,000
// tasks as a static workflow. Memory store, in-process agents; medians of
// several rounds. Runs on dist/ (build first); prints one JSON line per case
// on stdout, a summary on stderr.
//
//   npm run build && node bench/child-runs.mjs [--quick]

import { Orchestrator, childWorkflow, defineAgent, workflow } from '../dist/index.js'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 5 : 15
const STARTS = quick ? 200 : 1_000
const FAN = 1_000
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d
const out = (row) => {
  console.log(JSON.stringify(row))
  console.error(`${row.case.padEnd(22)} ${JSON.stringify(row.result)}`)
}

const echo = defineAgent({ name: 'echo', handler: (x) => x })
const fanTasks = Array.from({ length: FAN }, (_, i) => ({ id: `t${i}`, agent: 'echo', input: i }))
const oneTask = { name: 'one', tasks: [{ id: 'a', agent: 'echo', input: 1 }] }
const planner = defineAgent({
  name: 'planner',
  handler: (kind) => childWorkflow(kind === 'fan' ? { name: 'fan', tasks: fanTasks } : oneTask),
})
const orchestrator = new Orchestrator({ store: 'memory', maxPlanTasks: FAN })
await orchestrator.registerAll([echo, planner])

const planned = (kind) => workflow('parent').task('plan', { agent: 'planner', input: kind }).build()
const direct = workflow('direct').task('a', { agent: 'echo', input: 1 }).build()
const staticFan = { name: 'fan', tasks: fanTasks }

// Warm-up.
for (let i = 0; i < 50; i++) {
  await orchestrator.run(planned('one'))
  await orchestrator.run(direct)
}

// Child-run start overhead: a one-task run planned by a task (two runs) minus the one-task run alone, per run.
const withChild = []
const without = []
for (let r = 0; r < ROUNDS; r++) {
  let t = performance.now()
  for (let i = 0; i < STARTS; i++) await orchestrator.run(planned('one'))
  withChild.push(((performance.now() - t) * 1000) / STARTS)
  t = performance.now()
  for (let i = 0; i < STARTS; i++) await orchestrator.run(direct)
  without.push(((performance.now() - t) * 1000) / STARTS)
}
out({
  case: 'child-run start',
  result: {
    plannedRunUs: round(median(withChild)),
    directRunUs: round(median(without)),
    childStartOverheadUs: round(median(withChild) - 2 * median(without)),
  },
})

// Fan-out of 1,000 tasks: planned (child run) vs static.
const fanPlanned = []
const fanStatic = []
for (let r = 0; r < ROUNDS; r++) {
  let t = performance.now()
  const a = await orchestrator.run(planned('fan'))
  fanPlanned.push(performance.now() - t)
  if (!a.ok) throw new Error('planned fan-out failed')
  t = performance.now()
  const b = await orchestrator.run(staticFan)
  fanStatic.push(performance.now() - t)
  if (!b.ok) throw new Error('static fan-out failed')
}
out({
  case: 'fan-out 1000',
  result: {
    plannedMs: round(median(fanPlanned)),
    staticMs: round(median(fanStatic)),
    ratio: round(median(fanPlanned) / median(fanStatic)),
    goal: '≤ 1.5',
  },
})
await orchestrator.close()
