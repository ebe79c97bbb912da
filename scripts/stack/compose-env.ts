// The stack's configuration is docker-compose.yml's: each process gets the environment of its compose service as
// Docker Compose itself resolves it (scripts/validate-compose.sh --json runs the real Compose binary, with the
// defaults of deploy/.env.example), changed only where a native run on one machine must differ from containers on
// their own network. Those changes are the table below, each with its reason; test/unit/compose.test.ts fails
// when the stack sets or adds a variable the table gives no reason for.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The compose services the stack runs, and the native process of each. */
export const STACK_SERVICES = [
  'postgresql',
  'temporal-admin-tools',
  'temporal',
  'temporal-create-namespace',
  'temporal-ui',
  'ots-handoff',
] as const;
export type StackService = (typeof STACK_SERVICES)[number];

/**
 * The compose services the stack does not run, and why. Every compose service is in STACK_SERVICES or here
 * (test/unit/compose.test.ts); `npm run stack -- up` names these as it starts.
 */
export const NOT_RUN_BY_STACK: Record<string, string> = {
  prometheus:
    'monitoring only, no native binary here: deploy/prometheus is checked by scripts/validate-deploy.sh (promtool)',
  grafana: 'monitoring only, no native binary here: the dashboard is a file, deploy/grafana/dashboards',
};

export interface ComposeService {
  image?: string;
  environment?: Record<string, string | null>;
  command?: string[];
}
export interface ComposeProject {
  services: Record<string, ComposeService>;
}

/** Where things are in this run: what the compose network and volumes give containers, natively. */
export interface StackPlaces {
  pgPort: number;
  /** The frontend's gRPC port (FRONTEND_GRPC_PORT). */
  frontendPort: number;
  uiPort: number;
  certsDir: string;
  /** Replica 1's URL: the codec endpoint the UI's browser pages call. */
  codecBaseUrl: string;
  schemaDir: string;
}

/**
 * Values that name a place inside the compose network, and what they are natively. Applied to every variable of
 * every service: a container's host name, address or mount path means the same thing wherever it appears.
 */
