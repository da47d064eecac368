/**
 * The one table of error codes: every {@link FlotillaError} carries a code from
 * here, with the HTTP status a server maps it to and whether retrying can help.
 * `docs/errors.md` lists exactly these codes (a test keeps them equal).
 */
import { KUBERNETES_ERROR_CODES } from './kubernetes-errors.js'
import { TEAM_ERROR_CODES } from './team-errors.js'

export const ERROR_CODES = {
  VALIDATION_FAILED: {
    status: 400,
    retryable: false,
    description: 'An input, option or argument failed validation; the message names the field.',
  },
  ALERTS_CONFIG_INVALID: {
    status: 400,
    retryable: false,
    description: 'An alerts configuration (file or API body) is malformed; the message names the bad field.',
  },
  CLI_USAGE: {
    status: 400,
    retryable: false,
    description: 'A command-line argument is missing, unknown or malformed.',
  },
  FILE_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'A file or folder named in a command or workflow does not exist.',
  },
  MODULE_LOAD_FAILED: {
    status: 400,
    retryable: false,
    description: 'A module of agent definitions could not be imported or exports no agents.',
  },
  WORKFLOW_INVALID: {
    status: 400,
    retryable: false,
    description: 'A workflow file or definition does not match the workflow schema.',
  },
  WORKFLOW_CYCLE: {
    status: 400,
    retryable: false,
    description: 'The dependencies of a workflow form a cycle; the message gives its path.',
  },
  WORKFLOW_DUPLICATE_TASK: { status: 400, retryable: false, description: 'Two tasks of one workflow share an id.' },
  WORKFLOW_UNKNOWN_DEPENDENCY: {
    status: 400,
    retryable: false,
    description: 'A task depends on, or references the output of, a task that does not exist.',
  },
  WORKFLOW_UNKNOWN_AGENT: {
    status: 400,
    retryable: false,
    description: 'A task names an agent (or fallback) that is not registered, or a capability no agent offers.',
  },
  WORKFLOW_BAD_REFERENCE: {
    status: 400,
    retryable: false,
    description: 'An input reference or condition expression is malformed.',
  },
  TEMPLATE_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No predefined workflow is registered under that name.',
  },
  AGENT_INVALID: {
    status: 400,
    retryable: false,
    description: 'An agent definition is malformed (name, version, schemas, handler or limits).',
  },
  AGENT_DUPLICATE: {
    status: 409,
    retryable: false,
    description: 'An agent with the same name and version is already registered.',
  },
  AGENT_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No agent is registered under that name, version or capability.',
  },
  VERSION_NOT_SATISFIED: {
    status: 404,
    retryable: false,
    description:
      'No registered version of the agent satisfies the version range asked for; the message lists the registered versions.',
  },
  AGENT_UNAVAILABLE: {
    status: 503,
    retryable: true,
    description: 'Every instance of the agent is failed or stopped; none can take work.',
  },
  AGENT_INIT_FAILED: { status: 500, retryable: false, description: 'An agent instance failed its initialize hook.' },
  AGENT_INPUT_INVALID: {
    status: 400,
    retryable: false,
    description: 'The input given to an agent fails its input schema.',
  },
  AGENT_OUTPUT_INVALID: {
    status: 500,
    retryable: false,
    description:
      'An agent returned output that fails its output schema, or that JSON cannot hold (the message names the path).',
  },
  MAP_ITEMS_INVALID: {
    status: 422,
    retryable: false,
    description:
      'A map-reduce over a list known at run time got something that is not a list, or more items than its maxItems.',
  },
  CONSENSUS_NO_QUORUM: {
    status: 422,
    retryable: false,
    description: 'Fewer voters answered than the consensus quorum requires.',
  },
  CONSENSUS_TIE: {
    status: 422,
    retryable: false,
    description: 'A consensus vote ended in a tie and its tie rule is "fail".',
  },
  CIRCUIT_OPEN: {
    status: 503,
    retryable: true,
    description: 'The circuit breaker of every eligible agent instance is open.',
  },
  TASK_FAILED: { status: 500, retryable: true, description: 'A task handler threw or rejected.' },
  TASK_NON_RETRYABLE: {
    status: 500,
    retryable: false,
    description: 'A task handler failed with an error marked non-retryable (nonRetryable(err)).',
  },
  TASK_TIMEOUT: { status: 504, retryable: true, description: 'A task attempt did not settle within its timeoutMs.' },
  TASK_CANCELLED: { status: 409, retryable: false, description: 'A task was cancelled with its run.' },
  RUN_INTERRUPTED: {
    status: 503,
    retryable: true,
    description: 'The orchestrator closed while the run was executing; the run stays stored unfinished: recover it.',
  },
  RUN_NOT_FOUND: { status: 404, retryable: false, description: 'No run with that id exists in the store.' },
  RUN_STATE_INVALID: {
    status: 409,
    retryable: false,
    description: 'The run is not in a state that allows the operation (for example resuming a finished run).',
  },
  STORE_CONFLICT: {
    status: 409,
    retryable: false,
    description:
      'A store write conflicts with stored state (duplicate id, stale attempt, a lease another worker took over, a run paused or cancelled by another process: details.reason says which).',
  },
  WORKER_NO_AGENTS: {
    status: 400,
    retryable: false,
    description: 'A worker was started without agents; register some (or pass --agents) first.',
  },
  WORKER_CLOCK_SKEW: {
    status: 409,
    retryable: false,
    description:
      "The worker's clock differs from the store's by more than a third of its lease; synchronise the host clock (NTP, chrony) or lengthen leaseMs.",
  },
  STORE_URL_INVALID: {
    status: 400,
    retryable: false,
    description: 'A store URL or path is malformed; use memory, a file path, sqlite:<path> or postgres://….',
  },
  STORE_NOT_FLOTILLA: {
    status: 400,
    retryable: false,
    description: 'The database or file is not a Flotilla store (or is corrupt); point the store elsewhere.',
  },
  STORE_CORRUPT: {
    status: 500,
    retryable: false,
    description:
      'A value read from the store is not what its column holds (details.column): the row was changed outside Flotilla. Restore it from a backup or delete the row.',
  },
  STORE_SCHEMA_TOO_NEW: {
    status: 409,
    retryable: false,
    description: 'The store was written by a newer Flotilla (schema version); upgrade Flotilla to use it.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    description: 'The store could not be reached or refused the operation.',
  },
  BUS_CLOSED: {
    status: 503,
    retryable: false,
    description: 'The bus (or the orchestrator holding it) was closed; open a new one to send, receive or publish.',
  },
  PERMISSION_DENIED: {
    status: 403,
    retryable: false,
    description:
      'The agent holds no permission for that action on that resource (a tool call, a workspace file, an artifact, a message); the message names both.',
  },
  PERMISSION_ESCALATION: {
    status: 403,
    retryable: false,
    description:
      "A child agent asked for a permission its parent does not hold; ask for a subset of the parent's permissions.",
  },
  AUTH_REQUIRED: {
    status: 401,
    retryable: false,
    description: 'The request carries no API key; send one as `Authorization: Bearer flt_…` or `X-API-Key`.',
  },
  AUTH_INVALID: {
    status: 401,
    retryable: false,
    description: 'The API key is malformed, unknown, wrong, revoked, expired, or rotated out past its grace period.',
  },
  KEY_NOT_FOUND: { status: 404, retryable: false, description: 'No API key has that id.' },
  ROUTE_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No route of the HTTP API has that method and path; /api/v1/openapi.json lists them.',
  },
  RATE_LIMITED: {
    status: 429,
    retryable: true,
    description: 'Too many requests from this key or address; retry after the `Retry-After` seconds.',
  },
  ACCESS_BLOCKED: {
    status: 403,
    retryable: false,
    description:
      'This key or address is blocked after repeated authentication failures or denials (or by an ADMIN) until the time given.',
  },
  ARTIFACT_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No artifact (or no such version of it) exists in the context store.',
  },
  DEAD_LETTER_NOT_FOUND: {
    status: 404,
    retryable: false,
    description:
      "No dead letter with that id is in the agent's mailbox (it was replayed already, or never dead-lettered); list them with GET /agents/{name}/dead-letters.",
  },
  ARTIFACT_CONFLICT: {
    status: 409,
    retryable: false,
    description:
      'An artifact write was based on a version that is no longer the latest; read it again and reapply the change.',
  },
  ARTIFACT_EXPIRED: {
    status: 410,
    retryable: false,
    description: 'The artifact or cache entry outlived its TTL and was removed.',
  },
  AGENT_SPEC_INVALID: {
    status: 400,
    retryable: false,
    description: 'An agent spec (JSON/YAML or object) fails the agent spec schema; the message names the field.',
  },
  AGENT_DEPLOY_FAILED: {
    status: 500,
    retryable: false,
    description:
      'An agent could not be deployed (module or export missing, runner failed to start); nothing was left running.',
  },
  AGENT_STATE_INVALID: {
    status: 409,
    retryable: false,
    description:
      "The agent's lifecycle state does not allow the operation (for example a command to a PAUSED agent, or resuming a RUNNING one).",
  },
  AGENT_TERMINATED: {
    status: 410,
    retryable: false,
    description: 'The agent was terminated; it takes no more commands or messages.',
  },
  AGENT_NOT_HELD: {
    status: 409,
    retryable: false,
    description:
      'The deployed agent is governed by another process (the orchestrator or server that deployed it); only that process can control it.',
  },
  AGENT_HOST_DISABLED: {
    status: 409,
    retryable: false,
    description:
      'This server deploys and governs no agents: start it with an agent modules folder (flotilla serve --agent-modules DIR).',
  },
  AGENT_CRASHED: {
    status: 502,
    retryable: true,
    description:
      "The agent's process exited or crashed while it was running; the agent is FAILED and the message gives the reason.",
  },
  RESOURCE_LIMIT_EXCEEDED: {
    status: 429,
    retryable: false,
    description:
      'An agent went over a resource limit (memory, CPU time, workspace storage) or asked for more than its parent holds.',
  },
  IPC_PROTOCOL_ERROR: {
    status: 502,
    retryable: false,
    description: 'A message between the orchestrator and an agent process was malformed or unexpected.',
  },
  ...KUBERNETES_ERROR_CODES,
  ...TEAM_ERROR_CODES,
  TOOL_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'The agent called a tool that is not among its tools.',
  },
  MODEL_INVALID: {
    status: 400,
    retryable: false,
    description:
      'A model string is malformed or names an unknown provider; use provider:model (openai:…, anthropic:…, openai-compatible:<base URL>#<model>).',
  },
  MODEL_KEY_MISSING: {
    status: 400,
    retryable: false,
    description: 'The API key of a model provider is not set; the message names the environment variable to set.',
  },
  MODEL_AUTH_FAILED: {
    status: 401,
    retryable: false,
    description: 'The model provider refused the API key (401/403); check the key and its access to the model.',
  },
  MODEL_CALL_FAILED: {
    status: 502,
    retryable: true,
    description: 'A model call failed (HTTP error, malformed or cut response, timeout) after the provider retries.',
  },
  MODEL_OUTPUT_INVALID: {
    status: 422,
    retryable: false,
    description:
      "The model did not return output matching the agent's output schema, even after being told what was wrong.",
  },
  MODEL_STEP_LIMIT: {
    status: 422,
    retryable: false,
    description:
      'A language-model agent reached maxSteps while still calling tools; raise maxSteps or simplify the task.',
  },
  MCP_FAILED: {
    status: 502,
    retryable: true,
    description:
      'An MCP server could not be started or reached, died during a call, or its tool reported an error; the message gives what it wrote.',
  },
  BUDGET_EXCEEDED: {
    status: 402,
    retryable: false,
    description:
      'A model call could cost more than the budget left (tokens, cost or calls); no call was made. Raise the budget or shorten the prompt. At spawn: a child asked for a larger tree budget than its parent has left.',
  },
  INTERNAL: { status: 500, retryable: false, description: 'An unexpected failure inside Flotilla; please report it.' },
} as const satisfies Record<string, { status: number; retryable: boolean; description: string }>

/** A stable error code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES
