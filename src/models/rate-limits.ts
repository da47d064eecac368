import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible'
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

const limiters = new Map<string, Limiter>()

function queue(points: number, duration: number): RateLimiterQueue {
  return new RateLimiterQueue(new RateLimiterMemory({ points, duration }), { maxQueueSize: 100_000 })
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
export function limitProvider(provider: string, limits: ProviderLimits | undefined): void {
  if (limits === undefined) {
    limiters.delete(provider)
    return
  }
  const seconds = limits.perSeconds ?? 60
  for (const [k, v] of Object.entries({ requests: limits.requests, tokens: limits.tokens, perSeconds: seconds })) {
    if (v !== undefined && (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))) {
      throw new FlotillaError('VALIDATION_FAILED', `limitProvider("${provider}"): ${k} must be a number > 0; got ${String(v)}.`, { details: { provider, field: k } })
    }
  }
  limiters.set(provider, {
    requests: limits.requests === undefined ? undefined : queue(Math.floor(limits.requests), seconds),
    tokens: limits.tokens === undefined ? undefined : { queue: queue(Math.floor(limits.tokens), seconds), points: Math.floor(limits.tokens) },
  })
}

/** Waits until a call of `tokens` (worst case) to `provider` fits its limits; at once when it has none. A call larger than the whole token window waits for a full window. */
export async function throttle(provider: string, tokens: number): Promise<void> {
  const l = limiters.get(provider)
  if (l === undefined) return
  if (l.requests !== undefined) await l.requests.removeTokens(1)
  if (l.tokens !== undefined) await l.tokens.queue.removeTokens(Math.max(1, Math.min(Math.ceil(tokens), l.tokens.points)))
}
