// The one place a Temporal client is built, with the service's data converter (payload encryption).
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';

export interface TemporalClient {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

export async function connectClient(opts: { address: string; namespace: string; dataConverter: DataConverter }): Promise<TemporalClient> {
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection, namespace: opts.namespace, dataConverter: opts.dataConverter });
  return { connection, client, close: () => connection.close() };
}
