import { dirname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FlotillaError } from '../core/errors.js'
import type { ChildAgentRequest } from '../agents/context.js'
import type { AgentRecord } from '../store/records.js'
import type { ResourceLimits } from './runtime.js'
import type { AgentDeployment } from './supervisor-types.js'

const KEYS = ['memoryMb', 'cpuMs', 'storageMb'] as const

/** The resource limits of a stored agent record, checked like a spec's (`VALIDATION_FAILED` names the agent). */
export function storedLimits(record: Pick<AgentRecord, 'id' | 'limits'>): ResourceLimits {
  return parseLimits(record.limits, `the stored limits of agent ${record.id}`)
}

/**
 * Validates resource limits: each given field a positive finite number;
 * unknown fields refused. Returns a frozen copy without undefined fields.
 *
 * @example
 * ```ts
 * parseLimits({ memoryMb: 128 }) // { memoryMb: 128 }
 * ```
 */
export function parseLimits(value: unknown, field = 'limits'): ResourceLimits {
  if (value === undefined || value === null) return Object.freeze({})
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new FlotillaError('VALIDATION_FAILED', `${field} must be an object { memoryMb?, cpuMs?, storageMb? }.`, {
      details: { field },
    })
  }
  const out: { -readonly [K in keyof ResourceLimits]: number } = {}
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `${field}.${key} is not a resource limit; use memoryMb, cpuMs or storageMb.`,
        { details: { field: `${field}.${key}` } },
      )
    }
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `${field}.${key} must be a positive number, got ${JSON.stringify(v)}.`,
        { details: { field: `${field}.${key}` } },
      )
    }
    out[key as (typeof KEYS)[number]] = v
  }
  return Object.freeze(out)
}

/**
 * The limits of a child: what it asks for, each no more than its parent's.
 * A field the child leaves out takes the parent's value (a child is never
 * less bounded than its parent). Asking for more than the parent holds fails
 * with `RESOURCE_LIMIT_EXCEEDED` naming every field over.
 *
 * @example
 * ```ts
 * carveLimits({ memoryMb: 256 }, { memoryMb: 64 }, 'worker') // { memoryMb: 64 }
 * carveLimits({ memoryMb: 256 }, {}, 'worker') // { memoryMb: 256 }
 * ```
 */
export function carveLimits(parent: ResourceLimits | undefined, asked: ResourceLimits, child: string): ResourceLimits {
  const wanted = parseLimits(asked)
  if (!parent) return wanted
  const out: { -readonly [K in keyof ResourceLimits]: number } = { ...wanted }
  const over: { limit: string; asked: number; parent: number }[] = []
  for (const key of KEYS) {
    const p = parent[key]
    if (p === undefined) continue
    const a = wanted[key]
    if (a === undefined) out[key] = p
    else if (a > p) over.push({ limit: key, asked: a, parent: p })
  }
  if (over.length > 0) {
    const list = over.map((o) => `${o.limit} ${o.asked} > ${o.parent}`).join(', ')
    throw new FlotillaError(
      'RESOURCE_LIMIT_EXCEEDED',
      `Child "${child}" asks for more resources than its parent holds (${list}); ask for at most the parent's limits.`,
      {
        details: { agent: child, over },
      },
    )
  }
  return Object.freeze(out)
}

/**
 * The deployment of a child asked for with `ctx.spawn`: its module is
 * resolved against the folder of the parent's module (default: the parent's
 * module and export); permissions and limits are left as asked, to be
 * checked against the parent's by the supervisor.
 */
export function childDeployment(parent: AgentDeployment, spec: ChildAgentRequest): AgentDeployment {
  if (typeof spec !== 'object' || spec === null)
    throw new FlotillaError(
      'AGENT_SPEC_INVALID',
      'ctx.spawn needs a spec object { name, module?, export?, permissions?, limits?, budget? }.',
    )
  const base = dirname(parent.module.startsWith('file:') ? fileURLToPath(parent.module) : parent.module)
  const module =
    spec.module === undefined ? parent.module : isAbsolute(spec.module) ? spec.module : resolve(base, spec.module)
  return {
    name: spec.name,
    module,
    ...(spec.export !== undefined
      ? { export: spec.export }
      : spec.module === undefined && parent.export !== undefined
        ? { export: parent.export }
        : {}),
    tools: spec.tools ?? [],
    ...(parent.toolsModule === undefined ? {} : { toolsModule: parent.toolsModule }),
    ...(spec.permissions === undefined ? {} : { permissions: spec.permissions }),
    ...(spec.limits === undefined ? {} : { limits: spec.limits }),
    ...(spec.env === undefined ? {} : { env: spec.env }),
    ...(spec.budget === undefined ? {} : { budget: spec.budget }),
  }
}
