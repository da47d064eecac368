import { noSpend, type ModelSpend } from '../core/model-spend.js'
import type { Client } from '../orchestrator/client.js'

/** What the runs an API key started spent on models. */
export interface KeyUsage {
  /** The key's id. */
  key: string
  /** Runs it started (through the HTTP API) among those read. */
  runs: number
  /** Their tasks' model spend, summed from the task records. */
  model: ModelSpend
  /** Runs read (the newest first, created at or after `since`): the sum covers these. */
  scanned: number
}

/** Most runs one usage read looks at. */
export const MAX_USAGE_RUNS = 10_000

/**
 * Sums the model spend stored on the task records of the runs key `keyId`
 * started: a run started through the HTTP API names its key as the actor of
 * its `run.started` event (`key:<id>`). Reads the newest `limit` runs created
 * at or after `since`, a few at a time.
 *
 * @example
 * ```ts
 * const usage = await keyUsage(client, 'k_1a2b', { since: Date.now() - 86_400_000 })
 * console.log(usage.model.costUsd)
 * ```
 */
export async function keyUsage(
  client: Client,
  keyId: string,
  options: { since?: number; limit?: number } = {},
): Promise<KeyUsage> {
  const actor = `key:${keyId}`
  const since = options.since ?? 0
  const runs = (await client.listRuns({ limit: options.limit ?? MAX_USAGE_RUNS })).filter((r) => r.createdAt >= since)
  const model = noSpend()
  let started = 0
  for (let i = 0; i < runs.length; i += 16) {
    await Promise.all(
      runs.slice(i, i + 16).map(async (r) => {
        const [first] = await client.listEvents(r.id, { limit: 1 })
        if (first?.event.type !== 'run.started' || first.event.actor !== actor) return
        started++
        for (const t of await client.getTasks(r.id).catch(() => [])) {
          if (t.model === undefined) continue
          for (const k of Object.keys(model) as (keyof ModelSpend)[]) model[k] += t.model[k]
        }
      }),
    )
  }
  return { key: keyId, runs: started, model, scanned: runs.length }
}
