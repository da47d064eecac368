// Render-free checks of deploy/: helm and kubeconform are not installable here (no npm or Debian
// package), so the static manifests are parsed and each object checked against the model types that
// @kubernetes/client-node ships (unknown fields, JSON types) and the fields a real API server requires;
// the Helm chart's templates are NOT rendered: only Chart.yaml and values.yaml are parsed, and every
// `.Values.x.y` a template reads is checked to exist in values.yaml.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments, parse } from 'yaml'
import { ROOT } from '../cli/run-cli.js'
import { podCauses, typeProblems } from './pod-schema.js'

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string }
  spec?: Record<string, unknown>
  [key: string]: unknown
}

const MANIFEST = join(ROOT, 'deploy/kubernetes/flotilla.yaml')
const objects = parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((d) => d.toJS() as K8sObject)

const TYPES: Record<string, string> = {
  ServiceAccount: 'V1ServiceAccount',
  Role: 'V1Role',
  RoleBinding: 'V1RoleBinding',
  Service: 'V1Service',
  StatefulSet: 'V1StatefulSet',
  Deployment: 'V1Deployment',
  NetworkPolicy: 'V1NetworkPolicy',
}

describe('deploy/kubernetes/flotilla.yaml', () => {
  it('holds only known kinds, each fitting the client library’s type, with names', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'Deployment',
      'Deployment',
      'NetworkPolicy',
      'NetworkPolicy',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
      'ServiceAccount',
      'StatefulSet',
    ])
    for (const o of objects) {
      expect(TYPES[o.kind], o.kind).toBeDefined()
      expect(typeProblems(o, TYPES[o.kind]!, `${o.kind}/${o.metadata.name}`)).toEqual([])
      expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    }
  })

  it('gives the workloads pod templates a real API server accepts, whose selectors match their labels', () => {
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const spec = o.spec as {
        selector: { matchLabels: Record<string, string> }
        template: { metadata: { labels: Record<string, string> }; spec: unknown }
      }
      const claims = (
        (o.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
      ).map((c) => ({ name: c.metadata.name, emptyDir: {} }))
      const podSpec = spec.template.spec as { volumes?: unknown[] }
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'x', labels: spec.template.metadata.labels },
        spec: { ...podSpec, volumes: [...(podSpec.volumes ?? []), ...claims] },
      }
      expect(podCauses(pod as never, 'flotilla'), o.metadata.name).toEqual([])
      for (const [k, v] of Object.entries(spec.selector.matchLabels))
        expect(spec.template.metadata.labels[k], `${o.metadata.name} ${k}`).toBe(v)
    }
  })

  it('limits the runtime’s RBAC to pods in the namespace, probes the server’s health endpoints, and fences agent pods', () => {
    const role = objects.find((o) => o.kind === 'Role')!
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'] },
    ])
    expect(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false)
    const server = objects.find((o) => o.metadata.name === 'flotilla-server')!
    const container = (
      server.spec as { template: { spec: { containers: { livenessProbe: unknown; readinessProbe: unknown }[] } } }
    ).template.spec.containers[0]!
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/api/v1/health' } })
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/api/v1/ready' } })
    const agents = objects.find((o) => o.metadata.name === 'flotilla-agents')!
    expect(agents.spec).toMatchObject({
      podSelector: { matchLabels: { 'app.kubernetes.io/component': 'agent' } },
      policyTypes: ['Ingress'],
    })
    const agentSa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'flotilla-agent')!
    expect(agentSa.automountServiceAccountToken).toBe(false)
  })

  it('runs the agents the server deploys as pods (--kubernetes); workers deploy none and get no API access', () => {
    const podSpec = (name: string) =>
      (
        objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!.spec as {
          template: { spec: { serviceAccountName: string; containers: { args: string[]; env: { name: string }[] }[] } }
        }
      ).template.spec
    const server = podSpec('flotilla-server')
    expect(server.containers[0]!.args).toEqual(
      expect.arrayContaining(['--agent-modules', '/app/agents', '--kubernetes']),
    )
    expect(server.serviceAccountName).toBe('flotilla')
    expect(server.containers[0]!.env.map((e) => e.name)).toEqual(
      expect.arrayContaining(['FLOTILLA_AGENT_IMAGE', 'FLOTILLA_AGENT_SERVICE_ACCOUNT', 'FLOTILLA_POD_UID']),
    )
    const worker = podSpec('flotilla-worker')
    expect(worker.containers[0]!.args).not.toContain('--kubernetes')
    expect(worker.serviceAccountName).toBe('flotilla-worker')
    const workerSa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'flotilla-worker')!
    expect(workerSa.automountServiceAccountToken).toBe(false)
    const binding = objects.find((o) => o.kind === 'RoleBinding')!
    expect(binding.subjects).toEqual([expect.objectContaining({ name: 'flotilla' })])
  })
})

describe('deploy/helm/flotilla (not rendered: no helm here)', () => {
  const chart = join(ROOT, 'deploy/helm/flotilla')
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>

  it('has a v2 Chart.yaml and values for the server, workers, agents and PostgreSQL', () => {
    expect(parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8'))).toMatchObject({
      apiVersion: 'v2',
      name: 'flotilla',
      type: 'application',
    })
    expect(Object.keys(values)).toEqual(
      expect.arrayContaining([
        'image',
        'server',
        'workers',
        'agents',
        'postgresql',
        'externalDatabase',
        'networkPolicy',
      ]),
    )
  })

  it('passes --agent-modules and --kubernetes to the server when agents.modules is set, as the static manifests do', () => {
    const server = readFileSync(join(chart, 'templates/server.yaml'), 'utf8')
    expect(server).toContain(
      '{{ with .Values.agents.modules }}, "--agent-modules", {{ . | quote }}, "--kubernetes"{{ end }}',
    )
    expect((values.agents as { modules: string }).modules).toBe('/app/agents')
    const workers = readFileSync(join(chart, 'templates/workers.yaml'), 'utf8')
    expect(workers).toContain('serviceAccountName: {{ .Release.Name }}-worker')
    expect(workers).not.toContain('flotilla.runtimeEnv')
  })

  it('reads in its templates only values that values.yaml defines', () => {
    const missing: string[] = []
    for (const file of readdirSync(join(chart, 'templates'))) {
      const text = readFileSync(join(chart, 'templates', file), 'utf8')
      for (const [, path] of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
        let at: unknown = values
        for (const part of path!.split('.')) at = (at as Record<string, unknown> | undefined)?.[part]
        if (at === undefined) missing.push(`${file}: .Values.${path}`)
      }
    }
    expect(missing).toEqual([])
  })
})
