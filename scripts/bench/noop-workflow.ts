// The baseline of `npm run bench`: a workflow that does nothing, run on the same server through the same client.
export async function benchNoop(): Promise<string> {
  return 'ok';
}
