/**
 * The few Kubernetes API calls the runtime makes (create, read, delete and
 * watch one pod), behind a port so tests and other clients can stand in,
 * and their implementation on `@kubernetes/client-node`, loaded only when
 * a runtime first calls the API (the package takes seconds to import).
 * API failures become FlotillaErrors with a code (see {@link kubeError}).
 */
import type * as ClientNodeModule from '@kubernetes/client-node'
import type { CoreV1Api, KubeConfig, PodMetricsList, V1Pod } from '@kubernetes/client-node'
import { FlotillaError, isFlotillaError, type ErrorCode } from '../../core/errors.js'

/** One event of a pod watch: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (the object is then a Status). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'

/** A running watch. */
export interface PodWatch {
  /** Ends the watch (its `onEnd` is not called). */
  stop(): void
}

/** The usage of one pod as the metrics API reports it (its containers summed). */
export interface PodMetricsSample {
  /** The pod's name. */
  readonly name: string
  /** CPU in use, cores, averaged over {@link PodMetricsSample.windowMs}. */
  readonly cpuCores: number
  /** Memory working set, bytes (what the kernel's memory limit is checked against). */
  readonly memoryBytes: number
  /** When the sample was taken (wall-clock ms). */
  readonly at: number
  /** The window the CPU rate is averaged over, ms. */
  readonly windowMs: number
}

/** The calls of the Kubernetes API the runtime needs. */
export interface KubeApi {
  /** Creates the pod; resolves with it as stored (uid, resourceVersion). */
  createPod(namespace: string, pod: V1Pod): Promise<V1Pod>
  /** Reads a pod; `undefined` when it does not exist. */
  readPod(namespace: string, name: string): Promise<V1Pod | undefined>
  /** Deletes a pod (dependents in the background); a pod already gone is fine. */
  deletePod(namespace: string, name: string, gracePeriodSeconds: number): Promise<void>
  /**
   * Watches one pod from `resourceVersion`. `onEvent` sees each event;
   * `onEnd` is called once when the watch ends without {@link PodWatch.stop}
   * (the server closed it, or it failed: `error`). Rejects when the watch
   * cannot be started.
   */
  watchPod(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    onEvent: (type: WatchEventType, object: V1Pod) => void,
    onEnd: (error?: FlotillaError) => void,
  ): Promise<PodWatch>
  /**
   * The usage of the pods of a namespace from the metrics API
   * (`metrics.k8s.io/v1beta1` PodMetrics); `undefined` when the cluster has
   * no metrics API or the caller may not read it. Without this method, usage
   * is what the runners report.
   */
  podMetrics?(namespace: string): Promise<readonly PodMetricsSample[] | undefined>
}

/** Where the API server is and how to authenticate (else the default kubeconfig or the in-cluster service account). */
export interface KubeCluster {
  /** `https://…` (or `http://…` for a local proxy). */
  readonly server: string
  /** A bearer token. */
  readonly token?: string
  /** PEM of the CA that signed the server's certificate. */
  readonly caData?: string
  /** Skip TLS verification (a test cluster only). @default false */
  readonly insecureSkipTlsVerify?: boolean
}

interface StatusBody {
  message?: string
  reason?: string
  details?: { causes?: { field?: string; message?: string }[] }
}

function statusOf(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return statusOf(JSON.parse(body) as unknown)
    } catch {
      return { message: body.slice(0, 300) }
    }
  }
  return body !== null && typeof body === 'object' ? (body as StatusBody) : {}
}

const NETWORK =
  /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket hang up|certificate|self.signed|CERT_/i

/**
 * The FlotillaError of a failed API call `what`: 403 is `KUBERNETES_FORBIDDEN`
 * (or `KUBERNETES_QUOTA_EXCEEDED` when a ResourceQuota refused it), 422 is
 * `KUBERNETES_INVALID` (`KUBERNETES_QUOTA_EXCEEDED` for a LimitRange), a
 * network failure `KUBERNETES_UNREACHABLE`, anything else `KUBERNETES_API_ERROR`.
 */
