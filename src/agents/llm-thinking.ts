import { z } from 'zod'
import type { ModelRunResult } from '../models/run-model.js'
import type { ModelSpec } from '../models/providers.js'
import type { AgentLogger } from './context.js'

/** Critique and revise: after the answer, a critic judges it; a rejected answer is revised with the critique. */
export interface ReflectionOptions {
  /** Most critique-and-revise rounds. */
  rounds: number
  /** The critic's model. @default the agent's model */
  critic?: ModelSpec
}

/** Several alternative answers, one of them chosen. */
export interface ExploreOptions {
  /** How many answers to ask for (≥ 2). */
  k: number
  /** How to choose: the critic picks the best (`critic`), or the most frequent answer wins, weighted by confidence when there is one (`vote`). @default 'vote' */
  choose?: 'critic' | 'vote'
}

/** What {@link think} needs from the agent. */
export interface Thinking {
  prompt: string
  /** Asks the agent's model (with its tools) for an answer to `prompt`. */
  ask(prompt: string): Promise<ModelRunResult>
  /** Asks the critic model for a structured judgement. */
  judge<T>(prompt: string, schema: z.ZodType<T>): Promise<T>
  /** The answer a result carries (its text or structured output). */
  value(result: ModelRunResult): unknown
  explore?: ExploreOptions
  reflection?: ReflectionOptions
  log: AgentLogger
}

function render(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}

/** The most frequent answer, weighted by its confidence when it carries one; ties go to the earliest. */
export function voteOn(values: readonly unknown[]): number {
  const groups = new Map<string, { weight: number; first: number }>()
  values.forEach((v, i) => {
    const c = (v as { confidence?: unknown } | null)?.confidence
    const answer = typeof c === 'number' ? (v as { answer: unknown }).answer : v
    const k = JSON.stringify(answer) ?? 'undefined'
    const g = groups.get(k) ?? { weight: 0, first: i }
    g.weight += typeof c === 'number' ? c : 1
    groups.set(k, g)
  })
  let best = { weight: -1, first: 0 }
  for (const g of groups.values()) if (g.weight > best.weight) best = g
  return best.first
}

/**
 * Answers with optional exploration (k alternatives, one chosen) and
 * reflection (critique and revise until the critic accepts or the rounds run
 * out). Calls are made one after another, so that the task's journal numbers
 * them the same way on a replay. Each decision is an `info` log line.
 */
export async function think(t: Thinking): Promise<ModelRunResult> {
  let current = await t.ask(t.prompt)
  if (t.explore !== undefined) {
    const candidates = [current]
    for (let i = 1; i < t.explore.k; i++) candidates.push(await t.ask(t.prompt))
    const values = candidates.map((c) => t.value(c))
    let chosen = 0
    if (t.explore.choose === 'critic') {
      const list = values.map((v, i) => `[${i}]\n${render(v)}`).join('\n\n')
      const pick = await t.judge(
        `Task:\n${t.prompt}\n\nCandidate answers:\n${list}\n\nWhich candidate answers the task best? Give its number.`,
        z.object({ best: z.number().int(), reason: z.string() }),
      )
      chosen = Math.min(Math.max(0, pick.best), candidates.length - 1)
      t.log.info('explore', { candidates: candidates.length, chosen, by: 'critic', reason: pick.reason })
    } else {
      chosen = voteOn(values)
      t.log.info('explore', { candidates: candidates.length, chosen, by: 'vote' })
    }
    current = candidates[chosen]
  }
  for (let round = 1; round <= (t.reflection?.rounds ?? 0); round++) {
    const verdict = await t.judge(
      `Task:\n${t.prompt}\n\nAnswer:\n${render(t.value(current))}\n\nIs this answer correct and complete? Accept it, or say precisely what to improve.`,
      z.object({ accept: z.boolean(), critique: z.string() }),
    )
    t.log.info('reflection', { round, accept: verdict.accept, critique: verdict.critique })
    if (verdict.accept) break
    current = await t.ask(
      `${t.prompt}\n\nA previous answer was:\n${render(t.value(current))}\n\nA reviewer said: ${verdict.critique}\n\nWrite an improved answer.`,
    )
  }
  return current
}
