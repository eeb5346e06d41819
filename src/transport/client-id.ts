import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The client id at an external broker, which keeps the bridge's session (its
 * subscriptions and every message acknowledged to the terminals but not yet
 * to the bridge) under that id. MQTT_CLIENT_ID when set; otherwise one kept
 * in the data dir, so it follows the data and not the machine: a container
 * recreated with the same volume (a new host name) takes its session over
 * instead of leaving it, full, behind. Made of letters and digits, 21
 * characters: within what MQTT 3.1.1 asks every broker to accept
 * [MQTT-3.1.3-5].
 *
 * `upgrading`: the data dir holds a database from before the id was kept;
 * that version used `facegate-<hostname>`, whose session holds what waits.
 */
export function loadClientId(configured: string | undefined, dataDir: string, upgrading: boolean): string {
  if (configured !== undefined) return configured;
  const file = join(dataDir, 'mqtt-client-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (id !== '') return id;
  }
  const id = upgrading ? `facegate-${hostname()}` : `facegate-${Array.from({ length: 12 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')}`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