export function kubeError(what: string, e: unknown): FlotillaError {
  if (isFlotillaError(e)) return e
  const err = e as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; cause?: unknown }
  const status =
    typeof err.code === 'number' ? err.code : typeof err.statusCode === 'number' ? err.statusCode : undefined
  const text = typeof err.message === 'string' ? err.message : String(e)
  if (status === undefined) {
    const causeCode = (err.cause as { code?: unknown } | undefined)?.code
    const network =
      NETWORK.test(text) || (typeof err.code === 'string' && NETWORK.test(err.code)) || typeof causeCode === 'string'
    return new FlotillaError(
      network ? 'KUBERNETES_UNREACHABLE' : 'KUBERNETES_API_ERROR',
      network
        ? `The Kubernetes API server cannot be reached to ${what}: ${text}. Check the cluster address, the network and the credentials (kubeconfig or the in-cluster service account).`
        : `Kubernetes API call to ${what} failed: ${text}`,
      { cause: e, details: { what } },
    )
  }
  const s = statusOf(err.body)
  const message = s.message ?? text
  const causes = (s.details?.causes ?? []).map((c) => `${c.field ?? '?'}: ${c.message ?? ''}`)
  let code: ErrorCode = 'KUBERNETES_API_ERROR'
  let hint = ''
  if (status === 403 && /exceeded quota|quota/i.test(message)) {
    code = 'KUBERNETES_QUOTA_EXCEEDED'
    hint = " Lower the agent's limits (memoryMb) or ask for a larger ResourceQuota."
  } else if (status === 403) {
    code = 'KUBERNETES_FORBIDDEN'
    hint =
      " Grant the runtime's service account create/get/list/watch/delete on pods in that namespace (see docs/kubernetes.md), or use a namespace it may use."
  } else if (
    status === 422 &&
    /LimitRange|maximum|minimum .* usage per Container|must be less than or equal to .* limit/i.test(message)
  ) {
    code = 'KUBERNETES_QUOTA_EXCEEDED'
    hint = " The namespace's LimitRange refuses these resources: lower the agent's limits or change the LimitRange."
  } else if (status === 422) {
    code = 'KUBERNETES_INVALID'
  } else if (status === 401) {
    code = 'KUBERNETES_FORBIDDEN'
    hint = ' The credentials were refused: check the token or kubeconfig.'
  } else if (status === 503 || status === 502 || status === 504) {
    code = 'KUBERNETES_UNREACHABLE'
  }
  return new FlotillaError(
    code,
    `Kubernetes refused to ${what} (HTTP ${status}${s.reason ? ` ${s.reason}` : ''}): ${message}${causes.length ? ` [${causes.join('; ')}]` : ''}.${hint}`,
    { cause: e, details: { what, status, reason: s.reason ?? null, causes } },
  )
}

const DECIMAL: Readonly<Record<string, number>> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }
const BINARY: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }

/** The number of a Kubernetes quantity (`"250m"` → 0.25, `"51200Ki"` → 52428800); `NaN` when it is not one. */
export function quantity(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$/.exec(text.trim())
  if (m === null) return Number.NaN
  const unit = BINARY[m[2]!] ?? DECIMAL[m[2]!]
  return unit === undefined ? Number.NaN : Number(m[1]) * unit
}

/** Milliseconds of a Go duration as the metrics API writes it (`"30s"`, `"10.5s"`, `"1m0s"`); 0 when unreadable. */
function durationMs(text: string | undefined): number {
  let ms = 0
  for (const [, n, unit] of (text ?? '').matchAll(/([0-9.]+)(ms|s|m|h)/g))
    ms += Number(n) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'] ?? 0)
  return Number.isFinite(ms) ? ms : 0
}

/** The samples of a PodMetricsList (containers summed; unreadable quantities count 0). */
export function podMetricsSamples(list: PodMetricsList): PodMetricsSample[] {
  const num = (q: string | undefined): number => {
    const n = quantity(q ?? '0')
    return Number.isFinite(n) ? n : 0
  }
  return (list.items ?? []).map((item) => ({
    name: item.metadata.name,
    cpuCores: item.containers.reduce((sum, c) => sum + num(c.usage?.cpu), 0),
    memoryBytes: Math.round(item.containers.reduce((sum, c) => sum + num(c.usage?.memory), 0)),
    at: Date.parse(item.timestamp) || Date.now(),
    windowMs: durationMs(item.window),
  }))
}

type ClientNode = typeof ClientNodeModule
let loading: Promise<ClientNode> | undefined

