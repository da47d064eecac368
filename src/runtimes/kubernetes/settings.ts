/**
 * The options of the `kubernetes` runtime and their defaults.
 */
import { readFileSync } from 'node:fs'
import { basename, posix } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import type { DeployRequest } from '../runtime.js'
import type { KubeApi, KubeCluster } from './kube-api.js'
import type { PodAgentSettings } from './pod-agent.js'
import type { PodRef } from './pod-spec.js'

/** Options of {@link KubernetesRuntime}. */
export interface KubernetesRuntimeOptions {
  /** Namespace of the agent pods. @default the service account's namespace in a pod, else FLOTILLA_NAMESPACE, else "default" */
  namespace?: string
  /** Image holding Flotilla and the agent modules. @default FLOTILLA_AGENT_IMAGE, else "flotilla:latest" */
  image?: string
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  /** Secrets for a private registry. @default [] */
  imagePullSecrets?: readonly string[]
  /** The container's command; `{port}` becomes {@link port}. @default ["flotilla", "agent", "run", "--http", "{port}"] */
  command?: readonly string[]
  /** Port of the agent runner in the pod. @default 8080 */
  port?: number
  /** Service account of the agent pods (one without API permissions is best). @default FLOTILLA_AGENT_SERVICE_ACCOUNT, else the namespace's default */
  serviceAccountName?: string
  /** Environment of every agent pod (an agent spec's `env` comes after, without replacing these). @default {} */
  env?: Readonly<Record<string, string>>
  /** Variables read from Secrets: `{ OPENAI_API_KEY: { secret: 'model-keys', key: 'openai' } }`. @default {} */
  secretEnv?: Readonly<Record<string, { readonly secret: string; readonly key: string }>>
  /** Secrets whose keys all become variables (`envFrom`). @default [] */
  envFromSecrets?: readonly string[]
  /** CPU request of each agent pod. @default "100m" */
  cpuRequest?: string
  /** CPU limit of each agent pod. @default none */
  cpuLimit?: string
  /** Memory request of an agent without `memoryMb`, Mi. @default 128 */
  memoryRequestMb?: number
  /** The memory limit of a pod is `memoryMb × rssFactor + rssBaseMb` Mi. @default 1.5 */
  rssFactor?: number
  /** See `rssFactor`. @default 96 */
  rssBaseMb?: number
  /** Extra labels of every agent pod (a run's id: `{ 'flotilla.dev/run': runId }`). @default {} */
  labels?: Readonly<Record<string, string>>
  /** Where the workspace volume is mounted in the pod; an agent's workspace is a folder in it named like its folder here. @default FLOTILLA_AGENT_WORKSPACE, else "/workspace" */
  workspacePath?: string
  /** Maps a module path the orchestrator sees to the path in the agent image. @default the same path */
  modulePath?: (path: string) => string
  /**
   * The pod that owns root agents' pods (deleting it deletes them).
   * @default FLOTILLA_POD_NAME and FLOTILLA_POD_UID when both are set (the Helm chart sets them), else none
   */
  ownerPod?: PodRef | null
  /** The base URL of the runner in a running pod. @default `http://<pod IP>:<port>` */
  address?: (pod: V1Pod, ip: string, port: number) => string
  /** How long a pod may take to run and its agent to be ready (image pull included). @default 120000 */
  readyTimeoutMs?: number
  /** Grace period when deleting a pod, seconds. @default 5 */
  terminationGraceSeconds?: number
  /** How often the runner reports usage, ms. @default 1000 */
  usageIntervalMs?: number
  /**
   * How often the usage of the agent pods is read again from the cluster's
   * metrics API (one list per namespace; metrics-server samples every 15 s
   * by default); 0 never reads it. A cluster without the API gives no error:
   * usage is then what the runners report. @default 15000
   */
  metricsIntervalMs?: number
  /** How long to keep trying to reach a pod's runner again before the agent counts as crashed. @default 5000 */
  reconnectMs?: number
  /** A message stream silent for this long counts as dropped (the keep-alive comes every 10 s). @default 30000 */
  silenceMs?: number
  /** How long to keep trying to start a dropped pod watch again before `KUBERNETES_WATCH_LOST`. @default 30000 */
  watchRetryMs?: number
  /** The API server and credentials. @default the default kubeconfig, or the in-cluster service account */
  cluster?: KubeCluster
  /** A client of the Kubernetes API of your own. @default one on @kubernetes/client-node */
  api?: KubeApi
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace'

function defaultNamespace(): string {
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim()
  } catch {
    return process.env.FLOTILLA_NAMESPACE ?? 'default'
  }
}

function defaultOwner(): PodRef | undefined {
  const name = process.env.FLOTILLA_POD_NAME
  const uid = process.env.FLOTILLA_POD_UID
  return name && uid ? { name, uid } : undefined
}

/** The settings of the pods and channels of a runtime made with `options`. */
export function resolveSettings(
  options: KubernetesRuntimeOptions,
  api: KubeApi,
): { settings: Omit<PodAgentSettings, 'track'>; owner: PodRef | undefined } {
  const workspacePath = options.workspacePath ?? (process.env.FLOTILLA_AGENT_WORKSPACE || '/workspace')
  const port = options.port ?? 8080
  const serviceAccountName = options.serviceAccountName ?? process.env.FLOTILLA_AGENT_SERVICE_ACCOUNT
  return {
    owner: options.ownerPod === null ? undefined : (options.ownerPod ?? defaultOwner()),
    settings: {
      api,
      pod: {
        namespace: options.namespace ?? defaultNamespace(),
        image: options.image ?? process.env.FLOTILLA_AGENT_IMAGE ?? 'flotilla:latest',
        ...(options.imagePullPolicy === undefined ? {} : { imagePullPolicy: options.imagePullPolicy }),
        command: options.command ?? ['flotilla', 'agent', 'run', '--http', '{port}'],
        port,
        ...(serviceAccountName === undefined ? {} : { serviceAccountName }),
        env: options.env ?? {},
        secretEnv: options.secretEnv ?? {},
        envFromSecrets: options.envFromSecrets ?? [],
        imagePullSecrets: options.imagePullSecrets ?? [],
        cpuRequest: options.cpuRequest ?? '100m',
        ...(options.cpuLimit === undefined ? {} : { cpuLimit: options.cpuLimit }),
        memoryRequestMb: options.memoryRequestMb ?? 128,
        rssFactor: options.rssFactor ?? 1.5,
        rssBaseMb: options.rssBaseMb ?? 96,
        labels: {},
        workspacePath,
        terminationGraceSeconds: options.terminationGraceSeconds ?? 5,
      },
      workspaceOf: (request: DeployRequest) => posix.join(workspacePath, basename(request.workspace)),
      modulePath: options.modulePath ?? ((path) => path),
      address: options.address ?? ((_pod, ip, p) => `http://${ip.includes(':') ? `[${ip}]` : ip}:${p}`),
      readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
      usageIntervalMs: options.usageIntervalMs ?? 1_000,
      reconnectMs: options.reconnectMs ?? 5_000,
      silenceMs: options.silenceMs ?? 30_000,
      watchRetryMs: options.watchRetryMs ?? 30_000,
      labels: options.labels ?? {},
    },
  }
}
