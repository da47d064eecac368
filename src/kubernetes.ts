/**
 * `flotilla/kubernetes`: the `kubernetes` runtime, which runs each deployed
 * agent in its own Pod (see docs/kubernetes.md). `@kubernetes/client-node`
 * is imported only when a runtime first calls the Kubernetes API.
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { KubernetesRuntime } from 'flotilla/kubernetes'
 *
 * const orchestrator = new Orchestrator({ runtimes: [new KubernetesRuntime({ namespace: 'agents' })] })
 * ```
 *
 * @packageDocumentation
 */
export { KubernetesRuntime } from './runtimes/kubernetes/kubernetes-runtime.js'
export type { KubernetesRuntimeOptions } from './runtimes/kubernetes/settings.js'
export { clientNodeApi, kubeError } from './runtimes/kubernetes/kube-api.js'
export type {
  KubeApi,
  KubeCluster,
  PodMetricsSample,
  PodWatch,
  WatchEventType,
} from './runtimes/kubernetes/kube-api.js'
export { agentPod, podNameOf, resourcesOf, LABELS } from './runtimes/kubernetes/pod-spec.js'
export type { PodRef, PodSettings } from './runtimes/kubernetes/pod-spec.js'
export { viewPod } from './runtimes/kubernetes/pod-status.js'
export type { PodView } from './runtimes/kubernetes/pod-status.js'
export { serveAgentHttp } from './runtimes/kubernetes/agent-http-server.js'
export type { AgentHttpOptions, AgentHttpServer } from './runtimes/kubernetes/agent-http-server.js'