/** Imports `@kubernetes/client-node` once, on first use. */
export function loadClientNode(): Promise<ClientNode> {
  loading ??= import('@kubernetes/client-node')
  return loading
}

/** The KubeConfig of `cluster`, else the default one (KUBECONFIG, ~/.kube/config, or in-cluster). */
export async function kubeConfigOf(cluster: KubeCluster | undefined): Promise<KubeConfig> {
  const k8s = await loadClientNode()
  const kc = new k8s.KubeConfig()
  if (cluster === undefined) {
    kc.loadFromDefault()
    return kc
  }
  kc.loadFromClusterAndUser(
    {
      name: 'flotilla',
      server: cluster.server,
      // The library refuses http:// unless told to skip TLS verification: there is no TLS to verify then (kubectl proxy, a test server).
      skipTLSVerify: (cluster.insecureSkipTlsVerify ?? false) || cluster.server.startsWith('http://'),
      ...(cluster.caData === undefined ? {} : { caData: Buffer.from(cluster.caData).toString('base64') }),
    },
    { name: 'flotilla', ...(cluster.token === undefined ? {} : { token: cluster.token }) },
  )
  return kc
}

/** The {@link KubeApi} on `@kubernetes/client-node`; the package is imported on the first call. */
export function clientNodeApi(cluster?: KubeCluster): KubeApi {
  let ready: Promise<{ k8s: ClientNode; kc: KubeConfig; core: CoreV1Api }> | undefined
  const client = (): NonNullable<typeof ready> => {
    ready ??= (async () => {
      const k8s = await loadClientNode()
      const kc = await kubeConfigOf(cluster)
      return { k8s, kc, core: kc.makeApiClient(k8s.CoreV1Api) }
    })()
    return ready
  }
  return {
    async createPod(namespace, pod) {
      const { core } = await client()
      try {
        return await core.createNamespacedPod({ namespace, body: pod })
      } catch (e) {
        throw kubeError(`create pod ${pod.metadata?.name ?? '?'} in namespace "${namespace}"`, e)
      }
    },
    async readPod(namespace, name) {
      const { core } = await client()
      try {
        return await core.readNamespacedPod({ namespace, name })
      } catch (e) {
        if ((e as { code?: unknown }).code === 404) return undefined
        throw kubeError(`read pod ${name} in namespace "${namespace}"`, e)
      }
    },
    async deletePod(namespace, name, gracePeriodSeconds) {
      const { core } = await client()
      try {
        await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds, propagationPolicy: 'Background' })
      } catch (e) {
        if ((e as { code?: unknown }).code === 404) return
        throw kubeError(`delete pod ${name} in namespace "${namespace}"`, e)
      }
    },
    async podMetrics(namespace) {
      const { k8s, kc } = await client()
      try {
        return podMetricsSamples(await new k8s.Metrics(kc).getPodMetrics(namespace))
      } catch (e) {
        // no metrics-server (404), no right to read it (403), or the aggregated API is down (503)
        if ([404, 403, 503].includes((e as { code?: unknown }).code as number)) return undefined
        throw kubeError(`read the pod metrics of namespace "${namespace}"`, e)
      }
    },
    async watchPod(namespace, name, resourceVersion, onEvent, onEnd) {
      const { k8s, kc } = await client()
      const watch = new k8s.Watch(kc)
      let stopped = false
      let returned = false
      let failStart: ((e: FlotillaError) => void) | undefined
      const startFailed = new Promise<never>((_, reject) => (failStart = reject))
      startFailed.catch(() => undefined)
      const what = `watch pod ${name} in namespace "${namespace}"`
      const controller = watch.watch(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
        {
          fieldSelector: `metadata.name=${name}`,
          allowWatchBookmarks: true,
          ...(resourceVersion === undefined ? {} : { resourceVersion }),
        },
        (type: string, object: V1Pod) => onEvent(type as WatchEventType, object),
        (err: unknown) => {
          if (stopped) return
          const error = err === null || err === undefined ? undefined : kubeError(what, err)
          if (!returned && error !== undefined) failStart?.(error)
          else onEnd(error)
        },
      )
      const aborter = await Promise.race([controller, startFailed])
      returned = true
      return {
        stop() {
          stopped = true
          aborter.abort()
        },
      }
    },
  }
}
