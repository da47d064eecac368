import type { RateLimiterQueue } from 'rate-limiter-flexible'
import { FlotillaError } from '../core/errors.js'

/** How fast the agents of this process may call one provider. */
export interface ProviderLimits {
  /** Model calls per window. */
  requests?: number
  /** Tokens (a call's worst case: prompt estimate plus its maximum answer) per window. */
  tokens?: number
  /** The window, in seconds. @default 60 */
  perSeconds?: number
}

interface Limiter {
  requests: RateLimiterQueue | undefined
  tokens: { queue: RateLimiterQueue; points: number } | undefined
}

/** Limits as set; their queues are made on the first throttled call (rate-limiter-flexible is loaded then). */
const limits = new Map<string, { requests?: number; tokens?: number; seconds: number; made?: Promise<Limiter> }>()

async function limiterOf(entry: { requests?: number; tokens?: number; seconds: number }): Promise<Limiter> {
  const { RateLimiterMemory, RateLimiterQueue: Queue } = await import('rate-limiter-flexible')
  const queue = (points: number): RateLimiterQueue =>
    new Queue(new RateLimiterMemory({ points, duration: entry.seconds }), { maxQueueSize: 100_000 })
  return {
    requests: entry.requests === undefined ? undefined : queue(entry.requests),
    tokens: entry.tokens === undefined ? undefined : { queue: queue(entry.tokens), points: entry.tokens },
  }
}

/**
 * Limits the calls every agent of this process makes to `provider` (the part
 * before `:` of a model string: `openai`, `anthropic`, `openai-compatible`,
 * or a provider of your own): a call waits until it fits in the window, in
 * the order calls came. `undefined` removes the limits. Limits are per
 * process: several workers each hold their own.
 *
 * @example
 * ```ts
 * limitProvider('openai', { requests: 500, tokens: 200_000 }) // per minute
 * ```
 */
export function limitProvider(provider: string, given: ProviderLimits | undefined): void {
  if (given === undefined) {
    limits.delete(provider)
    return
  }
  const seconds = given.perSeconds ?? 60
  for (const [k, v] of Object.entries({ requests: given.requests, tokens: given.tokens, perSeconds: seconds })) {
    if (v !== undefined && (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `limitProvider("${provider}"): ${k} must be a number > 0; got ${String(v)}.`,
        { details: { provider, field: k } },
      )
    }
  }
  limits.set(provider, {
    seconds,
    ...(given.requests === undefined ? {} : { requests: Math.max(1, Math.floor(given.requests)) }),
    ...(given.tokens === undefined ? {} : { tokens: Math.max(1, Math.floor(given.tokens)) }),
  })
}

/**
 * Waits until a call of `tokens` (worst case: a number, or a function or a
 * worst case whose `inputTokens` is read only when
 * the provider has limits) to `provider` fits its limits: `undefined` (no
 * wait, not even a turn of the event loop) when it has none. A call larger
 * than the whole token window waits for a full window.
 */
export function throttle(
  provider: string,
  tokens: number | (() => number) | { readonly inputTokens: number; readonly outputTokens: number },
): Promise<void> | undefined {
  const entry = limits.get(provider)
  if (entry === undefined) return undefined
  return take(
    entry,
    typeof tokens === 'number'
      ? tokens
      : typeof tokens === 'function'
        ? tokens()
        : tokens.inputTokens + tokens.outputTokens,
  )
}

async function take(
  entry: { requests?: number; tokens?: number; seconds: number; made?: Promise<Limiter> },
  tokens: number,
): Promise<void> {
  const l = await (entry.made ??= limiterOf(entry))
  if (l.requests !== undefined) await l.requests.removeTokens(1)
  if (l.tokens !== undefined)
    await l.tokens.queue.removeTokens(Math.max(1, Math.min(Math.ceil(tokens), l.tokens.points)))
}
