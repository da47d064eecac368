/**
 * `flotilla serve --kubernetes`: the agents a server deploys through the API
 * run as pods (the `kubernetes` runtime), on the cluster of the standard
 * kubeconfig (`KUBECONFIG`, `~/.kube/config`, or the pod's service account).
 */
import { defaultRuntimes } from '../orchestrator/default-runtimes.js'
import type { Runtime } from '../runtimes/runtime.js'
import type { RawArgs } from './args.js'
import { usageError } from './args.js'

/** The flags of the `kubernetes` runtime. */
export const KUBERNETES_FLAGS = {
  kubernetes: { type: 'boolean' },
  'kubernetes-namespace': { type: 'string' },
  'kubernetes-image': { type: 'string' },
} as const

/** Their lines in a command's help. */
export const KUBERNETES_HELP = `      --kubernetes        Run the agents deployed through the API as pods (the
                          kubernetes runtime; its default unless a spec names
                          another), on the cluster of KUBECONFIG, else
                          ~/.kube/config, else the pod's service account;
                          needs --agent-modules
      --kubernetes-namespace NS  Namespace of the agent pods (default: the
                          service account's, else FLOTILLA_NAMESPACE, else
                          default)
      --kubernetes-image IMAGE  Image of the agent pods, holding the agent
                          modules at the same paths (default
                          FLOTILLA_AGENT_IMAGE, else flotilla:latest)`

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** What `--kubernetes` asks for, checked; `undefined` without the flag. */
export interface KubernetesChoice {
  readonly namespace?: string
  readonly image?: string
}

/** Reads and checks the flags of {@link KUBERNETES_FLAGS}; `hosted` says whether the command deploys agents at all. */
export function kubernetesChoice(
  command: string,
  values: RawArgs['values'],
  hosted: boolean,
): KubernetesChoice | undefined {
  const namespace = values['kubernetes-namespace'] as string | undefined
  const image = values['kubernetes-image'] as string | undefined
  if (values.kubernetes !== true) {
    if (namespace !== undefined || image !== undefined)
      throw usageError(
        command,
        `--kubernetes-${namespace !== undefined ? 'namespace' : 'image'} applies to agent pods: add --kubernetes.`,
      )
    return undefined
  }
  if (!hosted)
    throw usageError(
      command,
      '--kubernetes runs the agents deployed through the API as pods: add --agent-modules DIR (the folder of their modules, also in the agent image).',
    )
  if (namespace !== undefined && (namespace.length > 63 || !DNS_LABEL.test(namespace)))
    throw usageError(
      command,
      `--kubernetes-namespace "${namespace}" is not a namespace name: 1–63 lowercase letters, digits and "-", starting and ending with a letter or digit.`,
    )
  if (image !== undefined && (image.trim() === '' || /\s/.test(image)))
    throw usageError(command, `--kubernetes-image "${image}" is not an image reference (registry/name:tag).`)
  return { ...(namespace === undefined ? {} : { namespace }), ...(image === undefined ? {} : { image }) }
}

/**
 * The runtimes of a command given `--kubernetes`: the `kubernetes` runtime
 * first (the default of specs that name none), then the default ones (a
 * spec or request may still say `runtime: process`). The Kubernetes client
 * is loaded only when the first pod is made.
 */
export async function kubernetesRuntimes(choice: KubernetesChoice): Promise<Runtime[]> {
  const { KubernetesRuntime } = await import('../runtimes/kubernetes/kubernetes-runtime.js')
  return [new KubernetesRuntime(choice), ...defaultRuntimes()]
}
