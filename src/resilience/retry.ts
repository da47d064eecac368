import { z } from 'zod'
import { ERROR_CODES, FlotillaError, isFlotillaError, type ErrorCode } from '../core/errors.js'

/** How a failed task attempt is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 1 (no retry) */
  maxAttempts: number
  /** Delay cap before the first retry, in ms. @default 100 */
  initialDelayMs: number
  /** Growth factor of the delay cap per attempt. @default 2 */
  multiplier: number
  /** Upper bound of any delay, in ms. @default 30000 */
  maxDelayMs: number
  /** Codes never retried, beyond those the error table marks non-retryable. @default [] */
  nonRetryableCodes: readonly ErrorCode[]
}

/** A partial {@link RetryPolicy}; missing fields take their defaults. */
export type RetryOptions = Partial<RetryPolicy>

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 1,
  initialDelayMs: 100,
  multiplier: 2,
  maxDelayMs: 30_000,
  nonRetryableCodes: Object.freeze([]) as readonly ErrorCode[],
})

/** The zod schema of {@link RetryOptions}, shared by the builder and the workflow file format. */
export const retryOptionsSchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    initialDelayMs: z.number().min(0).optional(),
    multiplier: z.number().min(1).optional(),
    maxDelayMs: z.number().min(0).optional(),
    nonRetryableCodes: z.array(z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]])).optional(),
  })
  .strict()

/**
 * Completes and validates retry options.
 *
 * @example
 * ```ts
 * const policy = resolveRetryPolicy({ maxAttempts: 3 })
 * ```
 */
export function resolveRetryPolicy(options: RetryOptions | undefined): RetryPolicy {
  if (options === undefined) return DEFAULT_RETRY_POLICY
  const parsed = retryOptionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Invalid retry policy at "${issue?.path.join('.') || '(root)'}": ${issue?.message}.`,
      {
        details: { path: issue?.path.join('.') ?? '' },
      },
    )
  }
  const given = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as RetryOptions
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY_POLICY,
    ...given,
    nonRetryableCodes: [...(given.nonRetryableCodes ?? [])],
  }
  if (policy.maxDelayMs < policy.initialDelayMs) policy.maxDelayMs = policy.initialDelayMs
  return policy
}

/**
 * The delay before retry number `attempt` (1 = the delay after the first
 * failed attempt): exponential backoff with full jitter, a uniform draw in
 * `[0, min(maxDelayMs, initialDelayMs × multiplier^(attempt − 1))]`.
 *
 * @example
 * ```ts
 * const ms = backoffDelay(policy, 2, Math.random)
 * ```
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  if (policy.initialDelayMs === 0) return 0
  const grown = policy.initialDelayMs * Math.pow(policy.multiplier, Math.max(0, attempt - 1))
  const cap = Number.isFinite(grown) ? Math.min(policy.maxDelayMs, grown) : policy.maxDelayMs
  return Math.floor(random() * cap)
}

/**
 * Whether a failure of attempt `attempt` should be retried under `policy`:
 * attempts remain, the error is retryable by the table (or its own flag),
 * and its code is not listed as non-retryable.
 */
export function shouldRetry(policy: RetryPolicy, attempt: number, error: unknown): boolean {
  if (attempt >= policy.maxAttempts) return false
  if (!isFlotillaError(error)) return true
  if (!error.retryable) return false
  return !policy.nonRetryableCodes.includes(error.code)
}
