// The agents of the dynamic-research example: a coordinator (a planner) that
// reads the question and decides which specialists it needs, agent templates
// the specialists are spawned from (a generic one stands in for specialties
// without a template of their own), and a synthesizer that merges their answers.
//
// Offline: every model is a scripted model (flotilla/testing) that writes from
// the prompt it gets, priced as a small hosted model so that `flotilla runs
// show` has a cost per agent to display.
import { defineAgentTemplate, defineLlmAgent, definePlannerAgent, registerProvider } from 'flotilla'
import { scriptedModel } from 'flotilla/testing'

/** Prices of the offline models: those of a small hosted model, in US dollars per million tokens. */
const prices = { 'scripted:': { input: 0.4, output: 1.6 } }

/** The last user message of a call: what the agent was asked. */
function asked(call) {
  const last = call.prompt.filter((m) => m.role === 'user').at(-1)
  return (last?.content ?? []).map((p) => p.text ?? '').join('')
}

/** The system prompt of a call: who the agent was told it is. */
function role(call) {
  return call.prompt.find((m) => m.role === 'system')?.content ?? ''
}

/** An offline model answering every call with `answer(call)`. */
function offline(id, answer) {
  return scriptedModel([(call) => ({ text: answer(call) })], { modelId: id, repeatLast: true })
}

/** A specialist's answer: one finding from its angle, citing what it was asked. */
const finding = (call) =>
  `${role(call).split('.')[0]}: on "${asked(call).split('\n')[0].slice(0, 80)}", the key point is local evidence.`

export const researcher = defineAgentTemplate({
  name: 'researcher',
  description: 'Finds facts and sources.',
  model: offline('offline-researcher', finding),
  system: 'You are a thorough researcher. Cite what you rely on.',
  temperature: 0.3,
  budget: { task: { calls: 3 } },
  prices,
})

export const economist = defineAgentTemplate({
  name: 'economist',
  description: 'Weighs costs, benefits and who pays.',
  model: offline('offline-economist', finding),
  system: 'You are an economist. Weigh costs and benefits.',
  temperature: 0.5,
  budget: { task: { calls: 3 } },
  prices,
})

/** The generic template: a specialty without a template of its own gets it, with a specialty prompt. */
export const generic = defineAgentTemplate({
  name: 'generic',
  description: 'Stands in for any specialty.',
  model: offline('offline-generic', finding),
  specialty: (s) => `You are a specialist in ${s}. Answer from that field only.`,
  budget: { task: { calls: 3 } },
  prices,
})

/** The plan the offline coordinator makes: two known specialties, one without a template (hydrology), and a review of the three. */
function plan(call) {
  const question = asked(call).split('\n')[0]
  return {
    object: {
      tasks: [
        { id: 'facts', specialty: 'researcher', prompt: `Collect the facts behind: ${question}` },
        { id: 'costs', specialty: 'economist', prompt: `Estimate the costs and benefits of: ${question}` },
        { id: 'water', specialty: 'hydrology', prompt: `What does water management say about: ${question}` },
        {
          id: 'check',
          specialty: 'researcher',
          prompt: 'Check the three findings against each other.',
          dependsOn: ['facts', 'costs', 'water'],
        },
      ],
    },
  }
}

export const coordinator = definePlannerAgent({
  name: 'coordinator',
  description: 'Plans the specialists a question needs.',
  model: scriptedModel([plan], { modelId: 'offline-coordinator', repeatLast: true }),
  templates: ['researcher', 'economist'],
  fallbackTemplate: 'generic',
  maxTasks: 6,
  // The specialists' task budgets (3 calls each) must fit the coordinator's run budget.
  budget: { run: { calls: 20 } },
  permissions: [],
  prices,
})

export const synthesizer = defineLlmAgent({
  name: 'synthesizer',
  description: 'Merges the specialists answers into one recommendation.',
  model: offline('offline-synthesizer', (call) => {
    const findings = (asked(call).match(/the key point/g) ?? []).length
    return `Recommendation: proceed with a pilot. Based on ${findings} specialist findings.`
  }),
  prompt: (input) => `Question: ${input.question}\n\nFindings:\n${JSON.stringify(input.findings, null, 2)}`,
  prices,
})

/**
 * The offline model behind `offline:summary`, which the workflow's `summary`
 * names: it writes the run summary from the results it is shown (what it
 * counts of them), as a hosted model would in prose.
 */
registerProvider('offline', (id) =>
  offline(id, (call) => {
    const results = asked(call)
    const succeeded = (results.match(/\[SUCCEEDED\]/g) ?? []).length
    return `The team planned specialists, ran them as a child run and merged their findings; ${succeeded} of the run's tasks succeeded. ${results.includes('Recommendation:') ? 'It recommends a pilot.' : ''}`.trim()
  }),
)
