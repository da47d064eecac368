// The "kubelet" of the fake API server: runs a pod's container as a local child process (the agent runner
// of this repository, `flotilla` mapped to `node dist/cli/main.js`), on its own loopback address (the pod
// IP), probes its readiness endpoint, and reports container states back as status updates.
import { spawn, type ChildProcess } from 'node:child_process'
import { get } from 'node:http'
import { join } from 'node:path'
import type { V1ContainerState, V1Pod } from '@kubernetes/client-node'
import { ROOT } from '../cli/run-cli.js'

/** How the fake reports a container's state (it updates the stored pod and tells watchers). */
export type StatusUpdate = (name: string, patch: (pod: V1Pod) => void) => void

export interface KubeletOptions {
  /** Images that can be pulled; any other gets ErrImagePull, then ImagePullBackOff. */
  pullable: (image: string) => boolean
  /** Secrets of the namespace: name → key → value. */
  secrets: Map<string, Record<string, string>>
  update: StatusUpdate
}

let nextIp = 2
/** The second byte of this process's pod IPs: test files running at once must not hand out the same address and port. */
const net = 1 + Math.floor(Math.random() * 250)

/** One running "container". */
export interface Container {
  child: ChildProcess | undefined
  ip: string
  /** A reason the fake imposes on the next exit (OOMKilled, Evicted). */
  killReason?: string
  exited: Promise<void>
}

function probe(ip: string, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: ip, port, path, timeout: 500 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
  })
}

function state(s: V1ContainerState, ready: boolean, image: string) {
  return [{ name: 'agent', image, imageID: '', ready, restartCount: 0, state: s }]
}

/** Starts the container of `pod` (after the image "pull"); returns undefined when the image cannot be pulled. */
export function runPod(pod: V1Pod, o: KubeletOptions): Container | undefined {
  const name = pod.metadata!.name!
  const c = pod.spec!.containers[0]!
  const ip = `127.${net}.${Math.floor(nextIp / 250) % 250}.${(nextIp++ % 250) + 2}`
  if (!o.pullable(c.image!)) {
    o.update(name, (p) => {
      p.status = {
        ...p.status,
        phase: 'Pending',
        containerStatuses: state(
          { waiting: { reason: 'ErrImagePull', message: `rpc error: pull access denied for ${c.image}` } },
          false,
          c.image!,
        ),
      }
    })
    setTimeout(
      () =>
        o.update(name, (p) => {
          p.status = {
            ...p.status,
            containerStatuses: state(
              { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } },
              false,
              c.image!,
            ),
          }
        }),
      50,
    ).unref()
    return undefined
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    FLOTILLA_AGENT_HOST: ip,
    FLOTILLA_AGENT_IDLE_EXIT_MS: '20000',
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value
    const ref = e.valueFrom?.secretKeyRef
    if (ref) {
      const value = o.secrets.get(ref.name ?? '')?.[ref.key]
      if (value === undefined) {
        o.update(name, (p) => {
          p.status = {
            ...p.status,
            containerStatuses: state(
              { waiting: { reason: 'CreateContainerConfigError', message: `secret "${ref.name}" not found` } },
              false,
              c.image!,
            ),
          }
        })
        return undefined
      }
      env[e.name] = value
    }
  }
  const [cmd, ...args] = c.command ?? []
  const argv = cmd === 'flotilla' ? [join(ROOT, 'dist/cli/main.js'), ...args] : [cmd!, ...args]
  const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)))
  const container: Container = { child, ip, exited: new Promise((resolve) => child.once('exit', () => resolve())) }
  o.update(name, (p) => {
    p.status = {
      ...p.status,
      phase: 'Pending',
      containerStatuses: state({ waiting: { reason: 'ContainerCreating' } }, false, c.image!),
    }
  })
  const started = new Date()
  const port = Number(c.readinessProbe?.httpGet?.port ?? c.ports?.[0]?.containerPort)
  const path = c.readinessProbe?.httpGet?.path ?? '/'
  let exited = false
  void (async () => {
    for (let i = 0; i < 300 && !exited; i++) {
      if (await probe(ip, port, path)) {
        o.update(name, (p) => {
          p.status = {
            ...p.status,
            phase: 'Running',
            podIP: ip,
            podIPs: [{ ip }],
            containerStatuses: state({ running: { startedAt: started } }, true, c.image!),
          }
        })
        return
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  child.once('exit', (code, signal) => {
    exited = true
    const reason = container.killReason ?? (code === 0 ? 'Completed' : 'Error')
    const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143)
    o.update(name, (p) => {
      const evicted = reason === 'Evicted'
      p.status = {
        ...p.status,
        phase: code === 0 && !evicted ? 'Succeeded' : 'Failed',
        ...(evicted
          ? {
              reason: 'Evicted',
              message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 20Mi.',
            }
          : {}),
        containerStatuses: state(
          {
            terminated: {
              exitCode,
              reason: evicted ? 'Error' : reason,
              startedAt: started,
              finishedAt: new Date(),
              ...(stderr && !evicted ? { message: stderr } : {}),
            },
          },
          false,
          c.image!,
        ),
      }
    })
  })
  return container
}
