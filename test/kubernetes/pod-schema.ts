// Checks a Pod (or any object of the core API) against the model types @kubernetes/client-node ships
// (each generated class's attribute type map), plus the validation a real API server applies that the
// types do not carry: required fields, names, labels, quantities, enums.
import * as k8s from '@kubernetes/client-node'

interface Attribute {
  name: string
  baseName: string
  type: string
}
type Model = { getAttributeTypeMap(): Attribute[] }

function model(type: string): Model | undefined {
  const found = (k8s as unknown as Record<string, unknown>)[type]
  return typeof found === 'function' && 'getAttributeTypeMap' in found ? (found as unknown as Model) : undefined
}

/** The fields of `value` that the client library's type `type` does not know, or whose JSON type is wrong. */
export function typeProblems(value: unknown, type: string, path = ''): string[] {
  if (value === undefined || value === null) return []
  const array = /^Array<(.+)>$/.exec(type)
  if (array) {
    if (!Array.isArray(value)) return [`${path}: expected an array`]
    return value.flatMap((v, i) => typeProblems(v, array[1]!, `${path}[${i}]`))
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object`]
    return Object.entries(value).flatMap(([k, v]) => typeProblems(v, map[1]!, `${path}.${k}`))
  }
  if (type === 'string') return typeof value === 'string' ? [] : [`${path}: expected a string`]
  if (type === 'number') return typeof value === 'number' ? [] : [`${path}: expected a number`]
  if (type === 'boolean') return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`]
  if (type === 'Date') return typeof value === 'string' ? [] : [`${path}: expected a date string`]
  if (type === 'any' || type === 'object') return []
  if (type === 'IntOrString')
    return ['string', 'number'].includes(typeof value) ? [] : [`${path}: expected int or string`]
  const m = model(type)
  if (m === undefined) return [] // an enum or a type the map names as text
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a ${type} object`]
  const attrs = new Map(m.getAttributeTypeMap().map((a) => [a.baseName, a]))
  const problems: string[] = []
  for (const [key, v] of Object.entries(value)) {
    const a = attrs.get(key)
    if (a === undefined) problems.push(`${path}.${key}: unknown field of ${type}`)
    else problems.push(...typeProblems(v, a.type, `${path}.${key}`))
  }
  return problems
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/

/** A cause of a 422, as the API server words it. */
export interface Cause {
  field: string
  message: string
}

function labels(causes: Cause[], where: string, map: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(map ?? {})) {
    const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k
    const prefix = k.includes('/') ? k.slice(0, k.indexOf('/')) : ''
    if (!LABEL_NAME.test(name) || name.length > 63 || (prefix && !DNS_SUBDOMAIN.test(prefix)))
      causes.push({
        field: `${where}`,
        message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.'`,
      })
    if (where.endsWith('labels') && (!LABEL_VALUE.test(v) || v.length > 63))
      causes.push({
        field: `${where}`,
        message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`,
      })
  }
}

/** What a real API server would refuse in a Pod on create (field and message), empty when it would accept it. */
export function podCauses(pod: k8s.V1Pod, namespace: string): Cause[] {
  const causes: Cause[] = []
  const meta = pod.metadata ?? {}
  if (pod.apiVersion !== 'v1' || pod.kind !== 'Pod')
    causes.push({ field: 'kind', message: `expected v1 Pod, got ${pod.apiVersion}/${pod.kind}` })
  if (!meta.name && !meta.generateName)
    causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' })
  if (meta.name && (!DNS_SUBDOMAIN.test(meta.name) || meta.name.length > 253))
    causes.push({
      field: 'metadata.name',
      message: `Invalid value: "${meta.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
    })
  if (meta.namespace && meta.namespace !== namespace)
    causes.push({
      field: 'metadata.namespace',
      message: `Invalid value: "${meta.namespace}": does not match the namespace of the request`,
    })
  labels(causes, 'metadata.labels', meta.labels)
  for (const [i, o] of (meta.ownerReferences ?? []).entries()) {
    if (!o.uid)
      causes.push({ field: `metadata.ownerReferences[${i}].uid`, message: 'Required value: uid must not be empty' })
    if (!o.name || !o.kind || !o.apiVersion)
      causes.push({ field: `metadata.ownerReferences[${i}]`, message: 'Required value: apiVersion, kind and name' })
  }
  const spec = pod.spec
  if (!spec) return [...causes, { field: 'spec', message: 'Required value' }]
  if (!spec.containers || spec.containers.length === 0)
    causes.push({ field: 'spec.containers', message: 'Required value' })
  if (spec.restartPolicy && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy))
    causes.push({ field: 'spec.restartPolicy', message: `Unsupported value: "${spec.restartPolicy}"` })
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name))
  for (const [i, c] of (spec.containers ?? []).entries()) {
    const f = `spec.containers[${i}]`
    if (!c.name || !DNS_LABEL.test(c.name)) causes.push({ field: `${f}.name`, message: `Invalid value: "${c.name}"` })
    if (!c.image || c.image.trim() === '') causes.push({ field: `${f}.image`, message: 'Required value' })
    for (const p of c.ports ?? [])
      if (!(p.containerPort >= 1 && p.containerPort <= 65535))
        causes.push({ field: `${f}.ports`, message: `Invalid value: ${p.containerPort}` })
    const seen = new Set<string>()
    for (const e of c.env ?? []) {
      if (!ENV_NAME.test(e.name))
        causes.push({ field: `${f}.env`, message: `Invalid value: "${e.name}": a valid environment variable name` })
      if (e.value !== undefined && e.valueFrom !== undefined)
        causes.push({ field: `${f}.env`, message: `Invalid value: "${e.name}": may not have both value and valueFrom` })
      if (seen.has(e.name)) causes.push({ field: `${f}.env`, message: `Duplicate value: "${e.name}"` })
      seen.add(e.name)
    }
    for (const kind of ['requests', 'limits'] as const)
      for (const [r, q] of Object.entries(c.resources?.[kind] ?? {}))
        if (typeof q !== 'string' || !QUANTITY.test(q))
          causes.push({
            field: `${f}.resources.${kind}[${r}]`,
            message: `Invalid value: "${String(q)}": must match the regular expression of a quantity`,
          })
    const req = c.resources?.requests?.memory
    const lim = c.resources?.limits?.memory
    if (req && lim && mebibytes(req) > mebibytes(lim))
      causes.push({
        field: `${f}.resources.requests`,
        message: `Invalid value: "${req}": must be less than or equal to memory limit of ${lim}`,
      })
    for (const m of c.volumeMounts ?? [])
      if (!volumes.has(m.name)) causes.push({ field: `${f}.volumeMounts.name`, message: `Not found: "${m.name}"` })
  }
  return causes
}

/** A memory quantity in MiB. */
export function mebibytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G)?$/.exec(q)
  if (!m) return Number.NaN
  const n = Number(m[1])
  const unit: Record<string, number> = {
    Ki: 1 / 1024,
    Mi: 1,
    Gi: 1024,
    Ti: 1024 * 1024,
    k: 1000 / 1048576,
    M: 1e6 / 1048576,
    G: 1e9 / 1048576,
  }
  return m[2] === undefined ? n / 1048576 : n * unit[m[2]]!
}
