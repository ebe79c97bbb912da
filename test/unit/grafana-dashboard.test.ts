// deploy/grafana/dashboards/*.json type-checked against Grafana's own dashboard schema: the Dashboard type of
// @grafana/schema (generated from Grafana's CUE kinds; the version pinned here is the Grafana of docker-compose.yml).
// Each file becomes `(<json>) satisfies Json<Dashboard>` in a temporary .ts file compiled with the TypeScript
// compiler API: an unknown key (excess property), a wrong type or an enum value Grafana does not have is a
// diagnostic. JSON has no TypeScript enums, so Json<T> accepts each string enum's values (`${Enum}`).
// Needs the devDependency "@grafana/schema": "13.2.3" (no runtime dependency; typescript is already one).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dashboards = join(root, 'deploy/grafana/dashboards');

describe('deploy/grafana/dashboards against @grafana/schema', () => {
  let dir: string;
  beforeAll(async () => {
    // Inside the project, so that '@grafana/schema' resolves from its node_modules.
    dir = await mkdtemp(join(root, '.cache', 'grafana-schema-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has dashboards whose every key and value the Dashboard type accepts', async () => {
    const files = (await readdir(dashboards)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const sources: string[] = [];
    for (const f of files) {
      const json = (await readFile(join(dashboards, f), 'utf8')).trim();
      const src = join(dir, `${f}.check.ts`);
      await writeFile(
        src,
        [
          "import type { Dashboard } from '@grafana/schema';",
          'type Json<T> = T extends string ? `${T}` : T extends number ? number : T extends boolean ? boolean',
          '  : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;',
          `export const dashboard = (${json}) satisfies Json<Dashboard>;`,
          '',
        ].join('\n'),
      );
      sources.push(src);
    }
    const program = ts.createProgram(sources, {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: true,
      types: [],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 - 3 : '?';
      // Line numbers are the JSON file's.
      return `${d.file?.fileName.replace(/^.*\//, '').replace(/\.check\.ts$/, '') ?? ''}:${where} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(problems).toEqual([]);
  }, 60_000);
});
