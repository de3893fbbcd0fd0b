/**
 * The Dockerfile and the Kubernetes manifests under deploy/ say only what exists: the CLI command
 * and flags they run, the config they mount (valid against the schema, with every ${env:} it
 * reads provided by the Secret and every file it names mounted), the ports the config listens on,
 * and the probe paths the gateway answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import { pgwarden } from '../helpers/clients.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');
const docs = (p: string) => parseAllDocuments(read(p)).map((d) => d.toJS() as Record<string, any>);

const configMap = docs('deploy/kubernetes/configmap.yaml')[0];
const secret = docs('deploy/kubernetes/secret.example.yaml')[0];
const [deployment, service] = docs('deploy/kubernetes/deployment.yaml');
const container = deployment.spec.template.spec.containers[0];
const configText: string = configMap.data['pgwarden.yaml'];
const env: Record<string, string> = secret.stringData;
const config = parseConfig(configText, 'pgwarden.yaml', env);
const port = (hostPort: string) => Number(hostPort.split(':').pop());

describe('deploy/kubernetes', () => {
  it('the config in the ConfigMap is valid, with every ${env:} it reads in the Secret', () => {
    const refs = [...configText.matchAll(/\$\{env:([A-Z0-9_]+)\}/g)].map((m) => m[1]);
    assert.ok(refs.length > 0);
    for (const r of refs) assert.ok(r in env, `${r} is not in the Secret`);
    assert.equal(deployment.spec.template.spec.containers[0].envFrom[0].secretRef.name, secret.metadata.name);
    assert.equal(config.upstreams.app.pool?.size, 20);
  });

  it('runs a command and flags the CLI has, with the config where it is mounted', async () => {
    const args: string[] = container.args;
    const help = await pgwarden([args[0], '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of args.filter((a) => a.startsWith('--'))) assert.match(help.stdout, new RegExp(`${flag}\\b`), `${args[0]} has no ${flag}`);
    const configPath = args[args.indexOf('--config') + 1];
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === configPath);
    assert.ok(mount, `nothing is mounted at ${configPath}`);
    const volume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
    assert.equal(volume.configMap.name, configMap.metadata.name);
    assert.ok(mount.subPath in configMap.data);
  });

  it('mounts every file the config names', () => {
    const files = [config.listen.tls?.cert, config.listen.tls?.key, config.listen.http_tls?.cert, config.listen.http_tls?.key, config.upstreams.app.tls.ca].filter((f): f is string => !!f);
    assert.ok(files.length >= 3);
    for (const f of files) {
      assert.ok(
        container.volumeMounts.some((m: { mountPath: string }) => f.startsWith(`${m.mountPath}/`)),
        `${f} is not under a mounted volume`,
      );
    }
  });

  it('exposes the ports the config listens on, and probes paths the gateway answers', async () => {
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    assert.equal(ports.postgres, port(config.listen.postgres));
    assert.equal(ports.http, port(config.listen.http));
    assert.deepEqual(service.spec.ports.map((p: { targetPort: string }) => p.targetPort).sort(), ['http', 'postgres']);
    // HTTPS probes because the config serves HTTP with TLS.
    assert.equal(container.readinessProbe.httpGet.scheme, config.listen.http_tls ? 'HTTPS' : 'HTTP');
    const t = await startTestGateway();
    try {
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const r = await fetch(`http://127.0.0.1:${t.gw.http.port}${probe.httpGet.path}`, { headers: { host: 'pod-ip.example:8080' } });
        assert.equal(r.status, 200, `${probe.httpGet.path} answers ${r.status} (probes come with the pod IP as Host)`);
      }
    } finally {
      await t.stop();
    }
    assert.equal(deployment.spec.replicas, 2);
  });

  it('runs two replicas on a shared audit store (one SQLite file per pod would not be shared)', () => {
    assert.match(config.audit.store, /^postgres:\/\//);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  it('exposes the ports, runs the CLI as in the manifests, as a non-root user, with a health check', () => {
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)?.[1].split(/\s+/).map(Number);
    assert.deepEqual(exposed, [port(config.listen.postgres), port(config.listen.http)]);
    assert.match(dockerfile, /^USER node$/m);
    const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    assert.deepEqual(entry, ['node', 'bin/pgwarden.mjs']);
    assert.deepEqual(cmd, container.args);
    assert.match(dockerfile, /HEALTHCHECK[\s\S]*http:\/\/127\.0\.0\.1:8080\/healthz/);
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1].split(/\s+/)) assert.ok(existsSync(new URL(src, root)), `COPY ${src}: no such file`);
    }
  });
});
