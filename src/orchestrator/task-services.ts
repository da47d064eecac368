import type { Journal, ServiceMembers } from '../agents/service-members.js'

/**
 * The services of one task's context, built on first use of anything but
 * the journal: a task that only keeps durable steps (a language-model
 * agent's model and tool calls) never builds its messaging, artifact and
 * cache members, nor compiles its agent's permissions for them.
 */
export class TaskServices implements ServiceMembers {
  private members: ServiceMembers | undefined

  constructor(
    readonly journal: Journal,
    private readonly build: () => ServiceMembers,
  ) {}

  private get built(): ServiceMembers {
    return (this.members ??= this.build())
  }

  get artifacts(): ServiceMembers['artifacts'] {
    return this.built.artifacts
  }

  get cache(): ServiceMembers['cache'] {
    return this.built.cache
  }

  get send(): ServiceMembers['send'] {
    return this.built.send
  }

  get request(): ServiceMembers['request'] {
    return this.built.request
  }

  get publish(): ServiceMembers['publish'] {
    return this.built.publish
  }

  get subscribe(): ServiceMembers['subscribe'] {
    return this.built.subscribe
  }

  get receive(): ServiceMembers['receive'] {
    return this.built.receive
  }

  get ack(): ServiceMembers['ack'] {
    return this.built.ack
  }

  get broadcast(): ServiceMembers['broadcast'] {
    return this.built.broadcast
  }

  get spawn(): ServiceMembers['spawn'] {
    return this.built.spawn
  }
}
