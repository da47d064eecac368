/**
 * The error codes of teams that shape themselves at run time (agent
 * templates, planned child workflows), part of the one table of
 * `ERROR_CODES` (error-codes.ts).
 */
export const TEAM_ERROR_CODES = {
  AGENT_TEMPLATE_NOT_FOUND: {
    status: 404,
    retryable: false,
    description: 'No agent template of that name is registered (and no generic template to fall back to).',
  },
  AGENT_TEMPLATE_INVALID: {
    status: 400,
    retryable: false,
    description: 'An agent template, or the overrides of a spawn, is malformed; the message names the field.',
  },
  AGENT_TEMPLATE_ESCALATION: {
    status: 403,
    retryable: false,
    description:
      'A template (with its overrides) asks for more permissions, limits or budget than the spawning agent holds; nothing was spawned.',
  },
  PLAN_INVALID: {
    status: 400,
    retryable: false,
    description:
      'A plan (a child workflow a task returned) is malformed, or a planner kept answering with malformed plans; nothing was started.',
  },
  PLAN_TOO_LARGE: {
    status: 400,
    retryable: false,
    description: 'A plan holds more tasks than allowed (`maxTasks`); nothing was started.',
  },
  SUMMARY_MODEL_MISSING: {
    status: 400,
    retryable: false,
    description:
      'A workflow asks for a run summary (`summary`) but names no model and the orchestrator has no `summaryModel`; nothing was started.',
  },
  CHILD_RUN_FAILED: {
    status: 500,
    retryable: false,
    description: 'The child run a task planned failed or was cancelled; the parent task fails with it.',
  },
  CHILD_RUN_UNSUPPORTED: {
    status: 400,
    retryable: false,
    description:
      'A plan (`childWorkflow`, a planner) or a spawn from an agent template reached an executor with no child runs wired in; an Orchestrator and a Worker both run them as child runs, so this is raised only by a custom wiring.',
  },
} as const
