import { z } from 'zod'
import { Orchestrator, defineAgent, workflow, ref, inputRef } from 'flotilla'

const fetcher = defineAgent({
  name: 'fetcher',
  capabilities: ['fetch'],
  input: z.object({ topic: z.string() }),
  handler: async ({ topic }, ctx) => {
    ctx.log.info(`looking up ${topic}`)
    return { facts: [`${topic} is a word`, `${topic} has ${topic.length} letters`] }
  },
})

const writer = defineAgent({
  name: 'writer',
  input: z.object({ facts: z.array(z.string()) }),
  output: z.object({ text: z.string() }),
  handler: async ({ facts }) => ({ text: facts.join('. ') + '.' }),
})

const orchestrator = new Orchestrator()
await orchestrator.register(fetcher)
await orchestrator.register(writer)

const wf = workflow('summary')
  .task('fetch', {
    capability: 'fetch',
    input: { topic: inputRef('topic') },
    retry: { maxAttempts: 3 },
    timeoutMs: 5_000,
  })
  .task('write', { agent: 'writer', input: { facts: ref('fetch', 'facts') }, priority: 'HIGH' })
  .build()

const result = await orchestrator.run(wf, { topic: 'flotilla' })
console.log(result.state, result.output('write'))
console.log(result.summary.successRate, result.summary.criticalPath)
