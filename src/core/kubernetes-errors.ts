/**
 * The error codes of the `kubernetes` runtime, part of the one table of
 * `ERROR_CODES` (error-codes.ts) (kept here so that table stays short enough to read).
 */
export const KUBERNETES_ERROR_CODES = {
  KUBERNETES_FORBIDDEN: {
    status: 403,
    retryable: false,
    description:
      "The Kubernetes API refused the runtime's service account (403): a namespace or verb its RBAC does not allow.",
  },
  KUBERNETES_QUOTA_EXCEEDED: {
    status: 429,
    retryable: false,
    description:
      "A namespace ResourceQuota or LimitRange refused the agent's pod: lower the agent's limits or raise the quota.",
  },
  KUBERNETES_INVALID: {
    status: 422,
    retryable: false,
    description: 'The Kubernetes API refused the pod as invalid (422); the message names the field.',
  },
  KUBERNETES_UNREACHABLE: {
    status: 503,
    retryable: true,
    description: 'The Kubernetes API server cannot be reached (connection refused, DNS, TLS, timeout).',
  },
  KUBERNETES_API_ERROR: {
    status: 502,
    retryable: true,
    description: 'The Kubernetes API answered with an error the runtime does not handle otherwise (409, 5xx…).',
  },
  KUBERNETES_WATCH_LOST: {
    status: 503,
    retryable: true,
    description: "The watch of an agent's pod dropped and could not be started again.",
  },
  KUBERNETES_IMAGE_PULL_FAILED: {
    status: 502,
    retryable: false,
    description: "The agent pod's image cannot be pulled (ErrImagePull, ImagePullBackOff, InvalidImageName).",
  },
  KUBERNETES_POD_EVICTED: {
    status: 503,
    retryable: true,
    description: "The agent's pod was evicted (node pressure, drain) or its node was lost.",
  },
} as const
