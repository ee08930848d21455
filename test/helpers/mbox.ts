// mboxrd files for test fixtures, written from captured raw mails (src/smtp/mbox.ts reads them back, as `patchbay import` does).

/** "Fri Nov 20 10:00:00 2026": the asctime date of an mbox "From " line, in UTC. */
function asctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/**
 * mboxrd: each message starts with "From <sender> <asctime>", any body line matching /^>*From / gets one more ">",
 * and a blank line closes each message. Newlines are LF, as a local delivery agent writes them.
 */
export function formatMbox(mails: { sender: string; raw: Buffer }[]): Buffer {
  const parts: string[] = [];
  for (const m of mails) {
    // latin1 keeps every byte as one char, so 8bit UTF-8 bodies pass through unchanged.
    let text = m.raw.toString('latin1').replace(/\r\n/g, '\n');
    if (!text.endsWith('\n')) text += '\n';
    const date = /^Date:[ \t]*(.+)$/im.exec(text.slice(0, text.indexOf('\n\n') + 1))?.[1];
    const when = date && !Number.isNaN(Date.parse(date)) ? new Date(Date.parse(date)) : new Date(0);
    parts.push(`From ${m.sender || 'MAILER-DAEMON'} ${asctime(when)}\n`);
    parts.push(text.replace(/^(>*From )/gm, '>$1'));
    parts.push('\n');
  }
  return Buffer.from(parts.join(''), 'latin1');
}
