// The sandbox's Onetime Secret emulator (src/sandbox/ots-emulator.ts) as a process of its own, as the real server
// would be, for `npm run stack`: it outlives any replica of the service, which reaches it in live mode
// (OTS_BASE_URL=<baseUrl>, OTS_USERNAME, OTS_API_KEY; plain http is allowed to loopback, src/config.ts).
//
//   node --import tsx scripts/stack/ots-emulator.ts --username EMAIL --api-key KEY [--port N] [--host ADDR]
//        [--state FILE] [--rate-limit MAX/WINDOW_MS]
//
// --port 0 (the default) takes a free port; --host is 127.0.0.1 unless another loopback address or localhost
// (anything else is refused). --api-key may come from OTS_EMULATOR_API_KEY instead, which keeps it out of `ps`.
// --state keeps the emulator's secrets and receipts across restarts of this process, in one box sealed with
// OTS_EMULATOR_SEAL_KEY (32 bytes, base64: openssl rand -base64 32; src/sandbox/persist.ts): values are never on disk
// in clear. A file sealed with another key is ignored (the emulator starts empty).
//
// Once listening it prints ONE line on stdout, {"baseUrl":"http://127.0.0.1:PORT/sandbox/ots","pid":N}, and nothing
// else there; errors go to stderr (exit 2 for bad options). The control API for fault tests is at
// http://HOST:PORT/_control (src/sandbox/ots-emulator/control.ts). SIGTERM or SIGINT: state written, exit 0.
// scripts/stack/ots-emulator-client.ts spawns it and reads the line.
import { parseArgs } from 'node:util';
import { parseKey32 } from '../../src/key-material.js';
import { isLoopbackAddress } from '../../src/loopback.js';
import { createSealer } from '../../src/seal.js';

const USAGE =
  'usage: node --import tsx scripts/stack/ots-emulator.ts --username EMAIL --api-key KEY [--port N] ' +
  '[--host 127.0.0.1] [--state FILE (with OTS_EMULATOR_SEAL_KEY set)] [--rate-limit MAX/WINDOW_MS]';

function fail(message: string): never {
  process.stderr.write(`ots-emulator: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        username: { type: 'string' },
        'api-key': { type: 'string' },
        state: { type: 'string' },
        'rate-limit': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65_535) fail('--port is a number from 0 to 65535');
  if (values.host !== 'localhost' && !isLoopbackAddress(values.host))
    fail(`--host must be a loopback address or localhost (the emulator is for this machine only), not ${values.host}`);
  const username = values.username;
  const apiKey = values['api-key'] ?? process.env.OTS_EMULATOR_API_KEY;
  if (!username || !apiKey) fail('--username and --api-key (or OTS_EMULATOR_API_KEY) are the account it accepts');
  let rateLimit: { max: number; windowMs: number } | undefined;
  if (values['rate-limit'] !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(values['rate-limit']);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
      fail('--rate-limit is MAX/WINDOW_MS, two whole numbers above 0 (e.g. 100/60000)');
    rateLimit = { max: Number(m[1]), windowMs: Number(m[2]) };
  }
  let state: { file: string; sealer: ReturnType<typeof createSealer> } | undefined;
  if (values.state !== undefined) {
    const b64 = process.env.OTS_EMULATOR_SEAL_KEY;
    if (!b64) fail('--state needs OTS_EMULATOR_SEAL_KEY in the environment: the key its file is sealed with');
    const parsed = parseKey32(b64);
    if ('problem' in parsed) fail(`OTS_EMULATOR_SEAL_KEY ${parsed.problem}`);
    state = { file: values.state, sealer: createSealer(parsed.key) };
  }
  return { port: Number(values.port), host: values.host, credentials: { username, apiKey }, rateLimit, state };
}

const opts = options();
// Loaded once the options are known good, so a refusal is quick (the sandbox's entry point loads every fake).
const { startOtsEmulatorServer } = await import('../../src/sandbox/index.js');
const server = await startOtsEmulatorServer({ ...opts, control: true }).catch((err: unknown) => {
  process.stderr.write(`ots-emulator: cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}\n`);
  process.exit(1);
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await server.close();
  } catch (err) {
    process.stderr.write(`ots-emulator: could not write the state file: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl, pid: process.pid })}\n`);
