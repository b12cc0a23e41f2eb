// A runner's output keeps its colour codes in the log files (a terminal shows them); the
// dashboard draws the common ones (SGR: reset, bold, the 8 + 8 foreground colours) and drops
// every other escape sequence, so none reaches the page raw.

export interface Part {
  text: string;
  cls: string;
}

const ESC = /\x1b\[([0-9;]*)([A-Za-z])/g;
const NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

export function ansiSpans(line: string): Part[] {
  const out: Part[] = [];
  let fg = "";
  let bold = false;
  let at = 0;
  const cls = () => [fg && `ansi-${fg}`, bold && "ansi-bold"].filter(Boolean).join(" ");
  for (const m of line.matchAll(ESC)) {
    if (m.index! > at) out.push({ text: line.slice(at, m.index), cls: cls() });
    at = m.index! + m[0].length;
    if (m[2] !== "m") continue;
    for (const code of (m[1] || "0").split(";").map(Number)) {
      if (code === 0) [fg, bold] = ["", false];
      else if (code === 1) bold = true;
      else if (code === 22) bold = false;
      else if (code === 39) fg = "";
      else if (code >= 30 && code <= 37) fg = NAMES[code - 30];
      else if (code >= 90 && code <= 97) fg = NAMES[code - 90];
    }
  }
  if (at < line.length) out.push({ text: line.slice(at), cls: cls() });
  // Other control characters (a stray ESC, a carriage return) are not shown either.
  return out.map((p) => ({ ...p, text: p.text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "") }));
}
