import { compileEmail, type EmailContent } from '../../src/render/compile.js';
import type { Organisation } from '../../src/render/organisation.js';

export const sampleOrg: Organisation = {
  name: 'Northbridge Institute of Technology',
  address: 'Northbridge Institute of Technology, 77 Harbour Road, Springfield 02139, USA',
  logoUrl: 'https://news.example.org/static/logo.svg',
  publicUrl: 'https://news.example.org',
  contact: { name: 'Press Office', email: 'press@example.org', phone: '+1 617 555 0100' },
};

/** A release as staff write them: headings, a list, a table, a long link, an image wider than a phone. */
export const sampleContent: EmailContent = {
  title: 'Quantum sensor maps brain activity without surgery, at room temperature',
  summary:
    'Researchers built a palm-sized magnetometer that reads neural signals through the skull, opening the way to cheap brain imaging.',
  bodyMarkdown: [
    'SPRINGFIELD — A team at the Northbridge Institute has built a **quantum sensor** that records the faint magnetic fields of',
    'working neurons from outside the head, without cooling and without surgery.',
    '',
    '## Findings',
    '',
    '- Sensitivity of 10 fT/√Hz at room temperature',
    '- Fits in the palm of a hand and costs under $500 to build',
    '- Tested on 24 volunteers over six months',
    '',
    '| Device | Cooling | Cost |',
    '| --- | --- | --- |',
    '| SQUID array | Liquid helium | $2,000,000 |',
    '| New sensor | None | $500 |',
    '',
    '> "We can now watch the brain think in an ordinary room," said lead author Dr. Amara Okafor.',
    '',
    'The full paper: https://doi.example.org/10.5555/a-very-long-identifier-that-would-push-a-narrow-layout-sideways-2030',
    '',
    '![Sensor](https://news.example.org/static/sensor-1600x900.jpg)',
  ].join('\n'),
  embargoAt: new Date('2030-10-18T04:01:00Z'),
  embargoTimeZone: 'America/New_York',
  phase: 'advance',
  contact: { name: 'Dr. Lena Fischer, Media Relations', email: 'lena.fischer@example.org', phone: '+1 (617) 555-0142' },
  attachments: [
    {
      filename: 'okafor-et-al-2030-quantum-magnetometry.pdf',
      url: 'https://news.example.org/releases/quantum/files/1/okafor-et-al-2030-quantum-magnetometry.pdf',
      size: 2_400_000,
    },
    {
      filename: 'sensor-photo.jpg',
      url: 'https://news.example.org/releases/quantum/files/2/sensor-photo.jpg',
      size: 312_000,
    },
  ],
};

export const sampleRecipient = {
  name: 'Zoë Müller',
  email: 'zoe@example.org',
  list_name: 'Science desk',
  unsubscribe_url: 'https://news.example.org/unsubscribe/12.3.abcdefghijklmnopqrstuv',
  file_key: '7.abcdefghijklmnopqrstuv',
};

export const compileSample = (overrides: Partial<EmailContent> = {}) =>
  compileEmail({ ...sampleContent, ...overrides }, sampleOrg);
