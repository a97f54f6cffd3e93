/**
 * Scores a generated release email with SpamAssassin (local rules only, no network tests) and
 * exits 1 when it reaches the threshold. Not part of CI: needs `apt-get install spamassassin`.
 *
 *   npx tsx scripts/spam-score.ts [--threshold 2.0] [--show]
 */
import { spawnSync } from 'node:child_process';
import nodemailer from 'nodemailer';
import { assembleMessage } from '../src/mail/assemble.js';
import { personaliseMessage, type MessageSettings } from '../src/mail/message.js';
import { Keyring, randomToken } from '../src/signing.js';
import { compileSample, sampleRecipient } from './lib/sample-email.js';

const args = process.argv.slice(2);
const thresholdAt = args.indexOf('--threshold');
const threshold = thresholdAt >= 0 ? Number(args[thresholdAt + 1]) : 2.0;

const settings: MessageSettings = {
  from: 'Northbridge Newsroom <newsroom@news.example.org>',
  publicUrl: 'https://news.example.org',
  keys: new Keyring(randomToken()),
  unsubscribeMailbox: 'unsubscribe@news.example.org',
  bounceDomain: 'bounces.news.example.org',
  feedbackId: 'northbridge',
  dkim: null,
};
const compiled = await compileSample();
const message = assembleMessage(
  personaliseMessage(
    compiled,
    {
      deliveryId: 1,
      releaseId: 1,
      subscriberId: 12,
      listId: 3,
      email: sampleRecipient.email,
      name: sampleRecipient.name,
      listName: 'Science desk',
      listSlug: 'science-desk',
    },
    settings,
  ),
);
const raw = (await nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail(message))
  .message as Buffer;

const result = spawnSync('spamassassin', ['-L', '-t'], { input: raw, maxBuffer: 16 * 1024 * 1024 });
if (result.error) {
  console.error(
    `could not run spamassassin (${result.error.message}); install it with: apt-get install -y spamassassin`,
  );
  process.exit(2);
}
const report = result.stdout.toString();
const status = /^X-Spam-Status: .*?score=(-?[\d.]+)[\s\S]*?tests=([\s\S]*?)autolearn/im.exec(report);
if (!status) {
  console.error('no X-Spam-Status in the spamassassin output');
  process.exit(2);
}
const score = Number(status[1]);
if (args.includes('--show')) console.log(report.slice(report.indexOf('Content analysis details')));
console.log(`SpamAssassin score ${score} (threshold ${threshold}); rules: ${status[2]!.replace(/\s+/g, ' ').trim()}`);
process.exit(score < threshold ? 0 : 1);
