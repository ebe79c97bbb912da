// Burning a hand-off's secret from the agent API itself, once its workflow has closed without burning it (terminated,
// timed out or failed in Temporal, or ended with a burn that failed for good): no workflow code runs any more to do
// it. POST /v1/shares/:id/burn (src/http/shares.ts) asks the closed workflow's burnMaterial query
// (workflows/messages.ts) for the sealed receipt key and passphrase and their binding, and burns through the
// service's Onetime Secret client. Onetime Secret is then the record (a closed workflow cannot record anything): a
// second burn finds the secret gone and reads the receipt's state. See docs/decisions.md ("Burning a closed hand-off
// directly").
import type { OtsClient } from '../ots/client.js';
import { OtsNotFoundError } from '../ots/errors.js';
import { handoffContext, type Sealer } from '../seal.js';
import type { BurnMaterial } from '../../workflows/messages.js';

export type DirectBurn =
  | { outcome: 'burned' }
  /** The secret was gone already; the receipt says how (`unknown`: the receipt has expired too). */
  | { outcome: 'gone'; receipt: 'burned' | 'received' | 'expired' | 'orphaned' | 'unknown' }
  /** The workflow holds no secret that may still open: nothing to burn. */
  | { outcome: 'nothing' };

/**
 * Burns the secret the material names. The one place where the API opens sealed values of a hand-off, each for the
 * hand-off and field it was sealed for (src/seal.ts). Failures of the Onetime Secret client other than "unknown
 * secret" are thrown as they are (OtsError), and a box that does not open as SealError.
 */
export async function burnDirectly(
  shareId: string,
  material: BurnMaterial,
  sealer: Sealer,
  ots: Pick<OtsClient, 'burn' | 'receipt'>,
): Promise<DirectBurn> {
  const { binding, created } = material;
  if (!created || !binding) return { outcome: 'nothing' };
  // Sealed values of another hand-off (a workflow answering with copies from history) are not burned from here.
  if (binding.shareId !== shareId) return { outcome: 'nothing' };
  const metadataKey = sealer.open(created.receipt, handoffContext('receipt', binding));
  const passphrase = material.passphrase && sealer.open(material.passphrase, handoffContext('passphrase', binding));
  try {
    await ots.burn(metadataKey, passphrase);
    return { outcome: 'burned' };
  } catch (err) {
    // "Unknown secret": opened, burned or expired (OTS does not say which); the receipt does.
    if (!(err instanceof OtsNotFoundError)) throw err;
  }
  try {
    const r = await ots.receipt(metadataKey);
    const receipt = r.state === 'new' || r.state === 'viewed' ? 'orphaned' : r.state;
    return { outcome: 'gone', receipt };
  } catch (err) {
    if (err instanceof OtsNotFoundError) return { outcome: 'gone', receipt: 'unknown' };
    throw err;
  }
}
