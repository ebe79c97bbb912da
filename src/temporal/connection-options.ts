// The one place the options for reaching Temporal are built: address, TLS (server CA, client certificate for mutual
// TLS, server name) and API key. The client (client.ts), every worker's NativeConnection (worker.ts) and the
// search-attribute registration (src/main.ts) all connect with what temporalConnectionOptions returns, so they
// cannot disagree. The variables are checked in src/config.ts; docs/temporal.md ("Connecting to a secured Temporal").
//
// The rules follow Temporal's own environment configuration, which the SDKs and the CLI read
// (https://docs.temporal.io/references/client-environment-configuration; in the pinned SDK its reference
// implementation is node_modules/@temporalio/core-bridge/sdk-core/crates/common/src/envconfig.rs, and
// temporalio/sdk-typescript packages/envconfig/src/envconfig.ts `toClientOptions` turns it into these options):
// any TLS variable turns TLS on, an API key turns it on too, and TEMPORAL_TLS=false turns it off.
import type { TLSConfig } from '@temporalio/client';
import type { Env } from '../config.js';

/** The variables this module reads, as src/config.ts parsed them (every *_PATH and *_DATA holds the PEM bytes). */
export type TemporalSecurityEnv = Pick<
  Env,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_API_KEY'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'
  | 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'
  | 'TEMPORAL_TLS_CLIENT_CERT_PATH'
  | 'TEMPORAL_TLS_CLIENT_CERT_DATA'
  | 'TEMPORAL_TLS_CLIENT_KEY_PATH'
  | 'TEMPORAL_TLS_CLIENT_KEY_DATA'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'
>;

/** The variables that configure TLS; setting any of them turns TLS on unless TEMPORAL_TLS=false. */
export const TEMPORAL_TLS_VARIABLES = [
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
] as const satisfies readonly (keyof TemporalSecurityEnv)[];

/**
 * What both SDK connections take: @temporalio/client's Connection.connect and @temporalio/worker's
 * NativeConnection.connect accept these three fields with the same meaning. `tls: false` is explicit so that an API
 * key does not turn TLS back on (both SDKs treat an unset `tls` with an API key as TLS).
 */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | false;
  apiKey?: string;
}

/** Whether the connection to TEMPORAL_ADDRESS uses TLS: TEMPORAL_TLS, else any TLS variable or an API key. */
export function temporalTlsEnabled(env: TemporalSecurityEnv): boolean {
  return (
    env.TEMPORAL_TLS ?? (TEMPORAL_TLS_VARIABLES.some((v) => env[v] !== undefined) || env.TEMPORAL_API_KEY !== undefined)
  );
}

/**
 * The options to connect to `address`. TLS and the API key apply only to the server named by TEMPORAL_ADDRESS:
 * the embedded dev server (TEMPORAL_ADDRESS unset) is plain, on this machine (src/config.ts refuses TLS variables
 * without TEMPORAL_ADDRESS).
 */
export function temporalConnectionOptions(env: TemporalSecurityEnv, address: string): TemporalConnectionOptions {
  if (!env.TEMPORAL_ADDRESS) return { address };
  const apiKey = env.TEMPORAL_API_KEY;
  if (!temporalTlsEnabled(env)) return apiKey === undefined ? { address } : { address, tls: false, apiKey };
  const crt = env.TEMPORAL_TLS_CLIENT_CERT_PATH ?? env.TEMPORAL_TLS_CLIENT_CERT_DATA;
  const key = env.TEMPORAL_TLS_CLIENT_KEY_PATH ?? env.TEMPORAL_TLS_CLIENT_KEY_DATA;
  const ca = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH ?? env.TEMPORAL_TLS_SERVER_CA_CERT_DATA;
  const tls: TLSConfig = {
    // Unset: the system's trusted roots (Temporal Cloud's certificates chain to a public CA).
    ...(ca ? { serverRootCACertificate: ca } : {}),
    ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
  };
  return apiKey === undefined ? { address, tls } : { address, tls, apiKey };
}

/**
 * For the start-up banner: "mutual TLS", "TLS, server name x", "TLS, API key", "no TLS, API key"; undefined when
 * plain without a key. Never any key material.
 */
export function describeTemporalSecurity(options: TemporalConnectionOptions): string | undefined {
  const { tls, apiKey } = options;
  const parts = [
    ...(tls ? [tls.clientCertPair ? 'mutual TLS' : 'TLS'] : apiKey !== undefined ? ['no TLS'] : []),
    ...(tls && tls.serverNameOverride ? [`server name ${tls.serverNameOverride}`] : []),
    ...(apiKey !== undefined ? ['API key'] : []),
  ];
  return parts.length ? parts.join(', ') : undefined;
}
