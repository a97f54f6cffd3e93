import type { Config } from '../config.js';

export interface PressContact {
  name: string;
  email: string | null;
  phone: string | null;
}

/** Who sends the releases: shown in every email's header, contact block and footer. */
export interface Organisation {
  name: string;
  address: string;
  logoUrl: string | null;
  /** The newsroom's base URL; attachment links start with it. */
  publicUrl: string;
  /** The press office, for releases that name no contact of their own. */
  contact: PressContact;
}

export function organisation(config: Config): Organisation {
  return {
    name: config.ORG_NAME,
    address: config.ORG_ADDRESS,
    logoUrl: config.ORG_LOGO_URL ?? null,
    publicUrl: config.PUBLIC_URL,
    contact: {
      name: config.PRESS_CONTACT_NAME,
      email: config.PRESS_CONTACT_EMAIL ?? null,
      phone: config.PRESS_CONTACT_PHONE ?? null,
    },
  };
}
