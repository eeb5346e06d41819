import { readFileSync } from 'node:fs';

/** `serial:password` lines; blank lines and `#` comments are skipped. */
export function readTerminalCredentials(file: string): Map<string, string> {
  const logins = new Map<string, string>();
  for (const [index, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const colon = text.indexOf(':');
    // The line itself holds a password: name its number, never its text.
    if (colon <= 0) throw new Error(`${file}, line ${index + 1}: expected "serial:password"`);
    logins.set(text.slice(0, colon), text.slice(colon + 1));
  }
  return logins;
}
