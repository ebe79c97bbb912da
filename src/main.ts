// The process: read config, start (or reach) Temporal, start the service, print how to use it, stop cleanly.
// The only module that reads process.env.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import {
  loadSandboxSecrets,
  SandboxSecretsError,
  startService,
  StartupError,
  type RunningService,
  type SandboxSecrets,
} from './service.js';
import { ensureTemporalCli } from './temporal/cli.js';
import {
  describeTemporalSecurity,
  temporalConnectionOptions,
  type TemporalConnectionOptions,
} from './temporal/connection-options.js';
import { startDevServer, type DevServer } from './temporal/dev-server.js';
import { registerSearchAttributes } from './temporal/register-search-attributes.js';
import { freePort } from './temporal/ports.js';
import { installTemporalLogging } from './temporal/runtime-logging.js';
import { allSearchAttributes } from '../workflows/search-attributes.js';
import { Connection } from '@temporalio/client';

const projectDir = fileURLToPath(new URL('..', import.meta.url));

function banner(
  config: Config,
  svc: RunningService,
  sb: SandboxSecrets,
  uiUrl: string | undefined,
  temporal: TemporalConnectionOptions,
): string {
  const token = config.AGENT_API_TOKENS ? '<one of AGENT_API_TOKENS>' : sb.agentToken;
  const lines = [
    '',
    'ots-handoff is running',
    `  Onetime Secret : ${config.modes.ots}${config.modes.ots === 'sandbox' ? ` (emulator at ${svc.url}/sandbox/ots)` : ` (${svc.ots.baseUrl})`}, API ${svc.ots.apiVersion ?? '?'}${config.OTS_API_VERSION === 'auto' ? ' (auto)' : ` (OTS_API_VERSION=${config.OTS_API_VERSION})`}`,
    `  Twilio SMS     : ${config.modes.twilio}${config.modes.twilio === 'sandbox' ? ` (sent messages at ${svc.url}/sandbox/outbox)` : ''}`,
    `  Voice          : media streams ${svc.voice.mediaUrl}/<call token>, clips "${svc.voice.clips.id}", speech ${config.modes.deepgram === 'live' ? 'Deepgram' : svc.sandbox?.deepgramFake ? 'sandbox Deepgram fake' : 'off (DTMF only)'}${svc.sandbox?.simulatedCalls ? `; simulated calls at ${svc.url}/sandbox/calls` : ''}`,
    `  Agent API      : ${svc.url}/v1  (Authorization: Bearer ${token})`,
    `  Temporal       : ${temporalWhere(temporal)}${uiUrl ? `, Web UI ${uiUrl}` : ''}`,
    `  Codec server   : ${svc.url}/codec  (payloads encrypted with ${config.PAYLOAD_KEYS ? `PAYLOAD_KEYS, key "${config.PAYLOAD_KEYS[0]!.id}"` : 'a sandbox key made on first start, kept in .data/; set PAYLOAD_KEYS in production'})`,
    '',
    'Try it:',
    `  curl -s -X POST ${svc.url}/v1/shares \\`,
    `    -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\`,
    `    -d '{"ticketId":"T-1001","secret":{"generate":true},"link":{"channel":"sms","to":"+15551230001"}}'`,
    `  curl -s ${svc.url}/v1/shares/<shareId> -H 'Authorization: Bearer ${token}'`,
    ...(config.sandbox
      ? [
          `  curl -s ${svc.url}/sandbox/outbox`,
          '  npm run demo   (scripted hand-offs, step by step: a link by SMS, then a passphrase read over a simulated call)',
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}

/** "host:port", or "host:port (mutual TLS, API key)": how the service reaches Temporal, never any key material. */
function temporalWhere(temporal: TemporalConnectionOptions): string {
  const security = describeTemporalSecurity(temporal);
  return `${temporal.address}${security ? ` (${security})` : ''}`;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.LOG_LEVEL });
  // The Temporal SDK's metrics, relayed by GET /metrics: Core's exporter on a loopback port.
  installTemporalLogging(log, 'WARN', { metricsPort: config.TEMPORAL_METRICS_PORT ?? (await freePort()) });
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const dataDir = resolve(projectDir, config.DATA_DIR);
  let sb: SandboxSecrets;
  try {
    sb = loadSandboxSecrets(dataDir);
  } catch (err) {
    if (err instanceof SandboxSecretsError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.sandbox)
    say(
      `Sandbox mode: ${[config.modes.ots === 'sandbox' && 'Onetime Secret', config.modes.twilio === 'sandbox' && 'Twilio'].filter(Boolean).join(' and ')} replaced by local fakes (no credentials set).`,
    );

  let dev: DevServer | undefined;
  if (!config.TEMPORAL_ADDRESS) {
    const cliPath = await ensureTemporalCli({ projectDir, env: process.env, log: say });
    say(`Starting the embedded Temporal dev server (${resolve(projectDir, config.TEMPORAL_DB_FILE)}) …`);
    dev = await startDevServer({
      cliPath,
      port: config.TEMPORAL_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      dbFilename: resolve(projectDir, config.TEMPORAL_DB_FILE),
      namespace: config.TEMPORAL_NAMESPACE,
      searchAttributes: allSearchAttributes,
      // The browser calls the codec server directly, from the UI's page, on this machine.
      uiCodecEndpoint: `${config.localUrl}/codec`,
      log: say,
    });
  }
  const temporalAddress = config.TEMPORAL_ADDRESS ?? dev!.address;
  // The same options as the service's client and workers (TLS, mutual TLS, API key; plain for the embedded server).
  const temporal = temporalConnectionOptions(config, temporalAddress);
  let connection: Connection;
  try {
    connection = await Connection.connect(temporal);
  } catch (err) {
    await dev?.stop();
    say(
      `Cannot reach Temporal at ${temporalWhere(temporal)}: ${(err as Error).message}` +
        (temporal.tls
          ? ' (over TLS a failed handshake shows only as a connect timeout: check the server CA, the client certificate and TEMPORAL_TLS_SERVER_NAME; docs/temporal.md, "Connecting to a secured Temporal")'
          : ''),
    );
    process.exit(1);
  }
  await registerSearchAttributes(connection, config.TEMPORAL_NAMESPACE, allSearchAttributes);
  await connection.close();

  let svc: RunningService;
  try {
    svc = await startService({
      config,
      temporalAddress,
      log,
      sandboxSecrets: sb,
      sandbox: { otsStateFile: resolve(dataDir, 'sandbox-ots.sealed.json') },
    });
  } catch (err) {
    await dev?.stop();
    if (err instanceof StartupError) {
      say(err.message);
      process.exit(1);
    }
    throw err;
  }
  say(banner(config, svc, sb, dev?.uiUrl, temporal));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      say(`${signal} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    say(`${signal}: stopping (HTTP server, workers, Temporal) …`);
    await svc.stop().catch((e: Error) => say(`service stop: ${e.message}`));
    await dev?.stop().catch((e: Error) => say(`Temporal stop: ${e.message}`));
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: Error) => {
  process.stderr.write(`ots-handoff failed to start: ${err.message}\n`);
  process.exit(1);
});
