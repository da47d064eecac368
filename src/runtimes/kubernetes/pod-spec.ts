/**
 * The Pod of one agent instance: name, labels, owner, container (image,
 * command, env, secrets, resources from the agent's limits), workspace
 * volume, probes. Pure: {@link agentPod} builds the object the runtime
 * sends to the API server.
 */
import type { V1EnvVar, V1OwnerReference, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node'
import type { DeployRequest, ResourceLimits } from '../runtime.js'

/** Labels the runtime puts on every agent pod. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  agent: 'flotilla.dev/agent',
  agentId: 'flotilla.dev/agent-id',
  parentId: 'flotilla.dev/parent-id',
  run: 'flotilla.dev/run',
} as const

/** A pod the runtime's pod may be owned by (`ownerReferences`). */
export interface PodRef {
  readonly name: string
  readonly uid: string
}

/** What {@link agentPod} needs besides the deploy request (resolved options of the runtime). */
export interface PodSettings {
  readonly namespace: string
  readonly image: string
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  /** The container's command; `{port}` is replaced by the port. */
  readonly command: readonly string[]
  readonly port: number
  readonly serviceAccountName?: string
  readonly env: Readonly<Record<string, string>>
  readonly secretEnv: Readonly<Record<string, { readonly secret: string; readonly key: string }>>
  readonly envFromSecrets: readonly string[]
  readonly imagePullSecrets: readonly string[]
  readonly cpuRequest?: string
  readonly cpuLimit?: string
  /** Memory without a `memoryMb` limit, Mi (request only). */
  readonly memoryRequestMb: number
  /** The container memory limit is `memoryMb × rssFactor + rssBaseMb` Mi. */
  readonly rssFactor: number
  readonly rssBaseMb: number
  readonly labels: Readonly<Record<string, string>>
  readonly workspacePath: string
  readonly terminationGraceSeconds: number
}

/** A DNS-1123 label made of `text`: lowercase letters, digits and "-", at most `max` characters. */
export function dnsLabel(text: string, max = 63): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, max)
    .replace(/-+$/, '')
  return s === '' ? 'x' : s
}

/** A label value made of `text`: at most 63 of `A-Z a-z 0-9 - _ .`, starting and ending with a letter or digit. */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '')
}

/** The pod name of an instance: `<agent name>-<instance id>`, a DNS-1123 label. */
export function podNameOf(request: Pick<DeployRequest, 'name' | 'instanceId'>): string {
  const id = dnsLabel(request.instanceId)
  return `${dnsLabel(request.name, 62 - id.length)}-${id}`
}

/** The container resources of `limits`: memory from `memoryMb` (request = limit), CPU from the runtime's settings. */
export function resourcesOf(limits: ResourceLimits, s: PodSettings): V1ResourceRequirements {
  const requests: Record<string, string> = {}
  const caps: Record<string, string> = {}
  if (s.cpuRequest !== undefined) requests.cpu = s.cpuRequest
  if (s.cpuLimit !== undefined) caps.cpu = s.cpuLimit
  if (limits.memoryMb !== undefined) {
    const mi = `${Math.ceil(limits.memoryMb * s.rssFactor + s.rssBaseMb)}Mi`
    requests.memory = mi
    caps.memory = mi
  } else {
    requests.memory = `${s.memoryRequestMb}Mi`
  }
  if (limits.storageMb !== undefined) {
    const mi = `${Math.ceil(limits.storageMb) + 64}Mi`
    requests['ephemeral-storage'] = mi
    caps['ephemeral-storage'] = mi
  }
  return Object.keys(caps).length === 0 ? { requests } : { requests, limits: caps }
}

function envOf(request: DeployRequest, token: string, s: PodSettings): V1EnvVar[] {
  const env: V1EnvVar[] = []
  const set = new Set<string>()
  const put = (v: V1EnvVar): void => {
    if (set.has(v.name)) return
    set.add(v.name)
    env.push(v)
  }
  // The runtime's own variables first: the spec's env cannot replace them.
  put({ name: 'FLOTILLA_AGENT_TOKEN', value: token })
  if (request.limits.memoryMb !== undefined)
    put({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${Math.max(8, Math.round(request.limits.memoryMb))}` })
  put({ name: 'FLOTILLA_AGENT_ID', value: request.instanceId })
  for (const [name, { secret, key }] of Object.entries(s.secretEnv))
    put({ name, valueFrom: { secretKeyRef: { name: secret, key } } })
  for (const [name, value] of Object.entries(s.env)) put({ name, value })
  for (const [name, value] of Object.entries(request.env)) if (name !== 'NODE_OPTIONS') put({ name, value })
  return env
}

/** The Pod object of one agent instance. */
export function agentPod(
  request: DeployRequest,
  token: string,
  s: PodSettings,
  owner: PodRef | undefined,
  labelsOfRun: Readonly<Record<string, string>> = {},
): V1Pod {
  const labels: Record<string, string> = {
    ...s.labels,
    ...labelsOfRun,
    [LABELS.managedBy]: 'flotilla',
    [LABELS.component]: 'agent',
    [LABELS.agent]: labelValue(request.name) || 'agent',
    [LABELS.agentId]: labelValue(request.instanceId),
  }
  if (request.parentId !== undefined) labels[LABELS.parentId] = labelValue(request.parentId)
  const ownerReferences: V1OwnerReference[] | undefined =
    owner === undefined
      ? undefined
      : [{ apiVersion: 'v1', kind: 'Pod', name: owner.name, uid: owner.uid, blockOwnerDeletion: true }]
  const port = s.port
  const probe = { httpGet: { path: '/v1/health', port }, periodSeconds: 5, timeoutSeconds: 2 }
  const workspaceVolume =
    request.limits.storageMb === undefined
      ? { name: 'workspace', emptyDir: {} }
      : { name: 'workspace', emptyDir: { sizeLimit: `${Math.ceil(request.limits.storageMb) + 1}Mi` } }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podNameOf(request),
      namespace: s.namespace,
      labels,
      annotations: { 'flotilla.dev/agent-name': request.name },
      ...(ownerReferences === undefined ? {} : { ownerReferences }),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      ...(s.serviceAccountName === undefined ? {} : { serviceAccountName: s.serviceAccountName }),
      terminationGracePeriodSeconds: s.terminationGraceSeconds,
      ...(s.imagePullSecrets.length === 0 ? {} : { imagePullSecrets: s.imagePullSecrets.map((name) => ({ name })) }),
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'agent',
          image: s.image,
          ...(s.imagePullPolicy === undefined ? {} : { imagePullPolicy: s.imagePullPolicy }),
          command: s.command.map((part) => part.replace('{port}', String(port))),
          ports: [{ name: 'agent', containerPort: port, protocol: 'TCP' }],
          env: envOf(request, token, s),
          ...(s.envFromSecrets.length === 0
            ? {}
            : { envFrom: s.envFromSecrets.map((name) => ({ secretRef: { name } })) }),
          resources: resourcesOf(request.limits, s),
          readinessProbe: probe,
          livenessProbe: { ...probe, periodSeconds: 10, failureThreshold: 3 },
          volumeMounts: [
            { name: 'workspace', mountPath: s.workspacePath },
            { name: 'tmp', mountPath: '/tmp' },
          ],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
      volumes: [workspaceVolume, { name: 'tmp', emptyDir: {} }],
    },
  }
}
