import { isSerial, MAX_SERIAL_LENGTH } from './serial.ts';

/**
 * A topic template such as `fungxi_{sn}_upLink` or `site/{sn}/up`, turned into
 * what the bridge needs: the topic of one terminal, the serial of a topic, and
 * the subscription filter that catches every terminal.
 */
export interface TopicTemplate {
  readonly template: string;
  topicOf(sn: string): string;
  /**
   * The serial a topic belongs to, or undefined when the topic does not fit
   * the template or what stands for `{sn}` is no serial (serial.ts): such a
   * topic is no terminal's.
   */
  serialOf(topic: string): string | undefined;
  /**
   * The filter for all terminals: the topic level holding `{sn}` becomes `+`
   * (MQTT allows `+` only as a whole level [MQTT-4.7.1-3], so
   * `fungxi_+_upLink` would be invalid and the level is widened to `+`).
   */
  readonly wildcard: string;
}

export function topicTemplate(template: string): TopicTemplate {
  const [before, after] = template.split('{sn}');
  const levels = template.split('/');
  const wildcard = levels.map((level) => (level.includes('{sn}') ? '+' : level)).join('/');
  return {
    template,
    wildcard,
    topicOf: (sn) => before + sn + after,
    serialOf(topic) {
      const length = topic.length - before.length - after.length;
      if (length <= 0 || length > MAX_SERIAL_LENGTH) return undefined;
      if (!topic.startsWith(before) || !topic.endsWith(after)) return undefined;
      const sn = topic.slice(before.length, topic.length - after.length);
      return isSerial(sn) ? sn : undefined;
    },
  };
}
