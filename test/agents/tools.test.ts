import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { FlotillaError, isFlotillaError } from '../../src/core/errors.js'
import type { AgentEvent } from '../../src/agents/agent-event.js'
import {
  collectTools,
  createToolBox,
  defineTool,
  isToolDefinition,
  type AnyToolDefinition,
  type ToolContext,
} from '../../src/agents/tools.js'
import { FolderWorkspace } from '../../src/agents/workspace.js'
import { PermissionSet, type Permission } from '../../src/security/permissions.js'

const dir = mkdtempSync(join(tmpdir(), 'flotilla-tools-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return isFlotillaError(e) ? e.code : `not a FlotillaError: ${String(e)}`
  }
  return 'resolved'
}

let seen: ToolContext | undefined
const upper = defineTool({
  name: 'upper',
  description: 'upper-cases',
  input: z.object({ text: z.string() }),
  run: ({ text }, ctx) => ((seen = ctx), text.toUpperCase()),
})
const boom = defineTool({ name: 'boom', run: () => Promise.reject(new Error('exploded')) })
const typed = defineTool({ name: 'typed', run: () => Promise.reject(new FlotillaError('ARTIFACT_CONFLICT', 'stale')) })
const reader = defineTool({
  name: 'reader',
  input: z.object({ path: z.string() }),
  run: ({ path }, ctx) => ctx.workspace.readText(path),
})

async function box(permissions: Permission[], names = ['upper', 'boom', 'typed', 'reader']) {
  const events: AgentEvent[] = []
  const ps = new PermissionSet(permissions)
  const workspace = await FolderWorkspace.open({
    root: join(dir, String(Math.random())),
    permissions: ps,
    agent: 'worker',
    onEvent: (e) => events.push(e),
  })
  const controller = new AbortController()
  const tools = new Map<string, AnyToolDefinition>([upper, boom, typed, reader].map((t) => [t.name, t]))
  const toolBox = createToolBox({
    tools,
    names,
    permissions: ps,
    agent: 'worker',
    instanceId: 'agt_w',
    workspace,
    signal: controller.signal,
    onEvent: (e) => events.push(e),
  })
  return { toolBox, events, workspace, controller }
}

describe('defineTool', () => {
  it('makes a frozen, branded tool', () => {
    expect(upper).toMatchObject({ kind: 'flotilla.tool', name: 'upper', description: 'upper-cases' })
    expect(Object.isFrozen(upper)).toBe(true)
    expect(isToolDefinition(upper)).toBe(true)
    expect(isToolDefinition({ name: 'upper', run: () => 1 })).toBe(false)
  })

  const one = (): number => 1
  it.each<[Record<string, unknown>]>([
    [{ name: 'bad name', run: one }],
    [{ name: 'x' }],
    [{ name: 'x', run: one, input: { parse: 1 } }],
  ])('refuses a malformed tool %j with VALIDATION_FAILED', (config) => {
    expect(() => defineTool(config as never)).toThrowError(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })

  it('collects the tools a module exports: named, in lists, and default', () => {
    const found = collectTools({ upper, list: [boom, 1], default: typed, other: 'x' })
    expect([...found.keys()].sort()).toEqual(['boom', 'typed', 'upper'])
  })
})

describe('ctx.tools', () => {
  it('calls a permitted tool with validated input and its context, and reports tool.called', async () => {
    const { toolBox, events, controller } = await box([{ resource: 'tool:*', actions: ['call'] }])
    expect(toolBox.names).toEqual(['upper', 'boom', 'typed', 'reader'])
    expect(await toolBox.call('upper', { text: 'abc', extra: 1 })).toBe('ABC')
    expect(seen).toMatchObject({ agent: 'worker', instanceId: 'agt_w' })
    expect(seen?.signal).toBe(controller.signal)
    expect(events).toEqual([
      {
        type: 'tool.called',
        data: { agent: 'worker', tool: 'upper', ok: true, durationMs: events[0].data.durationMs },
      },
    ])
    expect(events[0].data.durationMs).toBeTypeOf('number')
  })

  it('refuses a tool that is not among the agent’s tools with TOOL_NOT_FOUND, even when permitted', async () => {
    const { toolBox } = await box([{ resource: 'tool:*', actions: ['call'] }], ['upper'])
    expect(await codeOf(toolBox.call('boom', {}))).toBe('TOOL_NOT_FOUND')
    expect(await codeOf(toolBox.call('ghost', {}))).toBe('TOOL_NOT_FOUND')
  })

  it('refuses a tool without tool:<name> call permission with PERMISSION_DENIED and an event', async () => {
    const { toolBox, events } = await box([{ resource: 'tool:upper', actions: ['read'] }])
    const e = toolBox.call('upper', { text: 'a' })
    expect(await codeOf(e)).toBe('PERMISSION_DENIED')
    expect(events).toEqual([
      {
        type: 'permission.denied',
        data: expect.objectContaining({ agent: 'worker', resource: 'tool:upper', action: 'call' }),
      },
    ])
  })

  it('refuses input failing the tool’s schema with VALIDATION_FAILED naming the field', async () => {
    const { toolBox } = await box([{ resource: 'tool:*', actions: ['call'] }])
    await expect(toolBox.call('upper', { text: 5 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { path: 'text', tool: 'upper' },
    })
  })

  it('turns a tool’s plain Error into TASK_FAILED and keeps a FlotillaError’s code, reporting ok: false', async () => {
    const { toolBox, events } = await box([{ resource: 'tool:*', actions: ['call'] }])
    expect(await codeOf(toolBox.call('boom', {}))).toBe('TASK_FAILED')
    expect(await codeOf(toolBox.call('typed', {}))).toBe('ARTIFACT_CONFLICT')
    expect(events.map((e) => [e.data.tool, e.data.ok, e.data.code])).toEqual([
      ['boom', false, 'TASK_FAILED'],
      ['typed', false, 'ARTIFACT_CONFLICT'],
    ])
  })

  it('checks file access by a tool against the calling agent’s permissions', async () => {
    const { toolBox, workspace } = await box([
      { resource: 'tool:reader', actions: ['call'] },
      { resource: 'file:open/*', actions: ['read', 'write'] },
      { resource: 'file:closed/*', actions: ['write'] },
    ])
    await workspace.write('open/a.txt', 'A')
    await workspace.write('closed/b.txt', 'B')
    expect(await toolBox.call('reader', { path: 'open/a.txt' })).toBe('A')
    expect(await codeOf(toolBox.call('reader', { path: 'closed/b.txt' }))).toBe('PERMISSION_DENIED')
  })
})
