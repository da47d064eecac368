// Map-reduce overhead (issue 6): a map-reduce over N items with a no-op mapper,
// against W1 fan-out/fan-in at the same N and the plain-Promise baseline, in one
// process, with the protocol's gc() before every run and medians.
//
//   node --expose-gc bench/map-reduce.mjs [n=10000]
import { Orchestrator, defineAgent, workflow, compileWorkflow } from '../dist/index.js'

const n = Number(process.argv[2] ?? 10000)
const task = async (x) => ({ v: x + 1 })
const orch = new Orchestrator({ store: 'memory' })
await orch.register(defineAgent({ name: 'inc', handler: (i) => task(i.x) }))
await orch.register(defineAgent({ name: 'sum', handler: (i) => task(i.items.reduce((a, r) => a + r.v, 0)) }))
await orch.register(defineAgent({ name: 'sumxs', handler: (i) => task(i.xs.reduce((a, b) => a + b, 0)) }))

const mr = workflow('mr')
  .mapReduce('total', {
    items: Array.from({ length: n }, (_, i) => ({ x: i })),
    map: { agent: 'inc' },
    reduce: { agent: 'sum' },
  })
  .build()
const w1 = compileWorkflow({
  name: 'w1',
  tasks: [
    { id: 's', agent: 'inc', input: { x: 0 } },
    ...Array.from({ length: n }, (_, i) => ({ id: `t${i}`, agent: 'inc', input: { x: { $ref: 'tasks.s.output.v' } } })),
    { id: 'j', agent: 'sumxs', input: { xs: Array.from({ length: n }, (_, i) => ({ $ref: `tasks.t${i}.output.v` })) } },
  ],
})
const expected = (n * (n + 1)) / 2 + 1
const cases = {
  baseline: async () => {
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => task(i)))
    return task(rs.reduce((a, r) => a + r.v, 0))
  },
  'flotilla map-reduce': async () => {
    const r = await orch.run(mr)
    if (r.output('total').v !== expected) throw new Error('wrong map-reduce result')
  },
  'flotilla W1': async () => {
    const r = await orch.run(w1)
    if (r.output('j').v !== 2 * n + 1) throw new Error('wrong W1 result')
  },
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1]
const out = {}
for (const [name, fn] of Object.entries(cases)) {
  for (let i = 0; i < 5; i++) {
    global.gc?.()
    await fn()
    await orch.prune(0)
  }
  const times = []
  for (let i = 0; i < 21; i++) {
    global.gc?.()
    const t = performance.now()
    await fn()
    times.push(performance.now() - t)
    await new Promise((r) => setTimeout(r, 2))
    await orch.prune(1)
  }
  out[name] = median(times)
}
const per = (name, tasks) => ((out[name] - out.baseline) * 1000) / tasks
console.log(
  JSON.stringify({
    n,
    baseline_ms: +out.baseline.toFixed(3),
    map_reduce_ms: +out['flotilla map-reduce'].toFixed(3),
    w1_ms: +out['flotilla W1'].toFixed(3),
    map_reduce_us_per_item: +per('flotilla map-reduce', n + 1).toFixed(3),
    w1_us_per_task: +per('flotilla W1', n + 2).toFixed(3),
  }),
)
