import { FlotillaError } from '../core/errors.js'

/** Where a parsed reference points. */
export interface ParsedRef {
  /** `input` for the run's input, else the id of an upstream task. */
  source: 'input' | 'task'
  taskId: string | undefined
  /** Property path inside the value. */
  path: readonly string[]
}

/** Read access to a run's values while resolving references. */
export interface ValueSource {
  readonly input: unknown
  /** Output of the task with the given workflow index (undefined when it did not succeed). */
  output(index: number): unknown
}

/** A compiled input template. */
export type Resolver = (values: ValueSource) => unknown

const SEGMENT = /^[A-Za-z0-9_$-]+$/

/**
 * Parses `input.a.b` or `tasks.<id>.output.a.b`; throws `WORKFLOW_BAD_REFERENCE`
 * naming where the reference appears.
 */
export function parseRef(text: string, where: string): ParsedRef {
  const parts = text.split('.')
  const bad = (why: string): never => {
    throw new FlotillaError(
      'WORKFLOW_BAD_REFERENCE',
      `${where}: reference "${text}" ${why}. Write "input.<name>" or "tasks.<id>.output[.<field>…]".`,
      {
        details: { where, ref: text },
      },
    )
  }
  if (parts.some((p) => !SEGMENT.test(p))) bad('has an empty or invalid segment')
  if (parts[0] === 'input') return { source: 'input', taskId: undefined, path: parts.slice(1) }
  if (parts[0] === 'tasks') {
    if (parts.length < 3 || parts[2] !== 'output') bad('must continue with ".output" after the task id')
    return { source: 'task', taskId: parts[1], path: parts.slice(3) }
  }
  return bad('must start with "input" or "tasks"')
}

function getter(path: readonly string[]): (v: unknown) => unknown {
  if (path.length === 0) return (v) => v
  if (path.length === 1) {
    const k = path[0]
    return (v) => (v === null || typeof v !== 'object' ? undefined : (v as Record<string, unknown>)[k])
  }
  return (v) => {
    let cur = v
    for (let i = 0; i < path.length; i++) {
      if (cur === null || typeof cur !== 'object') return undefined
      cur = (cur as Record<string, unknown>)[path[i]]
    }
    return cur
  }
}

/** Compiles a parsed ref to a resolver; `indexOf` maps task ids to workflow indices. */
export function refResolver(ref: ParsedRef, indexOf: (taskId: string) => number): Resolver {
  const get = getter(ref.path)
  if (ref.source === 'input') return (s) => get(s.input)
  const index = indexOf(ref.taskId!)
  return (s) => get(s.output(index))
}

function isRef(value: unknown): value is { $ref: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return keys.length === 1 && keys[0] === '$ref'
}

/** Every reference inside an input template (deeply). */
export function collectRefs(template: unknown, where: string, out: ParsedRef[] = []): ParsedRef[] {
  if (isRef(template)) {
    if (typeof template.$ref !== 'string') {
      throw new FlotillaError('WORKFLOW_BAD_REFERENCE', `${where}: "$ref" must be a string like "tasks.scan.output".`, {
        details: { where },
      })
    }
    out.push(parseRef(template.$ref, where))
  } else if (Array.isArray(template)) {
    template.forEach((v, i) => collectRefs(v, `${where}[${i}]`, out))
  } else if (template !== null && typeof template === 'object') {
    for (const [k, v] of Object.entries(template)) collectRefs(v, `${where}.${k}`, out)
  }
  return out
}

/**
 * Visits every reference inside a template (deeply) like
 * {@link collectRefs}, but reports each malformed one to `bad` and goes on,
 * so that a validation can list them all.
 */
export function visitRefs(
  template: unknown,
  where: string,
  ok: (ref: ParsedRef) => void,
  bad: (error: FlotillaError) => void,
): void {
  if (isRef(template)) {
    try {
      ok(collectRefs(template, where)[0])
    } catch (e) {
      bad(e as FlotillaError)
    }
  } else if (Array.isArray(template)) {
    template.forEach((v, i) => visitRefs(v, `${where}[${i}]`, ok, bad))
  } else if (template !== null && typeof template === 'object') {
    for (const [k, v] of Object.entries(template)) visitRefs(v, `${where}.${k}`, ok, bad)
  }
}

/**
 * Compiles an input template once: literal parts are kept as they are,
 * references become direct lookups. Templates without references resolve to
 * the literal itself, with no copying.
 */
export function compileTemplate(template: unknown, where: string, indexOf: (taskId: string) => number): Resolver {
  if (collectRefs(template, where).length === 0) return () => template
  return build(template, where, indexOf)
}

function build(template: unknown, where: string, indexOf: (taskId: string) => number): Resolver {
  if (isRef(template)) return refResolver(parseRef(template.$ref, where), indexOf)
  if (collectRefs(template, where).length === 0) return () => template
  if (Array.isArray(template)) {
    const parts = template.map((v, i) => build(v, `${where}[${i}]`, indexOf))
    const n = parts.length
    return (s) => {
      const out = new Array(n)
      for (let i = 0; i < n; i++) out[i] = parts[i](s)
      return out
    }
  }
  const entries = Object.entries(template as Record<string, unknown>).map(
    ([k, v]) => [k, build(v, `${where}.${k}`, indexOf)] as const,
  )
  return objectBuilder(entries)
}

/**
 * A resolver that builds an object with fixed keys. The body is generated as
 * an object literal (keys are JSON-quoted, values come from the given
 * resolvers), so every object it makes has one shape and stores are not
 * megamorphic; the resolvers are passed in, never inlined as source.
 */
function objectBuilder(entries: readonly (readonly [string, Resolver])[]): Resolver {
  if (entries.length > 64) {
    return (s) => {
      const out: Record<string, unknown> = {}
      for (let i = 0; i < entries.length; i++) out[entries[i][0]] = entries[i][1](s)
      return out
    }
  }
  const body = entries.map(([k], i) => `${JSON.stringify(k)}: r[${i}](s)`).join(', ')
  const make = new Function('r', `return (s) => ({ ${body} })`) as (r: Resolver[]) => Resolver
  return make(entries.map((e) => e[1]))
}
