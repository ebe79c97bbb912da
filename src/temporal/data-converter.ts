// The one data converter of the service: the Temporal client, both workers, the workflow bundle (its failure
// converter) and the codec server all build theirs here, so they always agree on how payloads are encoded.
import type { DataConverter } from '@temporalio/common';
import { fileURLToPath } from 'node:url';
import { EncryptionCodec, type PayloadKey } from './payload-codec.js';

/** Bundled into the workflow code too (bundleWorkflowCode's failureConverterPath must name the same file). */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

export function createDataConverter(
  keys: readonly PayloadKey[],
  opts: { onRefused?: (reason: string) => void } = {},
): DataConverter & { payloadCodecs: [EncryptionCodec] } {
  return { payloadCodecs: [new EncryptionCodec(keys, opts)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
