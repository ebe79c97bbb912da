// The one place a Temporal client is built. The payload codec (confidentiality issue) plugs in here and in
// worker.ts through the same data converter.
import { Client, Connection } from '@temporalio/client';

export interface TemporalClient {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

export async function connectClient(opts: { address: string; namespace: string }): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection, namespace: opts.namespace });
  return { connection, client, close: () => connection.close() };
}
