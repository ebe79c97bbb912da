// agentHint: a sentence for every state, channel and passphrase mode, and never the recipient (src/http/agent-hint.ts).
import { describe, expect, it } from 'vitest';
import { agentHint } from '../../src/http/agent-hint.js';
import { SHARE_STATES } from '../../workflows/types.js';

describe('agentHint', () => {
  const cases = SHARE_STATES.flatMap((state) =>
    (['sms', 'email'] as const).flatMap((channel) =>
      (['none', 'voice', 'sms'] as const).flatMap((mode) =>
        [undefined, '2026-11-30T12:00:00.000Z'].map((sentAt) => ({
          state,
          link: { channel, to: channel === 'sms' ? '+155*****001' : 'c***@e***.com', sentAt },
          passphrase: { mode },
        })),
      ),
    ),
  );

  it('gives every state, channel and passphrase mode one short sentence that names no recipient', () => {
    for (const c of cases) {
      const hint = agentHint(c);
      expect(hint, JSON.stringify(c)).toMatch(/^[A-Z].{20,200}[.]$/);
      expect(hint).not.toContain(c.link.to);
      expect(hint).not.toMatch(/\+1|@|https?:/);
    }
  });

  it('says what the caller must do while the link waits, by passphrase mode', () => {
    const waiting = (mode: 'none' | 'voice' | 'sms', channel: 'sms' | 'email' = 'sms') =>
      agentHint({ state: 'awaiting_view', link: { channel, to: 'x' }, passphrase: { mode } });
    expect(waiting('none')).toBe('The link was sent by text message; ask the caller to open it. It opens only once.');
    expect(waiting('voice')).toContain('enter the passphrase they heard on the call');
    expect(waiting('sms', 'email')).toContain('by email (from Onetime Secret) and the passphrase by text message');
    expect(agentHint({ state: 'viewed', link: { channel: 'sms', to: 'x' }, passphrase: { mode: 'none' } })).toBe(
      'The caller opened the link; the secret has been destroyed and cannot be opened again.',
    );
    expect(agentHint({ state: 'expired', link: { channel: 'sms', to: 'x' }, passphrase: { mode: 'none' } })).toBe(
      'The link expired unopened; a technician will follow up.',
    );
  });
});
