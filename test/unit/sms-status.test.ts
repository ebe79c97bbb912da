import { describe, expect, it } from 'vitest';
import { advanceSmsStatus } from '../../workflows/sms-status.js';

describe('SMS status ranking', () => {
  it('keeps the most advanced status when callbacks arrive out of order', () => {
    let s = advanceSmsStatus(undefined, 'sent');
    s = advanceSmsStatus(s, 'queued');
    expect(s).toBe('sent');
    s = advanceSmsStatus(s, 'delivered');
    s = advanceSmsStatus(s, 'sending');
    expect(s).toBe('delivered');
  });
  it('a terminal status is not replaced by another terminal one, but read follows delivered', () => {
    expect(advanceSmsStatus('undelivered', 'delivered')).toBe('undelivered');
    expect(advanceSmsStatus('delivered', 'failed')).toBe('delivered');
    expect(advanceSmsStatus('delivered', 'read')).toBe('read');
    expect(advanceSmsStatus('sent', 'failed')).toBe('failed');
  });
});
