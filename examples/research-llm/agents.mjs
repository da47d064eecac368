// The agents of the research-llm example: three researchers who look at a
// question from different angles, a synthesizer (with a backup on another
// model), a reviewer who grades the synthesis with a confidence, and a
// reviser called when that confidence is low.
//
// Offline by default: each agent runs on a scripted model (flotilla/testing)
// that writes from the prompt it gets, priced as a small hosted model so the
// summary shows what a real run would cost. Set FLOTILLA_MODEL to run every
// agent on a real model, e.g.
//   FLOTILLA_MODEL=openai-compatible:http://127.0.0.1:11434/v1#llama3.2   (Ollama)
//   FLOTILLA_MODEL=openai:gpt-4.1-mini                                     (needs OPENAI_API_KEY)
import { z } from 'zod'
import { defineLlmAgent } from 'flotilla'
import { scriptedModel } from 'flotilla/testing'

const live = process.env.FLOTILLA_MODEL

/** Prices of the offline models: those of a small hosted model, in US dollars per million tokens. */
const OFFLINE_PRICES = { 'scripted:': { input: 0.4, output: 1.6 } }

/** The last user message of a call: what the agent was asked. */
function asked(call) {
  const last = call.prompt.filter((m) => m.role === 'user').at(-1)
  return (last?.content ?? []).map((p) => p.text ?? '').join('')
}

/** The question inside a prompt (first line after "Question:"). */
function questionOf(text) {
  return /Question: (.*)/.exec(text)?.[1] ?? text.split('\n')[0]
}

/** An offline model answering every call with `answer(prompt)`. */
function offline(role, answer) {
  return scriptedModel([(call) => ({ text: answer(asked(call)) })], { modelId: `offline-${role}`, repeatLast: true })
}

const PERSPECTIVES = {
  economist: {
    focus: 'costs, benefits and who pays',
    line: (q) =>
      `Costs are modest next to the gains in pollination and local honey sales; the budget question for "${q}" is upkeep, not set-up.`,
  },
  ecologist: {
    focus: 'wild pollinators and biodiversity',
    line: (q) =>
      `Managed hives compete with wild bees for forage; for "${q}" the number of hives should follow the flowers available nearby.`,
  },
  skeptic: {
    focus: 'risks, evidence gaps and what could go wrong',
    line: (q) =>
      `Evidence for "${q}" comes mostly from small pilots; stings, swarms and liability need a plan before scaling up.`,
  },
}

function researcher(name) {
  const p = PERSPECTIVES[name]
  return defineLlmAgent({
    name,
    description: `Researches a question from the angle of ${p.focus}.`,
    capabilities: ['research'],
    model: live ?? offline(name, (prompt) => p.line(questionOf(prompt))),
    system: `You are a researcher focused on ${p.focus}. Answer in three sentences at most.`,
    prompt: ({ question }) => `Question: ${question}\nGive your findings from your perspective.`,
    input: z.object({ question: z.string() }),
    maxTokens: 400,
    prices: OFFLINE_PRICES,
    budget: { task: { costUsd: 0.01 } },
  })
}

export const economist = researcher('economist')
export const ecologist = researcher('ecologist')
export const skeptic = researcher('skeptic')

const synthesisInput = z.object({ question: z.string(), findings: z.array(z.string()) })
const synthesisPrompt = ({ question, findings }) =>
  `Question: ${question}\nFindings:\n${findings.map((f) => `- ${f}`).join('\n')}\nWrite the synthesis.`
const synthesize = (prompt) => {
  const findings = prompt
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => l.slice(2))
  return `On "${questionOf(prompt)}": ${findings.length} perspectives agree that it can work at a small scale. ${findings.map((f) => f.split(';')[0]).join(' ')}`
}

/** The synthesizer's primary model is down in offline mode (HTTP 503), so its fallback agent writes the synthesis. */
export const synthesizer = defineLlmAgent({
  name: 'synthesizer',
  model:
    live ??
    scriptedModel([{ error: { status: 503, message: 'primary model overloaded' } }], {
      modelId: 'offline-primary',
      repeatLast: true,
    }),
  system: 'You merge research findings into one balanced paragraph.',
  prompt: synthesisPrompt,
  input: synthesisInput,
  maxRetries: 0,
  prices: OFFLINE_PRICES,
})

export const synthesizerBackup = defineLlmAgent({
  name: 'synthesizer-backup',
  model: process.env.FLOTILLA_FALLBACK_MODEL ?? live ?? offline('backup', synthesize),
  system: 'You merge research findings into one balanced paragraph.',
  prompt: synthesisPrompt,
  input: synthesisInput,
  prices: OFFLINE_PRICES,
})

/** Grades a synthesis; its confidence decides whether the reviser runs. */
export const reviewer = defineLlmAgent({
  name: 'reviewer',
  model:
    live ??
    offline('reviewer', () =>
      JSON.stringify({
        answer: { verdict: 'needs work', critique: 'It does not say what to do first.' },
        confidence: 0.55,
      }),
    ),
  system: 'You review a research synthesis: is it balanced, and does it end with a recommendation?',
  prompt: ({ draft }) => `Review this synthesis:\n${draft}`,
  input: z.object({ draft: z.string() }),
  output: z.object({ verdict: z.string(), critique: z.string() }),
  confidence: true,
  prices: OFFLINE_PRICES,
})

export const reviser = defineLlmAgent({
  name: 'reviser',
  model:
    live ??
    offline(
      'reviser',
      (prompt) =>
        `${prompt.split('\n')[1]} Recommendation: start with a two-year pilot of ten hives, placed by flower survey, with a swarm and liability plan.`,
    ),
  system: 'You revise a synthesis to answer a critique. Keep it to one paragraph.',
  prompt: ({ draft, critique }) => `Revise this synthesis:\n${draft}\nCritique: ${critique}`,
  input: z.object({ draft: z.string(), critique: z.string() }),
  prices: OFFLINE_PRICES,
})