export function placeRewrites(p: StackPlaces): [from: RegExp, to: string, why: string][] {
  return [
    [/^postgresql$/, '127.0.0.1', 'the postgresql container is PostgreSQL on loopback'],
    [/^temporal:7233$/, `127.0.0.1:${p.frontendPort}`, "the temporal container's frontend, on a free loopback port"],
    [/^\/etc\/temporal\/tls\//, `${p.certsDir}/`, 'TEMPORAL_TLS_DIR is mounted at /etc/temporal/tls'],
    [/^0\.0\.0\.0$/, '127.0.0.1', 'containers listen on all interfaces of their own network; natively, loopback only'],
    [/^http:\/\/localhost:8080$/, `http://127.0.0.1:${p.uiPort}`, "the UI's origin, where the stack prints it"],
    [/^http:\/\/localhost:3000\/codec$/, `${p.codecBaseUrl}/codec`, "replica 1's codec endpoint"],
  ];
}

/**
 * Variables the stack sets to other values than compose's, by name, with why. Compose's required secrets have no
 * default (the stack makes its own for the run); ports are fixed inside a container and free ports here.
 */
export const SET_BY_STACK: Partial<Record<StackService, Record<string, string>>> = {
  'temporal-admin-tools': { DB_PORT: 'PostgreSQL listens on a free loopback port' },
  temporal: { DB_PORT: 'PostgreSQL listens on a free loopback port' },
  'ots-handoff': {
    PORT: 'each replica listens on a free loopback port',
    PUBLIC_BASE_URL: "the replica's own URL: the sandbox Twilio of each replica calls back there",
    AGENT_API_TOKENS: 'made for the run, the same on every replica',
    SEAL_KEY: 'made for the run, the same on every replica',
    PAYLOAD_KEYS: 'made for the run, the same on every replica (they share one Temporal)',
    OTS_USERNAME: "the OTS emulator's account",
    OTS_API_KEY: "the OTS emulator's account",
    OTS_BASE_URL: 'the OTS emulator, its own process on loopback',
    CODEC_TOKENS: "made for the run: a technician's (or a test's) token for the codec server",
    TWILIO_ACCOUNT_SID: 'always the sandbox Twilio: the stack and its bench must never text real phones',
    TWILIO_AUTH_TOKEN: 'always the sandbox Twilio',
    TWILIO_FROM: 'always the sandbox Twilio',
    DEEPGRAM_API_KEY: 'always the sandbox (no live speech service)',
    NOTES_WEBHOOK_URL: 'no real ticket system: notes stay in the workflows',
    NOTES_WEBHOOK_SECRET: 'no real ticket system',
  },
};

/** The server config template's port variables (common/config/config_template_embedded.yaml in temporalio/temporal). */
export const SERVER_PORT_VARIABLES = [
  'FRONTEND_GRPC_PORT',
  'FRONTEND_HTTP_PORT',
  'FRONTEND_MEMBERSHIP_PORT',
  'HISTORY_GRPC_PORT',
  'HISTORY_MEMBERSHIP_PORT',
  'MATCHING_GRPC_PORT',
  'MATCHING_MEMBERSHIP_PORT',
  'WORKER_GRPC_PORT',
  'WORKER_MEMBERSHIP_PORT',
] as const;

/**
 * Variables the stack adds that compose does not set, with why: what a container image fixes by itself (its ports
 * inside its own network namespace, its schema files, its volume) must be said outright to a native process.
 */
export const ADDED_BY_STACK: Partial<Record<StackService, Record<string, string>>> = {
  'temporal-admin-tools': {
    SCHEMA_DIR: "the admin-tools image's /etc/temporal/schema/postgresql/v12, from the server module",
  },
  temporal: Object.fromEntries(
    SERVER_PORT_VARIABLES.map((v) => [v, 'a container has its own ports; natively each must be a free one']),
  ),
  'temporal-ui': { TEMPORAL_UI_PORT: 'the UI listens on a free port (8080 in the image)' },
  'ots-handoff': { DATA_DIR: "each replica's own data folder (the ots-handoff-data volume in compose)" },
};

/**
 * docker-compose.yml resolved by Docker Compose (scripts/validate-compose.sh --json), from a clean environment
 * plus `vars` (compose's interpolation variables): the defaults of deploy/.env.example, not whatever the caller's
 * shell has set. The required secrets get the script's dummies; the stack replaces them (SET_BY_STACK).
 */
export function resolvedCompose(vars: Record<string, string> = {}, file?: string): Promise<ComposeProject> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [`${root}scripts/validate-compose.sh`, '--json', ...(file ? [file] : [])],
      { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...vars }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`scripts/validate-compose.sh --json failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as ComposeProject);
      },
    );
  });
}

/** Compose's environment of `service` with the place rewrites applied (no stack-set values yet). */
export function rewrittenEnvironment(
  project: ComposeProject,
  service: StackService,
  places: StackPlaces,
): Record<string, string> {
  const env = project.services[service]?.environment;
  if (!env) throw new Error(`docker-compose.yml has no service ${service} with an environment`);
  const rules = placeRewrites(places);
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => {
      let value = v ?? '';
      for (const [from, to] of rules) value = value.replace(from, to);
      return [k, value];
    }),
  );
}

/** Each service's native environment: compose's, rewritten, plus `set` (SET_BY_STACK) and `added` (ADDED_BY_STACK). */
export function stackEnvironment(
  project: ComposeProject,
  service: StackService,
  places: StackPlaces,
  values: { set?: Record<string, string>; added?: Record<string, string> },
): Record<string, string> {
  const env = rewrittenEnvironment(project, service, places);
  for (const [k, v] of Object.entries(values.set ?? {})) {
    if (!(k in env)) throw new Error(`${service}: ${k} is not in docker-compose.yml: add it to ADDED_BY_STACK`);
    if (!SET_BY_STACK[service]?.[k]) throw new Error(`${service}: ${k} is set by the stack without a reason`);
    env[k] = v;
  }
  for (const [k, v] of Object.entries(values.added ?? {})) {
    if (k in env) throw new Error(`${service}: ${k} is in docker-compose.yml: add it to SET_BY_STACK`);
    if (!ADDED_BY_STACK[service]?.[k]) throw new Error(`${service}: ${k} is added by the stack without a reason`);
    env[k] = v;
  }
  return env;
}
