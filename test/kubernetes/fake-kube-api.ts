// A fake of the Kubernetes API for pods, started by a test on 127.0.0.1 (real HTTP): create, get, list,
// watch (with resource versions, bookmarks and 410 Gone), delete (grace period, then DELETED; dependents by
// ownerReferences deleted in the background like the garbage collector), status updates (PUT .../status and
// the fake kubelet's), RBAC by namespace (403), ResourceQuota on limits.memory (403 "exceeded quota"),
// validation (422), conflicts (409). Every request is recorded; every Pod created is checked against the
// client library's types and what a real API server refuses.
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { V1Pod } from '@kubernetes/client-node'
import { runPod, type Container } from './fake-kubelet.js'
import { mebibytes, podCauses, typeProblems } from './pod-schema.js'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  status: number
}

export interface FakeKubeOptions {
  token?: string
  /** Namespaces the token may use (others: 403). @default ['agents'] */
  namespaces?: string[]
  /** Images that can be pulled. @default every image except those containing "missing" */
  pullable?: (image: string) => boolean
  /** Run pods' containers as local processes. @default true */
  run?: boolean
  /** Serve the metrics API (`metrics.k8s.io/v1beta1` PodMetrics, as metrics-server does); else 404 like a cluster without it. @default false */
  metrics?: boolean
}

interface Watcher {
  ns: string
  name: string | undefined
  res: ServerResponse
}

