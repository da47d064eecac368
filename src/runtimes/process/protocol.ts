/**
 * The IPC protocol between the `process` runtime (parent) and an agent
 * process (child): one zod discriminated union per direction, every message
 * validated on receipt. Messages travel as JSON (Node's default `json`
 * serialization, the fastest for small messages); bytes (`Uint8Array`) in
 * inputs, outputs and service arguments travel base64-encoded, tagged
 * `{ "$flotilla.bytes": "…" }`, and are rebuilt on the other side.
 */
import { z } from 'zod'
import {
  deserializeError,
  ERROR_CODES,
  type ErrorCode,
  type FlotillaError,
  type SerializedError,
} from '../../core/errors.js'
import { SERVICE_OPS, type ServiceOp } from '../../agents/service-members.js'
import type { DeployRequest } from '../runtime.js'

/** Exit code of an agent process that received a malformed message from its parent. */
export const PROTOCOL_EXIT_CODE = 70

const errorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]])

/** A FlotillaError in its JSON form, as it crosses the boundary. */
export const serializedErrorSchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
  retryable: z.boolean(),
})

const id = z.number().int().nonnegative()
const optionalString = z.string().optional()

const permissionSchema = z.object({ resource: z.string(), actions: z.array(z.string()) })

/** What the child needs to start the agent (the deploy request minus env, which is the process's). */
export const childDeploySchema = z.object({
  instanceId: z.string().min(1),
  name: z.string().min(1),
  module: z.string(),
  model: z.record(z.string(), z.unknown()).optional(),
  exportName: z.string().min(1),
  tools: z.array(z.string()),
  toolsModule: z.string().optional(),
  permissions: z.array(permissionSchema),
  storageMb: z.number().positive().optional(),
  workspace: z.string().min(1),
  /** How often the child reports its usage, ms. */
  usageIntervalMs: z.number().int().positive(),
})

/** Messages from the parent to the agent process. */
export const parentMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('deploy'), request: childDeploySchema }),
  z.object({
    type: z.literal('execute'),
    id,
    input: z.unknown().optional(),
    runId: optionalString,
    taskId: optionalString,
    attempt: z.number().int().positive().optional(),
    /** The W3C `traceparent` of the attempt's span: the agent process's spans are its children. */
    traceparent: optionalString,
  }),
  z.object({ type: z.literal('cancel'), id, reason: serializedErrorSchema }),
  z.object({ type: z.literal('call-result'), id, value: z.unknown().optional() }),
  z.object({ type: z.literal('call-error'), id, error: serializedErrorSchema }),
  z.object({ type: z.literal('limits'), storageMb: z.number().positive().nullable() }),
  z.object({
    type: z.literal('deliver'),
    subscriptionId: z.string().min(1),
    event: z.object({
      id: z.string(),
      type: z.string().min(1),
      from: z.string(),
      data: z.unknown().optional(),
      publishedAt: z.number(),
    }),
  }),
  z.object({ type: z.literal('shutdown') }),
])

const usageFields = {
  heapUsedBytes: z.number().nonnegative(),
  rssBytes: z.number().nonnegative(),
  cpuMs: z.number().nonnegative(),
  storageBytes: z.number(),
}

/** Messages from the agent process to the parent. */
export const childMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), agent: z.string(), version: z.string(), ...usageFields }),
  z.object({ type: z.literal('deploy-failed'), error: serializedErrorSchema }),
  z.object({ type: z.literal('result'), id, output: z.unknown().optional() }),
  z.object({ type: z.literal('error'), id, error: serializedErrorSchema }),
  z.object({
    type: z.literal('call'),
    id,
    op: z.enum(SERVICE_OPS as [ServiceOp, ...ServiceOp[]]),
    args: z.unknown().optional(),
  }),
  z.object({
    type: z.literal('event'),
    event: z.object({ type: z.string().min(1), data: z.record(z.string(), z.unknown()) }),
  }),
  z.object({ type: z.literal('usage'), ...usageFields }),
  z.object({ type: z.literal('limit'), error: serializedErrorSchema }),
  z.object({ type: z.literal('protocol-error'), reason: z.string() }),
])

/** A message the parent sends. */
export type ParentMessage = z.infer<typeof parentMessageSchema>
/** A message the child sends. */
export type ChildMessage = z.infer<typeof childMessageSchema>
/** The deploy request as the child receives it. */
export type ChildDeploy = z.infer<typeof childDeploySchema>

/** The deploy message's request for `request`, with the current storage limit. */
export function childDeployOf(
  request: DeployRequest,
  storageMb: number | undefined,
  usageIntervalMs: number,
): ChildDeploy {
  const r = request
  return {
    instanceId: r.instanceId,
    name: r.name,
    module: r.module,
    exportName: r.exportName,
    tools: [...r.tools],
    ...(r.model === undefined ? {} : { model: { ...r.model } }),
    ...(r.toolsModule === undefined ? {} : { toolsModule: r.toolsModule }),
    permissions: r.permissions.map((p) => ({ resource: p.resource, actions: [...p.actions] })),
    ...(storageMb === undefined ? {} : { storageMb }),
    workspace: r.workspace,
    usageIntervalMs,
  }
}

/** The outcome of checking a received message. */
export type Checked<T> = { ok: true; message: T } | { ok: false; reason: string }

function check<T>(schema: z.ZodType<T>, raw: unknown): Checked<T> {
  const parsed = schema.safeParse(raw)
  if (parsed.success) return { ok: true, message: parsed.data }
  const issue = parsed.error.issues[0]
  const where = issue?.path.map(String).join('.') || '(root)'
  let shown: string
  try {
    shown = JSON.stringify(raw)?.slice(0, 200) ?? String(raw)
  } catch {
    shown = String(raw)
  }
  return { ok: false, reason: `malformed message at "${where}": ${issue?.message ?? 'invalid'} (got ${shown})` }
}

/** Validates a message received by the parent. */
export function checkChildMessage(raw: unknown): Checked<ChildMessage> {
  return check(childMessageSchema, raw)
}

/** Validates a message received by the child. */
export function checkParentMessage(raw: unknown): Checked<ParentMessage> {
  return check(parentMessageSchema, raw)
}

/** Rebuilds the FlotillaError of a serialized error (same code, message, details). */
export function reviveError(error: SerializedError): FlotillaError {
  return deserializeError(error)
}

const BYTES = '$flotilla.bytes'
const MAX_DEPTH = 200

/**
 * Makes a value safe for JSON IPC: every `Uint8Array` (a Buffer too) becomes
 * `{ "$flotilla.bytes": base64 }`. Returns the value itself when it holds no
 * bytes (no copy).
 */
export function encodeValue(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (value instanceof Uint8Array)
    return { [BYTES]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      const e = encodeValue(v, depth + 1)
      if (e !== v) (out ??= value.slice())[i] = e
    }
    return out ?? value
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value
  let out: Record<string, unknown> | undefined
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key]
    const e = encodeValue(v, depth + 1)
    if (e !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = e
  }
  return out ?? value
}

/** Undoes {@link encodeValue}: tagged base64 becomes a `Uint8Array` again. */
export function decodeValue(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decodeValue(value[i], depth + 1)
    return value
  }
  const record = value as Record<string, unknown>
  const tagged = record[BYTES]
  if (typeof tagged === 'string' && Object.keys(record).length === 1)
    return new Uint8Array(Buffer.from(tagged, 'base64'))
  for (const key in record) record[key] = decodeValue(record[key], depth + 1)
  return value
}
