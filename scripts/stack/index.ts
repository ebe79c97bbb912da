// npm run stack -- up [--replicas N] | down | status [--json]
//
// The production topology of docker-compose.yml, run natively on free loopback ports (scripts/stack/stack.ts):
// PostgreSQL, the schema job, Temporal server with mutual TLS, the namespace job, the Onetime Secret emulator as its
// own process, N replicas of the service (default 2) and Temporal UI with the service as its codec server.
// docker-compose.yml's interpolation variables are read from the environment as `docker compose` reads them, e.g.
// `OTS_POLL_INTERVALS=5 npm run stack -- up`. `status --json` prints where everything is, for other tools.
// State and logs: .cache/stack/run/ (logs/<process>.log).
import { parseArgs } from 'node:util';
import { StackUnavailableError } from './binaries.js';
import { composeVarsFrom, DEFAULT_RUN_DIR, readState, Stack, stackUp, type StackStatus } from './stack.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    replicas: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    'run-dir': { type: 'string', default: DEFAULT_RUN_DIR },
  },
});

function print(status: StackStatus, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return;
  }
  const mark = (alive: boolean) => (alive ? 'up' : 'DOWN');
  const t = status.temporal;
  const lines = [
    '',
    'ots-handoff stack (docker-compose.yml, natively)',
    ...status.replicas.map(
      (r, i) => `  replica ${i + 1}      : ${r.url}  (pid ${r.pid ?? '-'}, ${mark(r.alive)})  agent API ${r.url}/v1`,
    ),
    `  agent token    : ${status.agentToken}`,
    `  Temporal       : ${t.address}  (mutual TLS, pid ${t.pid ?? '-'}, ${mark(t.alive)})`,
    `    temporal CLI : --address ${t.address} --tls-ca-path ${t.tls.ca} --tls-cert-path ${t.tls.cert} --tls-key-path ${t.tls.key} --tls-server-name ${t.tls.serverName}`,
    `  Temporal UI    : ${status.ui}`,
    `  Onetime Secret : ${status.ots}  (emulator)`,
    `  PostgreSQL     : 127.0.0.1:${status.postgres.port}  (pid ${status.postgres.pid ?? '-'}, ${mark(status.postgres.alive)})`,
    `  logs           : ${status.runDir}/logs/`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const cmd = positionals[0];
  const runDir = values['run-dir']!;
  const say = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  switch (cmd) {
    case 'up': {
      const replicas = Number(values.replicas);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) {
        say('--replicas must be a whole number from 1 to 16');
        return 2;
      }
      const stack = await stackUp({ runDir, replicas, composeVars: composeVarsFrom(process.env), say });
      print(stack.status(), values.json!);
      say('stop it with: npm run stack -- down');
      return 0;
    }
    case 'down': {
      const state = readState(runDir);
      if (!state) {
        say(`no stack in ${runDir}`);
        return 0;
      }
      await new Stack(state, say).down();
      say('stopped every process of the stack');
      return 0;
    }
    case 'status': {
      const state = readState(runDir);
      if (!state) {
        say(`no stack in ${runDir}: npm run stack -- up`);
        return 1;
      }
      const status = new Stack(state).status();
      print(status, values.json!);
      return status.replicas.every((r) => r.alive) && status.temporal.alive ? 0 : 1;
    }
    default:
      say('usage: npm run stack -- up [--replicas N] [--json] | down | status [--json]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(
      `[stack] ${err instanceof StackUnavailableError ? 'cannot run the stack here: ' : 'failed: '}${err.message}\n`,
    );
    process.exit(err instanceof StackUnavailableError ? 3 : 1);
  },
);
