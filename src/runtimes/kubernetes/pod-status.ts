/**
 * What a pod's status means for its agent: still starting, running (with
 * its IP), or stopped, and then why, as a {@link RuntimeExit} with a code:
 * OOMKilled is `RESOURCE_LIMIT_EXCEEDED` (memory), an image that cannot be
 * pulled `KUBERNETES_IMAGE_PULL_FAILED`, an eviction or a lost node
 * `KUBERNETES_POD_EVICTED`, a crash (an exit, CrashLoopBackOff) `AGENT_CRASHED`.
 */
import type { V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node'
import type { RuntimeExit } from '../runtime.js'

/** Where a pod stands. */
export type PodView =
  | { readonly kind: 'pending'; readonly why: string }
  | { readonly kind: 'running'; readonly ip: string; readonly ready: boolean }
  | { readonly kind: 'stopped'; readonly exit: RuntimeExit }

// ErrImagePull alone may be a registry hiccup the kubelet retries; the back-off means it keeps failing.
const PULL_FAILURES = new Set(['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'])
const CONFIG_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'])

function terminatedExit(pod: string, t: V1ContainerStateTerminated, memoryMb: number | undefined): RuntimeExit {
  const details = {
    pod,
    exitCode: t.exitCode,
    reason: t.reason ?? null,
    ...(t.message === undefined ? {} : { message: t.message.slice(-2000) }),
  }
  if (t.reason === 'OOMKilled')
    return {
      code: 'RESOURCE_LIMIT_EXCEEDED',
      reason: `Pod ${pod} was killed by the kernel for going over its memory limit (OOMKilled${memoryMb === undefined ? '' : `, memoryMb ${memoryMb}`}); raise memoryMb or use less memory.`,
      details: { limit: 'memory', ...details, memoryMb: memoryMb ?? null },
    }
  return {
    code: 'AGENT_CRASHED',
    reason: `The agent container of pod ${pod} exited with code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message.slice(-300)}` : ''}.`,
    details,
  }
}

/** What `pod` means for its agent (see the module comment); `memoryMb` names the limit in an OOM reason. */
export function viewPod(pod: V1Pod, memoryMb?: number): PodView {
  const name = pod.metadata?.name ?? '?'
  const status = pod.status ?? {}
  const disruption = status.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True')
  if (status.reason === 'Evicted' || disruption !== undefined || status.reason === 'NodeLost') {
    const why = status.message ?? disruption?.message ?? status.reason ?? 'evicted'
    return {
      kind: 'stopped',
      exit: {
        code: 'KUBERNETES_POD_EVICTED',
        reason: `Pod ${name} was evicted or lost its node (${disruption?.reason ?? status.reason ?? 'Evicted'}): ${why}`,
        details: { pod: name, reason: disruption?.reason ?? status.reason ?? null, message: why },
      },
    }
  }
  const container = status.containerStatuses?.find((c) => c.name === 'agent') ?? status.containerStatuses?.[0]
  const waiting = container?.state?.waiting
  if (waiting?.reason !== undefined && PULL_FAILURES.has(waiting.reason)) {
    const image = container?.image ?? pod.spec?.containers[0]?.image ?? '?'
    return {
      kind: 'stopped',
      exit: {
        code: 'KUBERNETES_IMAGE_PULL_FAILED',
        reason: `The image "${image}" of pod ${name} cannot be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}); check the image name and tag, and imagePullSecrets for a private registry.`,
        details: { pod: name, image, reason: waiting.reason, message: waiting.message ?? null },
      },
    }
  }
  if (waiting?.reason === 'CrashLoopBackOff') {
    const last = container?.lastState?.terminated
    const exit = last === undefined ? undefined : terminatedExit(name, last, memoryMb)
    return {
      kind: 'stopped',
      exit: exit ?? {
        code: 'AGENT_CRASHED',
        reason: `The agent container of pod ${name} keeps crashing (CrashLoopBackOff): ${waiting.message ?? ''}`,
        details: { pod: name, reason: 'CrashLoopBackOff' },
      },
    }
  }
  if (waiting?.reason !== undefined && CONFIG_FAILURES.has(waiting.reason))
    return {
      kind: 'stopped',
      exit: {
        code: 'AGENT_CRASHED',
        reason: `The agent container of pod ${name} cannot start (${waiting.reason}): ${waiting.message ?? ''}. A Secret or key it names may be missing.`,
        details: { pod: name, reason: waiting.reason, message: waiting.message ?? null },
      },
    }
  const terminated = container?.state?.terminated
  if (terminated !== undefined) return { kind: 'stopped', exit: terminatedExit(name, terminated, memoryMb) }
  if (status.phase === 'Failed' || status.phase === 'Succeeded')
    return {
      kind: 'stopped',
      exit: {
        code: 'AGENT_CRASHED',
        reason: `Pod ${name} is ${status.phase}${status.reason ? ` (${status.reason})` : ''}${status.message ? `: ${status.message}` : ''}.`,
        details: { pod: name, phase: status.phase, reason: status.reason ?? null },
      },
    }
  if (pod.metadata?.deletionTimestamp !== undefined)
    return {
      kind: 'stopped',
      exit: {
        code: 'AGENT_CRASHED',
        reason: `Pod ${name} is being deleted by someone other than the runtime (kubectl delete, its owner's deletion, a node drain).`,
        details: { pod: name, reason: 'Deleted' },
      },
    }
  if (status.phase === 'Running' && status.podIP !== undefined && container?.state?.running !== undefined)
    return { kind: 'running', ip: status.podIP, ready: container.ready }
  const unschedulable = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  return {
    kind: 'pending',
    why: unschedulable?.message ?? waiting?.message ?? waiting?.reason ?? `phase ${status.phase ?? 'Pending'}`,
  }
}

/** The exit of a pod that disappeared (a DELETED event, or not found). */
export function deletedExit(name: string): RuntimeExit {
  return {
    code: 'AGENT_CRASHED',
    reason: `Pod ${name} was deleted by someone other than the runtime (kubectl delete, its owner's deletion, a node drain).`,
    details: { pod: name, reason: 'Deleted' },
  }
}
