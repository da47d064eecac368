import { z } from '@hono/zod-openapi'
import { RUN_STATES } from '../core/states.js'
import { ROLES } from '../security/roles.js'

/** `{ error: { code, message, details } }`, the body of every error. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'RUN_NOT_FOUND' }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .openapi('Error')

/** The error responses every authenticated route may give. */
export const errorResponses = {
  400: {
    description: 'The request is not valid (VALIDATION_FAILED…)',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  401: { description: 'No key, or a key that is not valid', content: { 'application/json': { schema: ErrorSchema } } },
  403: {
    description: 'The key may not do this, or is blocked',
    content: { 'application/json': { schema: ErrorSchema } },
  },
  404: { description: 'Not found', content: { 'application/json': { schema: ErrorSchema } } },
  429: { description: 'Rate limited; see Retry-After', content: { 'application/json': { schema: ErrorSchema } } },
} as const

/** A request body that may be left out, of `schema` when given. */
export function optionalJson<T extends z.ZodType>(schema: T) {
  return { required: false, content: { 'application/json': { schema } } } as const
}

/** A JSON response of `schema`. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

/** Identifiers in paths: letters, digits and `._:-`, at most 200 characters (no slashes, no traversal). */
export const IdParam = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._:@-]+$/, 'only letters, digits and . _ : @ -')

/** A stored error. */
export const SerializedErrorSchema = z
  .object({
    code: z.string(),
    message: z.string(),
    retryable: z.boolean().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('SerializedError')

const time = z.number().nullable().openapi({ description: 'Milliseconds since the epoch' })

/** Model calls, tokens and cost, summed (a task's over its attempts, a key's over its runs). */
export const ModelSpendSchema = z
  .object({
    calls: z.number().openapi({ description: 'Model calls made (paid)' }),
    replayed: z
      .number()
      .openapi({ description: 'Calls answered from the journal (paid once, by an earlier attempt); not in calls' }),
    inputTokens: z.number(),
    outputTokens: z.number(),
    reasoningTokens: z.number(),
    cachedInputTokens: z.number(),
    costUsd: z.number().openapi({ description: 'US dollars, from the price table' }),
  })
  .openapi('ModelSpend')

/** A run's generated summary. */
export const RunSummarySchema = z
  .object({
    text: z.string(),
    model: z.string().openapi({ description: 'provider:modelId of the model that wrote it' }),
    // The same fields as ModelSpend, not the component itself (which tasks use as nullable).
    spend: z.object(ModelSpendSchema.shape).openapi({ description: "What writing it cost; counted in the run's cost" }),
    at: z.number(),
  })
  .openapi('RunSummary')

/** A run, as stored. */
export const RunSchema = z
  .object({
    id: z.string(),
    workflow: z.string(),
    workflowHash: z.string(),
    state: z.enum(RUN_STATES as [string, ...string[]]),
    input: z.unknown(),
    createdAt: z.number(),
    startedAt: time,
    finishedAt: time,
    error: SerializedErrorSchema.nullable(),
    parentRunId: z.string().nullable().openapi({
      description: 'The run this one replays, or (with parentTaskId) the run whose task planned it; null for neither',
    }),
    parentTaskId: z.string().nullable().openapi({
      description: 'For a child run: the task of parentRunId whose plan it runs (and which waits for it); else null',
    }),
    summary: RunSummarySchema.nullable().openapi({
      description:
        "The summary a model wrote when the run ended (the workflow's summary option); null without one or when it failed",
    }),
  })
  .openapi('Run')

/** A task of a run, as stored. */
export const TaskSchema = z
  .object({
    taskId: z.string(),
    state: z.string(),
    attempt: z.number(),
    agent: z.string().nullable(),
    priority: z.string(),
    startedAt: time,
    finishedAt: time,
    output: z.unknown(),
    error: SerializedErrorSchema.nullable(),
    model: ModelSpendSchema.nullable().openapi({
      description: "What the task's model calls used and cost, over its attempts; null when it made none",
    }),
  })
  .openapi('Task')

/** A stored event of a run with its position. */
export const StoredEventSchema = z
  .object({ seq: z.number(), event: z.record(z.string(), z.unknown()) })
  .openapi('StoredEvent')

/** The grants of a role or key. */
export const PermissionSchema = z
  .object({ resource: z.string().min(1).max(500), actions: z.array(z.string().min(1).max(64)).min(1).max(64) })
  .openapi('Permission')

/** An API key as listed: never its secret. */
export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    scopes: z.array(PermissionSchema).nullable(),
    createdBy: z.string(),
    createdAt: z.number(),
    expiresAt: time,
    revokedAt: time,
    rotatedAt: time,
    lastUsedAt: time,
    previousValidUntil: time,
  })
  .openapi('ApiKey')

/** A key just issued: its secret is shown here once. */
export const IssuedKeySchema = z
  .object({
    key: z.string().openapi({ description: 'flt_<id>_<secret>; store it now, it is never shown again' }),
    info: ApiKeySchema,
  })
  .openapi('IssuedKey')

/** An entry of the audit log. */
export const AuditEntrySchema = z
  .object({
    seq: z.number(),
    at: z.number(),
    actor: z.string(),
    action: z.string(),
    resource: z.string(),
    outcome: z.enum(['succeeded', 'failed', 'denied']),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEntry')

/** A block of a key or address. */
export const BlockSchema = z
  .object({ target: z.string(), reason: z.string(), createdAt: z.number(), until: z.number(), createdBy: z.string() })
  .openapi('Block')

/** Store records use `undefined` for absent fields; JSON responses use `null`. */
export function nullify<T extends object>(record: T): { [K in keyof T]: Exclude<T[K], undefined> | null } {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(record)) out[k] = v === undefined ? null : v
  return out as { [K in keyof T]: Exclude<T[K], undefined> | null }
}
