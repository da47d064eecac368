import type { Hook } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ERROR_CODES, FlotillaError, isFlotillaError } from '../core/errors.js'
import { errorFields } from '../telemetry/telemetry.js'
import type { ServerEnv } from './server-deps.js'

/** The body of every error response: `{ error: { code, message, details } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details: Readonly<Record<string, unknown>> }
}

/** The status and body of an error: a FlotillaError keeps its code and the table's status; anything else is a 500 INTERNAL. */
export function errorResponse(e: unknown): { status: ContentfulStatusCode; body: ErrorBody } {
  if (isFlotillaError(e)) {
    return {
      status: ERROR_CODES[e.code].status as ContentfulStatusCode,
      body: { error: { code: e.code, message: e.message, details: e.details ?? {} } },
    }
  }
  if (e instanceof HTTPException && e.status < 500) {
    // Hono's own refusals: a malformed JSON body, a content type that is not JSON.
    const hint = e.status === 415 ? ' Send the body as JSON with Content-Type: application/json.' : ''
    return {
      status: 400,
      body: {
        error: {
          code: 'VALIDATION_FAILED',
          message: `The request is not valid: ${e.message.replace(/\.$/, '')}.${hint}`,
          details: { field: '(body)', status: e.status },
        },
      },
    }
  }
  return {
    status: 500,
    body: {
      error: { code: 'INTERNAL', message: 'The server failed on this request; its log has the cause.', details: {} },
    },
  }
}

/** Answers a thrown error as JSON (and logs a 5xx with its request id; never a key). */
export function onApiError(e: unknown, c: Context<ServerEnv>): Response {
  const { status, body } = errorResponse(e)
  if (status >= 500) {
    c.get('deps')?.logger.error(
      { ...errorFields(e), requestId: c.get('requestId'), path: c.req.path },
      'an API request failed',
    )
  }
  if (isFlotillaError(e) && e.code === 'RATE_LIMITED') {
    const wait = (e.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds
    if (wait !== undefined) c.header('Retry-After', String(wait))
  }
  return c.json(body, status)
}

/** Turns a failed request validation into `VALIDATION_FAILED` naming each field. */
export const validationHook: Hook<unknown, ServerEnv, string, unknown> = (result) => {
  if (result.success) return
  const issues = result.error.issues.map((i) => ({
    field: i.path.map(String).join('.') || '(body)',
    message: i.message,
  }))
  const list = issues.map((i) => `${i.field}: ${i.message}`).join('; ')
  throw new FlotillaError('VALIDATION_FAILED', `The request is not valid: ${list}.`, {
    details: { target: result.target, issues },
  })
}
