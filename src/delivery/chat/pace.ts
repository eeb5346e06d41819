import type { ChatApp } from './apps.ts';

const MINUTE_MS = 60_000;
const SECOND_MS = 1000;

/** What a chat lane does with the alerts that are due (README §Alerts in chat apps). */
export type Step = 'wait' | 'single' | 'digest';

/**
 * Alerts due and posts the app allows now → the next step: one alert alone,
 * or all that waits in one digest. The pace spaces the posts evenly (see
 * createPace), so what is due when a post may go is what came since the
 * last one: sent one by one, a flood would fall behind by a post each time.
 */
export function nextStep(due: number, free: number): Step {
  if (due === 0 || free <= 0) return 'wait';
  return due === 1 ? 'single' : 'digest';
}

/**
 * One robot's posts over the last minute: how many more the app allows now,
 * and when the next one is allowed. Every post counts, whatever its answer
 * (the app counts requests). A throttle answer closes the window for as long
 * as the app says it does.
 *
 * Posts are spaced evenly, at least a minute ÷ the app's limit apart
 * (DingTalk and WeCom 3 s, Slack 1 s, Feishu 0.6 s): a robot never posts
 * faster than the app allows on average, so a flood of any length goes out
 * as a digest every few seconds, each alert a few seconds late at most.
 * Spent as it came, the budget of a minute went on the first alerts of a
 * flood, one by one, and the rest waited most of a minute for the window to
 * slide (measured: 200 alerts over a minute, the last ones 58 s late).
 */
export function createPace(app: ChatApp) {
  const posts: number[] = [];
  let closedUntil = 0;
  const spacing = Math.ceil(MINUTE_MS / app.perMinute);
  const prune = (now: number) => {
    while (posts.length > 0 && posts[0] <= now - MINUTE_MS) posts.shift();
  };
  const inLastSecond = (now: number) => {
    let count = 0;
    for (let i = posts.length - 1; i >= 0 && posts[i] > now - SECOND_MS; i -= 1) count += 1;
    return count;
  };
  return {
    /** Posts allowed now. */
    free(now: number): number {
      prune(now);
      if (now < closedUntil) return 0;
      if (posts.length > 0 && now < posts[posts.length - 1] + spacing) return 0;
      const minute = app.perMinute - posts.length;
      const second = app.perSecond === undefined ? minute : app.perSecond - inLastSecond(now);
      return Math.max(0, Math.min(minute, second));
    },
    /** When a post is allowed again (now, when one is). */
    nextAt(now: number): number {
      prune(now);
      let at = Math.max(now, closedUntil);
      if (posts.length > 0) at = Math.max(at, posts[posts.length - 1] + spacing);
      if (posts.length >= app.perMinute) at = Math.max(at, posts[posts.length - app.perMinute] + MINUTE_MS);
      if (app.perSecond !== undefined && inLastSecond(now) >= app.perSecond) at = Math.max(at, posts[posts.length - app.perSecond] + SECOND_MS);
      return at;
    },
    posted(now: number): void {
      posts.push(now);
    },
    /**
     * A post sent at `sent` was answered at `answered`: the app counted it
     * somewhere between, so it counts from the later time. Counted from the
     * send, a post that reached the app late left the next one inside the
     * app's window by that much, and the app refused it.
     */
    answered(sent: number, answered: number): void {
      const i = posts.lastIndexOf(sent);
      if (i === -1 || answered <= sent) return;
      posts[i] = answered;
      posts.sort((a, b) => a - b);
    },
    /** The app answered that the robot is over its limit: no post before `until`. */
    close(until: number): void {
      closedUntil = Math.max(closedUntil, until);
    },
  };
}

export type Pace = ReturnType<typeof createPace>;
