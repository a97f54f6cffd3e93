/**
 * The texts a journalist agrees to, each with a version. The exact text shown is stored with each
 * consent (src/db/journalists.ts), so changing a text here needs a new version: the record must
 * say what the person read, and a new version of the embargo terms is asked for again.
 */
export interface VersionedText {
  version: string;
  text: string;
}

/** What someone signing up agrees to. */
export function signupConsent(orgName: string): VersionedText {
  return {
    version: 'signup-2026-1',
    text:
      `I agree that ${orgName} may send press releases of the lists I chose to this address, and keep my name, ` +
      'outlet and address for that purpose. I can change my choices or leave at any time from the link in every email, ' +
      'and ask for everything held on me, or for its erasure.',
  };
}

/** The organisation's embargo terms, accepted before advance copies are sent to someone. */
export function embargoTerms(orgName: string): VersionedText {
  return {
    version: 'embargo-2026-1',
    text:
      `Advance copies from ${orgName} are confidential until the embargo lifts. I will not publish, broadcast or post ` +
      'them, or share them beyond my newsroom, before the time each one names. Breaking an embargo ends my access to ' +
      'advance copies.',
  };
}
