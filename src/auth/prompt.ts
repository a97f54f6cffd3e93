import { createInterface } from 'node:readline';

/** Asks for a password on the terminal without echoing it; reads a line as-is from a pipe. */
export function readPassword(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
    const output = rl as unknown as { _writeToOutput?: (text: string) => void };
    rl.question(question, (answer) => {
      rl.close();
      if (process.stdin.isTTY) process.stdout.write('\n');
      resolve(answer);
    });
    // Once the question is shown, typed characters are not echoed.
    if (process.stdin.isTTY) output._writeToOutput = () => {};
  });
}
