import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { ContextStore } from '../../src/context/context-store.js'
import { MemoryContextBackend } from '../../src/context/memory/memory-context-backend.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Authorizer, resourceName, type Decision } from '../../src/security/authorizer.js'
import { PermissionSet } from '../../src/security/permissions.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { workflow } from '../../src/workflows/builder.js'

const reader = { name: 'reader', permissions: new PermissionSet([{ resource: 'artifact:docs/**', actions: ['read'] }]) }

describe('Authorizer', () => {
  it('names typed resources as grants match them', () => {
    expect([
      resourceName({ kind: 'tool', name: 'fetch' }),
      resourceName({ kind: 'file', path: 'data/a.txt' }),
      resourceName({ kind: 'artifact', id: 'docs/x' }),
      resourceName({ kind: 'cache', key: 'k' }),
      resourceName({ kind: 'agent', name: 'writer' }),
      resourceName({ kind: 'event', type: 'done' }),
    ]).toEqual(['tool:fetch', 'file:data/a.txt', 'artifact:docs/x', 'cache:k', 'agent:writer', 'event:done'])
  })

  it('decides by grants (no grants object: unrestricted), throws one PERMISSION_DENIED shape, and tells every listener', () => {
    const authorizer = new Authorizer()
    const heard: Decision[] = []
    const stop = authorizer.onDecision((d) => heard.push(d))
    authorizer.onDecision(() => {
      throw new Error('a broken listener changes nothing')
    })
    expect(authorizer.allows(reader, { kind: 'artifact', id: 'docs/a' }, 'read')).toBe(true)
    expect(authorizer.allows({ name: 'root', permissions: undefined }, { kind: 'tool', name: 'rm' }, 'call')).toBe(true)
    const told: Decision[] = []
    expect(() =>
      authorizer.authorize(reader, { kind: 'artifact', id: 'secrets' }, 'read', (d) => told.push(d)),
    ).toThrow(
      expect.objectContaining({
        code: 'PERMISSION_DENIED',
        details: { agent: 'reader', resource: 'artifact:secrets', action: 'read', reason: 'no permission grants it' },
      }),
    )
    const outside = authorizer.deny(
      reader,
      { kind: 'file', path: '../etc/passwd' },
      'read',
      'it leads out of the workspace',
    )
    expect(outside).toMatchObject({
      code: 'PERMISSION_DENIED',
      details: {
        agent: 'reader',
        resource: 'file:../etc/passwd',
        action: 'read',
        reason: 'it leads out of the workspace',
      },
    })
    expect(told).toEqual([
      {
        allowed: false,
        principal: 'reader',
        resource: 'artifact:secrets',
        action: 'read',
        reason: 'no permission grants it',
      },
    ])
    expect(heard.map((d) => [d.allowed, d.resource, d.reason])).toEqual([
      [true, 'artifact:docs/a', 'granted'],
      [true, 'tool:rm', 'granted'],
      [false, 'artifact:secrets', 'no permission grants it'],
      [false, 'file:../etc/passwd', 'it leads out of the workspace'],
    ])
    stop()
    authorizer.allows(reader, { kind: 'artifact', id: 'docs/b' }, 'read')
    expect(heard).toHaveLength(4)
    expect(
      authorizer.filter(reader, ['docs/a', 'other', 'docs/b/c'], (id) => ({ kind: 'artifact', id }), 'read'),
    ).toEqual(['docs/a', 'docs/b/c'])
  })

  it('an orchestrator makes every service decision of its agents through its authorizer (the audit hook)', async () => {
    const authorizer = new Authorizer()
    const heard: Decision[] = []
    authorizer.onDecision((d) => heard.push(d))
    const permissionsOf = (who: string) =>
      who === 'scribe' ? new PermissionSet([{ resource: 'artifact:notes/**', actions: ['read', 'write'] }]) : undefined
    const context = new ContextStore(new MemoryContextBackend(), { permissionsOf, authorizer })
    const o = new Orchestrator({ store: new MemoryStore(), authorizer, context })
    expect(o.authorizer).toBe(authorizer)
    await o.register(
      defineAgent({
        name: 'scribe',
        permissions: [{ resource: 'artifact:**', actions: ['*'] }],
        handler: async (_x: unknown, ctx) => {
          await ctx.artifacts.put('notes/today', { text: 'ok' })
          await ctx.artifacts.put('secrets/key', 'x').catch((e: { code?: string }) => e.code)
          return (await ctx.artifacts.list()).map((a) => a.id)
        },
      }),
    )
    const result = await o.run(workflow('audit').task('s', { agent: 'scribe' }).build())
    expect(result.output('s')).toEqual(['notes/today'])
    const mine = heard.filter((d) => d.principal === 'scribe').map((d) => [d.allowed, d.action, d.resource])
    expect(mine).toEqual(
      expect.arrayContaining([
        [true, 'write', 'artifact:notes/today'],
        [false, 'write', 'artifact:secrets/key'],
      ]),
    )
    await o.close()
  })

  it('a registered agent that declares permissions gets exactly those; one that declares none holds none; a star grant asks for everything', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    const heard: Decision[] = []
    o.authorizer.onDecision((d) => heard.push(d))
    await o.register(
      defineAgent({
        name: 'narrow',
        permissions: [{ resource: 'artifact:notes/**', actions: ['read', 'write'] }],
        handler: async (_x: unknown, ctx) => {
          await ctx.artifacts.put('notes/a', 1)
          const denied = await ctx.artifacts.put('secrets/b', 2).then(
            () => 'stored',
            (e: { code?: string; details?: unknown }) => [e.code, e.details],
          )
          const sent = await ctx.send('someone', 'hi').then(
            () => 'sent',
            (e: { code?: string }) => e.code,
          )
          return { denied, sent }
        },
      }),
    )
    await o.register(
      defineAgent({
        name: 'none',
        handler: async (_x: unknown, ctx) =>
          ctx.artifacts.put('anything', 1).then(
            () => 'stored',
            (e: { code?: string }) => e.code,
          ),
      }),
    )
    await o.register(
      defineAgent({
        name: 'open',
        permissions: [{ resource: '**', actions: ['*'] }],
        handler: async (_x: unknown, ctx) => (await ctx.artifacts.put('anything', 1)).version,
      }),
    )
    const result = await o.run(
      workflow('perm').task('n', { agent: 'narrow' }).task('x', { agent: 'none' }).task('o', { agent: 'open' }).build(),
    )
    expect(result.output('n')).toEqual({
      denied: [
        'PERMISSION_DENIED',
        { agent: 'narrow', resource: 'artifact:secrets/b', action: 'write', reason: 'no permission grants it' },
      ],
      sent: 'PERMISSION_DENIED',
    })
    expect(result.output('x')).toBe('PERMISSION_DENIED')
    expect(result.output('o')).toBe(1)
    expect(
      heard
        .filter((d) => !d.allowed)
        .map((d) => `${d.principal} ${d.action} ${d.resource}`)
        .sort(),
    ).toEqual(['narrow send agent:someone', 'narrow write artifact:secrets/b', 'none write artifact:anything'])
    await o.close()
  })
})
