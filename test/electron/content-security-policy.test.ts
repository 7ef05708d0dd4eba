import { describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../electron/main/content-security-policy';

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((tokens) => tokens[0])
      .map(([name, ...values]) => [name as string, values]),
  );
}

describe('CONTENT_SECURITY_POLICY', () => {
  const parsed = directives(CONTENT_SECURITY_POLICY);

  it("defaults to 'none'", () => {
    expect(parsed.get('default-src')).toEqual(["'none'"]);
  });

  it("never allows eval; only 'wasm-unsafe-eval' for WebAssembly codecs", () => {
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-eval'/);
    expect(parsed.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
  });

  it('names no remote origins', () => {
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:/i);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/wss?:/i);
    expect(CONTENT_SECURITY_POLICY).not.toContain('*');
  });

  it('locks down objects, base, forms and framing', () => {
    expect(parsed.get('object-src')).toEqual(["'none'"]);
    expect(parsed.get('base-uri')).toEqual(["'none'"]);
    expect(parsed.get('form-action')).toEqual(["'none'"]);
    expect(parsed.get('frame-ancestors')).toEqual(["'none'"]);
    expect(parsed.get('connect-src')).toEqual(["'self'", 'vigil:']);
  });
});