function status(code: number, reason: string, message: string, causes: { field: string; message: string }[] = []) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    ...(causes.length ? { details: { causes } } : {}),
  }
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = []
  /** Problems found in created pods' bodies against the client library's types (should stay empty). */
  readonly typeProblems: string[] = []
  readonly secrets = new Map<string, Record<string, string>>()
  readonly quotas = new Map<string, number>()
  /** Usage the metrics API reports for a pod (quantities as metrics-server writes them); else read from its process in /proc. */
  readonly podMetrics = new Map<string, { cpu: string; memory: string }>()
  private readonly pods = new Map<string, V1Pod>()
  private readonly containers = new Map<string, Container>()
  private readonly history: { rv: number; ns: string; type: string; pod: V1Pod }[] = []
  private readonly watchers = new Set<Watcher>()
  private rv = 100
  private uid = 0
  private server: Server | undefined
  private refusedWatches = 0
  url = ''
  readonly token: string
  private readonly namespaces: Set<string>

  constructor(private readonly o: FakeKubeOptions = {}) {
    this.token = o.token ?? 'fake-token'
    this.namespaces = new Set(o.namespaces ?? ['agents'])
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.route(req, res))
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  /** Stops the API server (the "cluster" becomes unreachable); containers are killed. */
  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.destroy()
    for (const c of this.containers.values()) c.child?.kill('SIGKILL')
    await Promise.all([...this.containers.values()].map((c) => c.exited))
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
    this.server?.closeAllConnections()
  }

  /** Pods stored (not yet deleted). */
  list(ns = 'agents'): V1Pod[] {
    return [...this.pods.values()].filter((p) => p.metadata!.namespace === ns)
  }

  /** Containers (local processes) still running. */
  running(): number {
    return [...this.containers.values()].filter(
      (c) => c.child && c.child.exitCode === null && c.child.signalCode === null,
    ).length
  }

  /** Drops every open watch (the connection is cut mid-stream). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.destroy()
  }

  /** Refuses the next `n` watch requests with 500. */
  refuseWatches(n: number): void {
    this.refusedWatches = n
  }

  /** Kills a pod's container as the kernel's OOM killer would. */
  oomKill(name: string): void {
    const c = this.containers.get(name)
    if (c) {
      c.killReason = 'OOMKilled'
      c.child?.kill('SIGKILL')
    }
  }

  /** Evicts a pod as a node under memory pressure would. */
  evict(name: string): void {
    const c = this.containers.get(name)
    if (c) {
      c.killReason = 'Evicted'
      c.child?.kill('SIGKILL')
    }
  }

  /** Changes a stored pod's status and tells watchers (what the kubelet does). */
  update(name: string, patch: (pod: V1Pod) => void): void {
    const pod = [...this.pods.values()].find((p) => p.metadata!.name === name)
    if (!pod) return
    patch(pod)
    this.emit('MODIFIED', pod)
  }

  private emit(type: string, pod: V1Pod): void {
    pod.metadata!.resourceVersion = String(++this.rv)
    const copy = JSON.parse(JSON.stringify(pod)) as V1Pod
    const ns = pod.metadata!.namespace!
    this.history.push({ rv: this.rv, ns, type, pod: copy })
    for (const w of this.watchers)
      if (w.ns === ns && (w.name === undefined || w.name === pod.metadata!.name))
        w.res.write(`${JSON.stringify({ type, object: copy })}\n`)
  }

  private send(res: ServerResponse, rec: RecordedRequest, code: number, body: unknown): void {
    rec.status = code
    res.writeHead(code, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    let body: unknown
    try {
      body = text ? (JSON.parse(text) as unknown) : undefined
    } catch {
      body = text
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      status: 0,
    }
    this.requests.push(rec)
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return this.send(res, rec, 401, status(401, 'Unauthorized', 'Unauthorized'))
    const metrics = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)
    if (metrics && rec.method === 'GET' && this.o.metrics === true) return this.metricsList(res, rec, metrics[1]!)
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?(\/status)?$/.exec(url.pathname)
    if (!m) return this.send(res, rec, 404, status(404, 'NotFound', `the server could not find the requested resource`))
    const ns = decodeURIComponent(m[1]!)
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2])
    const verb =
      rec.method === 'GET'
        ? url.searchParams.get('watch') === 'true'
          ? 'watch'
          : name
            ? 'get'
            : 'list'
        : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[rec.method] ?? rec.method.toLowerCase())
    if (!this.namespaces.has(ns))
      return this.send(
        res,
        rec,
        403,
        status(
          403,
          'Forbidden',
          `pods is forbidden: User "system:serviceaccount:flotilla:flotilla" cannot ${verb} resource "pods" in API group "" in the namespace "${ns}"`,
        ),
      )
    const key = `${ns}/${name ?? ''}`
    if (verb === 'create' && name === undefined) return this.create(res, rec, ns, body as V1Pod)
    if (verb === 'list')
      return this.send(res, rec, 200, {
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items: this.list(ns),
      })
    if (verb === 'watch') return this.watch(res, rec, ns, url.searchParams)
    const pod = this.pods.get(key)
    if (!pod) return this.send(res, rec, 404, status(404, 'NotFound', `pods "${name}" not found`))
    if (verb === 'get') return this.send(res, rec, 200, pod)
    if (verb === 'update' && m[3]) {
      pod.status = (body as V1Pod).status
      this.emit('MODIFIED', pod)
      return this.send(res, rec, 200, pod)
    }
    if (verb === 'delete') {
      const grace = Number(
        url.searchParams.get('gracePeriodSeconds') ??
          (body as { gracePeriodSeconds?: number } | undefined)?.gracePeriodSeconds ??
          30,
      )
      this.delete(key, grace)
      return this.send(res, rec, 200, pod)
    }
    return this.send(res, rec, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method'))
  }

  /** GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods: a PodMetricsList of the running pods, as metrics-server serves it. */
  private metricsList(res: ServerResponse, rec: RecordedRequest, ns: string): void {
    if (!this.namespaces.has(ns))
      return this.send(
        res,
        rec,
        403,
        status(
          403,
          'Forbidden',
          `pods.metrics.k8s.io is forbidden: User "system:serviceaccount:flotilla:flotilla" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "${ns}"`,
        ),
      )
    const items = this.list(ns)
      .filter((p) => p.status?.phase === 'Running')
      .map((p) => {
        const name = p.metadata!.name!
        return {
          metadata: { name, namespace: ns, creationTimestamp: new Date().toISOString(), labels: p.metadata!.labels },
          timestamp: new Date().toISOString(),
          window: '10.5s',
          containers: [{ name: 'agent', usage: this.podMetrics.get(name) ?? this.measured(name, p) }],
        }
      })
    this.send(res, rec, 200, {
      kind: 'PodMetricsList',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { selfLink: `/apis/metrics.k8s.io/v1beta1/namespaces/${ns}/pods` },
      items,
    })
  }

  /** A container's usage read from its process: resident set (Ki) and CPU time over its life (nanocores). */
  private measured(name: string, pod: V1Pod): { cpu: string; memory: string } {
    const pid = this.containers.get(name)?.child?.pid
    try {
      const rssKi = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0'
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100
      const life = Math.max(0.001, (Date.now() - new Date(pod.metadata!.creationTimestamp!).getTime()) / 1000)
      return { cpu: `${Math.round((cpuSeconds / life) * 1e9)}n`, memory: `${rssKi}Ki` }
    } catch {
      return { cpu: '0', memory: '0' }
    }
  }

  private create(res: ServerResponse, rec: RecordedRequest, ns: string, pod: V1Pod): void {
    this.typeProblems.push(...typeProblems(pod, 'V1Pod', 'Pod'))
    const causes = podCauses(pod, ns)
    if (causes.length)
      return this.send(
        res,
        rec,
        422,
        status(
          422,
          'Invalid',
          `Pod "${pod.metadata?.name ?? ''}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
          causes,
        ),
      )
    const name = pod.metadata!.name!
    if (this.pods.has(`${ns}/${name}`))
      return this.send(res, rec, 409, status(409, 'AlreadyExists', `pods "${name}" already exists`))
    const quota = this.quotas.get(ns)
    if (quota !== undefined) {
      const used = this.list(ns).reduce(
        (n, p) => n + mebibytes(p.spec!.containers[0]!.resources?.limits?.memory ?? '0Mi'),
        0,
      )
      const asked = mebibytes(pod.spec!.containers[0]!.resources?.limits?.memory ?? '0Mi')
      if (pod.spec!.containers[0]!.resources?.limits?.memory === undefined)
        return this.send(
          res,
          rec,
          403,
          status(
            403,
            'Forbidden',
            `pods "${name}" is forbidden: failed quota: compute: must specify limits.memory for: agent`,
          ),
        )
      if (used + asked > quota)
        return this.send(
          res,
          rec,
          403,
          status(
            403,
            'Forbidden',
            `pods "${name}" is forbidden: exceeded quota: compute, requested: limits.memory=${asked}Mi, used: limits.memory=${used}Mi, limited: limits.memory=${quota}Mi`,
          ),
        )
    }
    for (const o of pod.metadata!.ownerReferences ?? [])
      if (![...this.pods.values()].some((p) => p.metadata!.uid === o.uid)) {
        // a real API server accepts a dangling owner, and the garbage collector then deletes the dependent
        setTimeout(() => this.delete(`${ns}/${name}`, 0), 100).unref()
      }
    const stored: V1Pod = JSON.parse(JSON.stringify(pod)) as V1Pod
    stored.metadata!.namespace = ns
    stored.metadata!.uid = `uid-${++this.uid}`
    stored.metadata!.creationTimestamp = new Date()
    stored.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] }
    this.pods.set(`${ns}/${name}`, stored)
    this.emit('ADDED', stored)
    this.send(res, rec, 201, stored)
    if (this.o.run !== false) {
      const c = runPod(stored, {
        pullable: this.o.pullable ?? ((i) => !i.includes('missing')),
        secrets: this.secrets,
        update: (n, p) => this.update(n, p),
      })
      if (c) this.containers.set(name, c)
    }
  }

  private watch(res: ServerResponse, rec: RecordedRequest, ns: string, q: URLSearchParams): void {
    if (this.refusedWatches > 0) {
      this.refusedWatches--
      return this.send(res, rec, 500, status(500, 'InternalError', 'etcdserver: request timed out'))
    }
    const name = /metadata\.name=([^,]+)/.exec(q.get('fieldSelector') ?? '')?.[1]
    const from = Number(q.get('resourceVersion') ?? '0')
    rec.status = 200
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    const oldest = this.history[0]?.rv ?? this.rv
    if (from > 0 && from < oldest - 1) {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${oldest})`) })}\n`,
      )
      return
    }
    const w: Watcher = { ns, name, res }
    this.watchers.add(w)
    res.on('close', () => this.watchers.delete(w))
    if (from === 0) {
      for (const p of this.list(ns))
        if (name === undefined || p.metadata!.name === name)
          res.write(`${JSON.stringify({ type: 'ADDED', object: p })}\n`)
    } else {
      for (const h of this.history)
        if (h.rv > from && h.ns === ns && (name === undefined || h.pod.metadata!.name === name))
          res.write(`${JSON.stringify({ type: h.type, object: h.pod })}\n`)
    }
  }

  /** Deletion: deletionTimestamp now, SIGTERM to the container, DELETED once it exited (or after the grace period); dependents follow. */
  private delete(key: string, graceSeconds: number): void {
    const pod = this.pods.get(key)
    if (!pod || pod.metadata!.deletionTimestamp) return
    const name = pod.metadata!.name!
    pod.metadata!.deletionTimestamp = new Date()
    pod.metadata!.deletionGracePeriodSeconds = graceSeconds
    this.emit('MODIFIED', pod)
    const c = this.containers.get(name)
    const finish = (): void => {
      if (this.pods.get(key) !== pod) return
      c?.child?.kill('SIGKILL')
      this.pods.delete(key)
      this.containers.delete(name)
      this.emit('DELETED', pod)
      for (const [k, p] of this.pods)
        if ((p.metadata!.ownerReferences ?? []).some((o) => o.uid === pod.metadata!.uid)) this.delete(k, 0)
    }
    if (!c?.child || c.child.exitCode !== null || c.child.signalCode !== null) return finish()
    c.child.kill('SIGTERM')
    const timer = setTimeout(finish, graceSeconds * 1000)
    void c.exited.then(() => {
      clearTimeout(timer)
      finish()
    })
  }
}
