import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'

/**
 * Auto-scaling of one agent (`defineAgent({ scaling })`, or `scaling:` in an
 * agent spec): the orchestrator adds an instance when work waits for the
 * agent, and removes an idle one after a quiet spell, always between `min`
 * and `max`.
 */
export interface ScalingOptions {
  /** Fewest instances; also how many start. @default 1 */
  min?: number
  /** Most instances, never exceeded (the agent's instance cap). */
  max: number
  /**
   * Ready attempts waiting per instance before one is added: with `n`
   * instances, more than `n × targetQueueDepth` waiting adds instances up to
   * `ceil(waiting / targetQueueDepth)`. @default 1
   */
  targetQueueDepth?: number
  /** Work waiting this long (ms), however little of it, adds one instance. @default 1000 */
  maxWaitMs?: number
  /** An instance idle this long (ms), with nothing waiting and no instance added meanwhile, is removed (one per check). @default 30000 */
  cooldownMs?: number
}

/** {@link ScalingOptions} with every default filled in. */
export type ResolvedScaling = Readonly<Required<ScalingOptions>>

/** The zod schema of {@link ScalingOptions} (agent specs, definitions). */
export const scalingSchema = z
  .object({
    min: z.number().int().min(1).optional(),
    max: z.number().int().min(1).max(10_000),
    targetQueueDepth: z.number().positive().optional(),
    maxWaitMs: z.number().positive().optional(),
    cooldownMs: z.number().nonnegative().optional(),
  })
  .strict()
  .refine((s) => (s.min ?? 1) <= s.max, { message: 'scaling.min must be at most scaling.max' })

/**
 * Validates scaling options and fills in the defaults; `AGENT_INVALID`
 * naming the agent and the field otherwise.
 *
 * @example
 * ```ts
 * resolveScaling({ max: 4 }, 'ocr') // { min: 1, max: 4, targetQueueDepth: 1, maxWaitMs: 1000, cooldownMs: 30000 }
 * ```
 */
export function resolveScaling(value: unknown, agent: string): ResolvedScaling {
  const parsed = scalingSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue.path.length > 0 ? `scaling.${issue.path.join('.')}: ` : ''
    throw new FlotillaError(
      'AGENT_INVALID',
      `Agent "${agent}": ${where}${issue.message} (scaling is { min?, max, targetQueueDepth?, maxWaitMs?, cooldownMs? }).`,
      { details: { agent, field: `scaling${issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}` } },
    )
  }
  const s = parsed.data
  return Object.freeze({
    min: s.min ?? 1,
    max: s.max,
    targetQueueDepth: s.targetQueueDepth ?? 1,
    maxWaitMs: s.maxWaitMs ?? 1000,
    cooldownMs: s.cooldownMs ?? 30_000,
  })
}

/** What an autoscaler sees of one agent at a check. */
export interface ScalingSignal {
  /** Instances now (READY or not). */
  instances: number
  /** Ready attempts waiting for a free instance. */
  waiting: number
  /** How long attempts have been waiting without a break, in ms (0: none waits). */
  waitingForMs: number
  /** Instances running nothing. */
  idle: number
  /** How long the longest-idle instance has been idle, in ms. */
  idleForMs: number
  /** Time since the last instance was added, in ms (Infinity: never). */
  sinceAddMs: number
}

/** A change an autoscaler decided: from how many instances to how many, and why. */
export interface ScalingDecision {
  from: number
  to: number
  reason: string
}

/**
 * The scaling policy, a pure function: below `min` → up to `min`; waiting
 * work over `targetQueueDepth` per instance → up to `ceil(waiting /
 * targetQueueDepth)`; work waiting longer than `maxWaitMs` → one more; an
 * instance idle for `cooldownMs`, nothing waiting and nothing added for
 * `cooldownMs` → one fewer. Never outside `[min, max]`. `undefined`: no change.
 *
 * @example
 * ```ts
 * decideScaling(resolveScaling({ max: 4 }, 'ocr'), { instances: 1, waiting: 3, waitingForMs: 0, idle: 0, idleForMs: 0, sinceAddMs: Infinity })
 * // { from: 1, to: 3, reason: '3 attempts waiting, over 1 per instance' }
 * ```
 */
export function decideScaling(s: ResolvedScaling, signal: ScalingSignal): ScalingDecision | undefined {
  const from = signal.instances
  if (from < s.min) return { from, to: s.min, reason: `below the minimum of ${s.min}` }
  if (from > s.max) return { from, to: s.max, reason: `above the maximum of ${s.max}` }
  if (signal.waiting > 0 && from < s.max) {
    if (signal.waiting > from * s.targetQueueDepth) {
      const to = Math.min(s.max, Math.max(from + 1, Math.ceil(signal.waiting / s.targetQueueDepth)))
      const per = s.targetQueueDepth === 1 ? '1' : String(s.targetQueueDepth)
      return { from, to, reason: `${signal.waiting} attempts waiting, over ${per} per instance` }
    }
    if (signal.waitingForMs >= s.maxWaitMs)
      return { from, to: from + 1, reason: `attempts waiting for ${Math.round(signal.waitingForMs)} ms` }
  }
  if (
    signal.waiting === 0 &&
    signal.idle > 0 &&
    from > s.min &&
    signal.idleForMs >= s.cooldownMs &&
    signal.sinceAddMs >= s.cooldownMs
  )
    return { from, to: from - 1, reason: `an instance idle for ${Math.round(signal.idleForMs)} ms` }
  return undefined
}
