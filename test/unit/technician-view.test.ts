import { describe, expect, it } from 'vitest';
import { maskRecipient } from '../../workflows/technician-view.js';

describe('maskRecipient', () => {
  it('masks phone numbers and emails', () => {
    expect(maskRecipient('+15551230001')).toBe('+155*****001');
    expect(maskRecipient('pat.smith@example.com')).toBe('p***@e***.com');
  });
});
